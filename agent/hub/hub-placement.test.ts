import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HubPlacement } from "./hub-placement.js";
import { placeVault } from "./placement.js";
import { waitFor } from "../../test/helpers/wait.js";

const quiet = { info: () => {}, warn: () => {}, debug: () => {}, error: () => {} };
const hubIds = ["hub-a", "hub-b", "hub-c"];
const vaults = Array.from({ length: 30 }, (_, i) => `vault-${i}`);

function rig(self: string, options: { handoverMs?: number; pinned?: string[] } = {}) {
  let live = [...hubIds];
  const hosted = new Set<string>();
  const released: string[] = [];
  const placement = new HubPlacement({
    selfId: self,
    replicas: 2,
    vaultIds: () => vaults,
    liveHubs: () => live,
    pinned: (id) => options.pinned?.includes(id) ?? false,
    hosted: () => hosted,
    host: (id) => hosted.add(id),
    release: async (id) => {
      hosted.delete(id);
      released.push(id);
    },
    handoverMs: options.handoverMs ?? 10,
    log: quiet,
  });
  return { placement, hosted, released, setLive: (ids: string[]) => (live = ids) };
}

describe("a hub's placement of replicas", () => {
  it("hosts nothing before it starts (a hub that has not caught up with the cluster decides nothing)", () => {
    const { placement, hosted } = rig("hub-a");
    placement.update();
    assert.equal(hosted.size, 0);
  });

  it("hosts exactly the vaults placed on it", () => {
    const { placement, hosted } = rig("hub-a");
    placement.start();
    const expected = vaults.filter((v) => placeVault(v, hubIds, 2).includes("hub-a"));
    assert.deepEqual([...hosted].sort(), expected.sort());
    placement.stop();
  });

  it("takes over the vaults of a hub that went silent at once, and releases them after the handover when it is back", async () => {
    const { placement, hosted, released, setLive } = rig("hub-a");
    placement.start();
    setLive(["hub-a", "hub-b"]);
    placement.update();
    assert.equal(hosted.size, vaults.length, "with two hubs live and R=2, every vault is here");
    setLive(hubIds);
    placement.update();
    const expected = vaults.filter((v) => placeVault(v, hubIds, 2).includes("hub-a"));
    await waitFor("the handed-over replicas released", () => hosted.size === expected.length, 10_000);
    assert.deepEqual([...hosted].sort(), expected.sort());
    assert.equal(released.length, vaults.length - expected.length);
    placement.stop();
  });

  it("keeps a replica whose hub flaps back before the handover ends", async () => {
    const { placement, hosted, released, setLive } = rig("hub-a", { handoverMs: 60_000 });
    placement.start();
    setLive(["hub-a", "hub-b"]);
    placement.update();
    setLive(hubIds);
    placement.update(); // releases scheduled
    setLive(["hub-a", "hub-b"]);
    placement.update(); // cancelled
    placement.stop();
    assert.equal(hosted.size, vaults.length);
    assert.deepEqual(released, []);
  });

  it("always hosts a vault folder of the hub itself", () => {
    const notHere = vaults.find((v) => !placeVault(v, hubIds, 2).includes("hub-a"))!;
    const { placement, hosted } = rig("hub-a", { pinned: [notHere] });
    placement.start();
    assert.ok(hosted.has(notHere));
    placement.stop();
  });
});
