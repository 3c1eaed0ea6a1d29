import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseSoakArgs, roundsFor, SoakUsageError } from "./args.js";

describe("soak arguments", () => {
  it("reads minutes, seed, report and round length", () => {
    const args = parseSoakArgs(
      ["--minutes", "3", "--seed", "42", "--report", "/tmp/r.json", "--round-seconds", "30"],
      7,
    );
    assert.deepEqual(args, { minutes: 3, seed: 42, report: "/tmp/r.json", roundSeconds: 30 });
    assert.equal(roundsFor(args), 6);
  });

  it("takes fractional minutes and runs at least one round", () => {
    const args = parseSoakArgs(["--minutes", "0.25"], 7);
    assert.equal(args.seed, 7);
    assert.equal(roundsFor(args), 1);
  });

  it("refuses a missing --minutes, bad numbers and unknown options with a one-line reason", () => {
    for (const [argv, reason] of [
      [[], /--minutes is required/],
      [["--minutes", "-1"], /--minutes must be a number/],
      [["--minutes", "x"], /--minutes must be a number/],
      [["--minutes", "1", "--seed", "1.5"], /--seed must be a whole number/],
      [["--minutes", "1", "--round-seconds", "5"], /at least 10/],
      [["--minutes"], /needs a value/],
      [["--minutes", "1", "--fast", "1"], /unknown option --fast/],
    ] as const) {
      assert.throws(
        () => parseSoakArgs(argv, 1),
        (e: unknown) =>
          e instanceof SoakUsageError && reason.test(e.message) && !e.message.slice(0, 200).includes("\n"),
      );
    }
  });
});
