/**
 * Issue 21 item 8: a flood of unauthenticated sockets must not lock members out. Hand-written raw
 * sockets hold a real hub's bridge under siege — 300 idle WebSocket upgrades from one address,
 * idle TCP connections that never start TLS from another, and upgrades from 40 more addresses,
 * each re-opened as soon as the bridge drops it — while a member connects from its own address
 * and syncs a file to a leaf's disk.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readText } from "../helpers/cli.js";
import { pidAlive } from "../helpers/agents.js";
import { startHubBridgeRig, type HubBridgeRig } from "./bridge-hub-rig.js";
import { openRaw, upgradeRequest, type RawTarget } from "./raw-websocket.js";
import { waitFor } from "../helpers/wait.js";

const ONE_ADDRESS_SOCKETS = 300;
const IDLE_TCP_SOCKETS = 50;
const SPREAD_ADDRESSES = 40;
const SPREAD_SOCKETS_PER_ADDRESS = 8;
/** How soon a dropped flood socket comes back: as a persistent attacker would, without melting a small test machine. */
const REOPEN_DELAY_MS = 1_000;

interface Flood {
  /** Sockets open right now. */
  open(): number;
  opened(): number;
  stop(): void;
}

/** Keeps `count` idle sockets from `localAddress` open, re-opening each one the bridge drops. */
function hold(target: RawTarget, count: number, firstBytes: (i: number) => string | undefined): Flood {
  let running = true;
  let open = 0;
  let opened = 0;
  const sockets = new Set<{ destroy(): void }>();
  const one = async (i: number): Promise<void> => {
    while (running) {
      try {
        const socket = await openRaw(target);
        if (!running) return void socket.destroy();
        sockets.add(socket);
        open++;
        opened++;
        socket.on("error", () => {});
        socket.on("data", () => {}); // read and ignore: an idle peer that never answers the hello
        const bytes = firstBytes(i);
        if (bytes) socket.write(bytes);
        await new Promise<void>((resolve) => socket.once("close", () => resolve()));
        sockets.delete(socket);
        open--;
      } catch {
        // refused or reset before it opened: try again
      }
      await new Promise((r) => setTimeout(r, REOPEN_DELAY_MS * (0.5 + Math.random())));
    }
  };
  for (let i = 0; i < count; i++) void one(i);
  return {
    open: () => open,
    opened: () => opened,
    stop: () => {
      running = false;
      for (const s of sockets) s.destroy();
    },
  };
}

describe("a flood of unauthenticated sockets does not lock members out", { timeout: 300_000 }, () => {
  let rig: HubBridgeRig;
  const floods: Flood[] = [];

  before(async () => {
    rig = await startHubBridgeRig("bridge-flood");
  });

  after(async () => {
    for (const f of floods) f.stop();
    await rig?.stop();
  });

  it("lets a member connect and sync a file while hundreds of idle sockets besiege the bridge", async () => {
    const target = (localAddress: string, tls = true): RawTarget => ({
      host: "127.0.0.1",
      port: rig.port,
      tls,
      localAddress,
    });
    const upgrade = () => upgradeRequest(`/v1/${rig.vaultId}`);
    floods.push(hold(target("127.0.0.2"), ONE_ADDRESS_SOCKETS, upgrade));
    floods.push(hold(target("127.0.0.3", false), IDLE_TCP_SOCKETS, () => undefined));
    for (let a = 1; a <= SPREAD_ADDRESSES; a++)
      floods.push(hold(target(`127.0.1.${a}`), SPREAD_SOCKETS_PER_ADDRESS, upgrade));
    const openNow = () => floods.reduce((n, f) => n + f.open(), 0);
    const openedEver = () => floods.reduce((n, f) => n + f.opened(), 0);
    await waitFor("the flood to reach the bridge", () => openedEver() >= 300, 60_000, rig.detail);

    const vault = await rig.connect(rig.member, { readyTimeoutMs: 60_000 });
    try {
      await vault.writeFile("during-the-flood.md", "members first\n");
      await waitFor(
        "the member's file on the leaf's disk",
        async () => (await readText(join(rig.folder, "during-the-flood.md"))) === "members first\n",
        60_000,
        rig.detail,
      );
      assert.ok(openedEver() >= 300, `the flood held (${openNow()} open now, ${openedEver()} opened)`);
    } finally {
      await vault.close();
    }
    assert.ok(rig.hub.exitCode === null && pidAlive(rig.hub.pid!), `the hub died under the flood:\n${rig.detail()}`);
  });
});
