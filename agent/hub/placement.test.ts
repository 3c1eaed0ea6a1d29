import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { placeVault, rankHubs } from "./placement.js";

const hubs = ["hub-a", "hub-b", "hub-c", "hub-d", "hub-e"];
const vaults = Array.from({ length: 2000 }, (_, i) => `vault-${i}`);

describe("vault placement by rendezvous hashing", () => {
  it("gives every hub the same answer whatever order it lists the live hubs in", () => {
    for (const vault of vaults.slice(0, 200))
      assert.deepEqual(placeVault(vault, hubs, 3), placeVault(vault, [...hubs].reverse(), 3));
  });

  it("hosts a vault on exactly R distinct hubs, or on all of them when fewer are live", () => {
    for (const vault of vaults.slice(0, 200)) {
      assert.equal(new Set(placeVault(vault, hubs, 3)).size, 3);
      assert.deepEqual(new Set(placeVault(vault, hubs.slice(0, 2), 3)), new Set(hubs.slice(0, 2)));
    }
  });

  it("moves only the vaults of a hub that leaves, each to the next hub in its rank", () => {
    const gone = "hub-c";
    const live = hubs.filter((h) => h !== gone);
    for (const vault of vaults) {
      const before = placeVault(vault, hubs, 2);
      const after = placeVault(vault, live, 2);
      if (!before.includes(gone)) assert.deepEqual(after, before, vault);
      else {
        const rank = rankHubs(vault, hubs).filter((h) => h !== gone);
        assert.deepEqual(after, rank.slice(0, 2), vault);
      }
    }
  });

  it("spreads vaults evenly: each of 5 hubs hosts 2000×3/5 placements within 10%", () => {
    const load = new Map(hubs.map((h) => [h, 0]));
    for (const vault of vaults) for (const hub of placeVault(vault, hubs, 3)) load.set(hub, load.get(hub)! + 1);
    for (const [hub, count] of load) assert.ok(Math.abs(count - 1200) < 120, `${hub}: ${count}`);
  });
});
