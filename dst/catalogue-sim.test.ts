import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { simulate } from "./simulation.js";

// Seed 0x1e (2 hubs, hostile): hub2 applies a removal of n2 while hub is down; hub restarts with an
// entry that lacks it. Settled first, it adopts hub2's entry before pushing anything.
const run = { seed: 0x1e, faults: "hostile", nodes: 3, hubs: 2, replicas: 1, ticks: 56, steps: 25 } as const;

describe("dst cluster catalogue", () => {
  it("a restarted hub that pushed before catching up would re-admit a removed device (seed 0x1e, settling off)", async () => {
    const result = await simulate({ ...run, noSettle: true });
    assert.ok(
      result.violations.some((v) => v.includes("stale re-admission") && v.includes("n2")),
      result.violations.join("\n"),
    );
    assert.ok(result.stats.staleReadmissions > 0);
  });

  it("a restarted hub catches up with the cluster before pushing: no stale re-admission (seed 0x1e)", async () => {
    const result = await simulate(run);
    assert.deepEqual(result.violations, []);
    assert.equal(result.stats.staleReadmissions, 0);
    assert.ok(result.stats.adopted > 0, JSON.stringify(result.stats));
  });
});
