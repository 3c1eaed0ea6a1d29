// The planted-bug hunt and its minimisation, in a file of its own: the test runner gives each file its
// own time budget, and the seed sweep in dst.test.ts already takes most of one on a slow machine.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { minimise, testCase } from "./minimise.js";
import { simulate } from "./simulation.js";

describe("dst's planted bug", () => {
  it("catches the planted bug (no resync on reconnect or differing announce) within 200 seeds", async () => {
    let caughtAt: number | undefined;
    for (let seed = 1; seed <= 200 && caughtAt === undefined; seed++) {
      const result = await simulate({ seed, faults: "adversarial", plantedBug: true });
      if (result.violations.length > 0) caughtAt = seed;
    }
    assert.ok(caughtAt !== undefined, "no seed found the planted bug");
    // The failure shrinks to fewer steps that still fail, printed as a test case.
    const shrunk = await minimise({ seed: caughtAt, faults: "adversarial", plantedBug: true }, undefined, 16);
    assert.ok(shrunk.result.violations.length > 0);
    assert.ok(
      shrunk.keep.length < shrunk.result.options.steps,
      `kept ${shrunk.keep.length} of ${shrunk.result.options.steps} steps`,
    );
    assert.match(
      testCase(shrunk),
      /simulate\(\{ seed: 0x[0-9a-f]+, faults: "adversarial", .*skip: new Set\(\[.*plantedBug: true \}\)/,
    );
  });
});
