import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { simulate, type PlacementProbe } from "./simulation.js";
import { PLACEMENT_GRACE_MS } from "./sim-placement.js";

const CRASH_AT_MS = 10_000;
const DOWN_MS = 25_000;
/** Writes acknowledged this long before a probe have had time to reach every replica (no faults). */
const SPREAD_MS = 3_000;

const sorted = (hubs: readonly string[]) => [...hubs].sort();

describe("dst: vault placement over three hubs, R = 2", () => {
  it("moves the vault to the third hub when a hosting hub dies while edits flow, and back after the grace", async () => {
    const takenOverAt = CRASH_AT_MS + 23_000;
    const rejoinedAt = CRASH_AT_MS + DOWN_MS;
    const result = await simulate({
      seed: 1,
      faults: "none",
      nodes: 5,
      hubs: 3,
      replicas: 2,
      ticks: 80,
      steps: 40,
      script: [
        { atMs: CRASH_AT_MS - 1_000, probe: "before" },
        { atMs: CRASH_AT_MS, crashRank: 0, downMs: DOWN_MS },
        { atMs: takenOverAt, probe: "taken over" },
        { atMs: rejoinedAt + 5_000, probe: "rejoined" },
        { atMs: rejoinedAt + PLACEMENT_GRACE_MS + 5_000, probe: "after grace" },
      ],
    });
    assert.deepEqual(result.violations, []);
    const probe = (label: string) => result.probes.find((p) => p.label === label) as PlacementProbe;
    const [first, second, third] = probe("before").ranked;
    assert.deepEqual(probe("before").loaded, sorted([first, second]), "the vault starts on its two top-ranked hubs");

    const takenOver = probe("taken over");
    assert.deepEqual(takenOver.loaded, sorted([second, third]), `${first} died: ${third} takes the vault over`);
    assert.ok(takenOver.acked > probe("before").acked, "edits were acknowledged while the placement moved");
    const settled = (p: PlacementProbe) => p.missing.filter((m) => m.ackedAtMs <= p.atMs - SPREAD_MS);
    assert.deepEqual(settled(takenOver), [], `${third}'s replica holds every write acknowledged before the probe`);

    assert.deepEqual(
      probe("rejoined").loaded,
      sorted([first, second, third]),
      `${third} keeps its replica in its grace`,
    );
    assert.deepEqual(probe("after grace").loaded, sorted([first, second]), "back to exactly two replicas");
    assert.deepEqual(settled(probe("after grace")), []);
    assert.ok(result.stats.stops >= 1, JSON.stringify(result.stats));
  });

  it("keeps every invariant across drawn seeds with R < hubs, hub crashes and route cuts (3 hubs, R = 2)", async () => {
    const failures: string[] = [];
    let moved = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const result = await simulate({ seed, faults: seed % 2 ? "hostile" : "adversarial", hubs: 3, replicas: 2 });
      for (const v of result.violations) failures.push(`seed ${seed}: ${v}`);
      moved += result.stats.leaves;
    }
    assert.deepEqual(failures, []);
    assert.ok(moved > 0, "placement moved in at least one run");
  });
});
