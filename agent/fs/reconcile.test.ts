import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decide } from "./reconcile.js";

describe("decide", () => {
  it("records a file when disk and doc agree for the first time", () =>
    assert.deepEqual(decide("a", "a", undefined), { kind: "record" }));
  it("does nothing when disk, doc and index agree", () => assert.deepEqual(decide("a", "a", "a"), { kind: "none" }));
  it("writes a remote change when the disk still holds what the vault last saw", () =>
    assert.deepEqual(decide("old", "new", "old"), { kind: "write" }));
  it("ingests a local edit when the doc still holds the base", () =>
    assert.deepEqual(decide("mine", "old", "old"), { kind: "ingest", merge: false }));
  it("merges, never overwrites, when disk and doc both moved on", () =>
    assert.deepEqual(decide("mine", "theirs", "old"), { kind: "ingest", merge: true }));
  it("merges a differing file found with no shared history", () =>
    assert.deepEqual(decide("mine", "theirs", undefined), { kind: "ingest", merge: true }));
  it("propagates a local delete of an unchanged file", () =>
    assert.deepEqual(decide(undefined, "a", "a"), { kind: "delete-in-doc" }));
  it("restores a file deleted locally but edited remotely (the edit wins)", () =>
    assert.deepEqual(decide(undefined, "new", "old"), { kind: "write" }));
  it("writes a new remote file", () => assert.deepEqual(decide(undefined, "new", undefined), { kind: "write" }));
  it("deletes on disk what was deleted remotely and not touched here", () =>
    assert.deepEqual(decide("a", undefined, "a"), { kind: "delete-on-disk" }));
  it("keeps a local edit of a file deleted remotely (the edit wins)", () =>
    assert.deepEqual(decide("edited", undefined, "a"), { kind: "ingest", merge: false }));
  it("ingests a new local file", () =>
    assert.deepEqual(decide("new", undefined, undefined), { kind: "ingest", merge: false }));
  it("forgets a path gone from both", () => assert.deepEqual(decide(undefined, undefined, "a"), { kind: "forget" }));
});
