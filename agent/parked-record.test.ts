import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseParkedRecord } from "./parked-record.js";

const head = "ab".repeat(32);

describe("an unloaded replica's parked record", () => {
  it("reads back what was written", () => {
    const record = { heads: [head], ready: true, savedBytes: 1234 };
    assert.deepEqual(parseParkedRecord(JSON.stringify(record)), record);
  });

  it("refuses anything not exactly its shape, so the replica loads its document instead", () => {
    for (const text of [
      "",
      "{",
      "null",
      JSON.stringify({ heads: ["not a hash"], ready: true, savedBytes: 1 }),
      JSON.stringify({ heads: [head], ready: "yes", savedBytes: 1 }),
      JSON.stringify({ heads: [head], ready: true, savedBytes: -1 }),
      JSON.stringify({ heads: [head], ready: true, savedBytes: 1.5 }),
      JSON.stringify({ heads: Array.from({ length: 257 }, () => head), ready: true, savedBytes: 1 }),
    ])
      assert.equal(parseParkedRecord(text), undefined, text.slice(0, 60));
  });
});
