import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeMessage,
  ANNOUNCE_HEADS_MAX,
  BLOB_WANT_MAX,
  BLOB_HEADER_BYTES,
  PUSHED_CHANGES_MAX,
} from "./messages.js";

const hash = (n: number) => n.toString(16).padStart(64, "0");

describe("wire messages: blob-want and blob", () => {
  it("round-trips a blob-want and a blob chunk", () => {
    const want = { type: "blob-want" as const, hashes: [hash(1), hash(2)] };
    assert.deepEqual(decodeMessage(encodeMessage(want)), want);
    const chunk = new Uint8Array([1, 2, 3, 4]);
    const decoded = decodeMessage(encodeMessage({ type: "blob", hash: hash(3), offset: 6, total: 10, chunk }));
    assert.deepEqual(decoded && { ...decoded }, { type: "blob", hash: hash(3), offset: 6, total: 10, chunk });
  });

  it("round-trips the one chunk of an empty blob", () => {
    const empty = { type: "blob" as const, hash: hash(4), offset: 0, total: 0, chunk: new Uint8Array() };
    assert.deepEqual(decodeMessage(encodeMessage(empty)), empty);
  });

  it("refuses to encode what it would refuse to decode", () => {
    assert.throws(() => encodeMessage({ type: "blob-want", hashes: [] }), RangeError);
    assert.throws(
      () => encodeMessage({ type: "blob-want", hashes: Array.from({ length: BLOB_WANT_MAX + 1 }, (_, i) => hash(i)) }),
      RangeError,
    );
    assert.throws(() => encodeMessage({ type: "blob-want", hashes: ["XYZ"] }), RangeError);
    assert.throws(
      () => encodeMessage({ type: "blob", hash: hash(1), offset: 8, total: 10, chunk: new Uint8Array(3) }),
      RangeError,
    );
  });

  it("drops malformed blob frames: wrong version, truncated, bad counts, chunks outside their blob", () => {
    const want = encodeMessage({ type: "blob-want", hashes: [hash(1)] });
    const bad: Uint8Array[] = [
      Uint8Array.of(2, ...want.subarray(1)), // version 2
      want.subarray(0, want.length - 1), // truncated hash
      Uint8Array.of(...want, 0), // trailing byte
      Uint8Array.of(1, 3, 0, 0), // zero hashes
      Uint8Array.of(1, 3, 0xff, 0xff, ...new Uint8Array(32)), // count says 65535
      Uint8Array.of(1, 3), // no count
      Uint8Array.of(1, 9), // unknown type
    ];
    const blob = encodeMessage({ type: "blob", hash: hash(1), offset: 0, total: 4, chunk: new Uint8Array(4) });
    const past = blob.slice();
    new DataView(past.buffer).setUint32(2 + 32, 1); // offset 1 + 4 bytes > total 4
    const noData = blob.subarray(0, BLOB_HEADER_BYTES); // a non-empty blob's chunk without bytes
    bad.push(past, noData, blob.subarray(0, 20));
    for (const frame of bad)
      assert.equal(decodeMessage(frame), undefined, `accepted ${Buffer.from(frame.subarray(0, 12)).toString("hex")}`);
  });
});

describe("wire messages: snapshot", () => {
  it("round-trips a snapshot and drops an empty one", () => {
    const data = new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 9, 9]);
    const decoded = decodeMessage(encodeMessage({ type: "snapshot", data }));
    assert.deepEqual(decoded && { ...decoded, data: new Uint8Array(decoded.type === "snapshot" ? decoded.data : []) }, {
      type: "snapshot",
      data,
    });
    assert.equal(decodeMessage(Uint8Array.of(1, 5)), undefined);
  });
});

describe("wire messages: changes", () => {
  const changes = [Uint8Array.of(0x85, 1, 2), Uint8Array.of(9)];
  const plain = (m: ReturnType<typeof decodeMessage>) =>
    m?.type === "changes" ? { ...m, changes: m.changes.map((c) => [...c]) } : m;

  it("round-trips the sender's heads, whether they are all of them, and each change's bytes", () => {
    const message = { type: "changes" as const, heads: [hash(1), hash(2)], allHeads: true, changes };
    assert.deepEqual(plain(decodeMessage(encodeMessage(message))), { ...message, changes: [[0x85, 1, 2], [9]] });
    const partial = { ...message, heads: [], allHeads: false };
    assert.deepEqual(plain(decodeMessage(encodeMessage(partial))), { ...partial, changes: [[0x85, 1, 2], [9]] });
  });

  it("refuses to encode no changes, too many, or too many heads", () => {
    assert.throws(() => encodeMessage({ type: "changes", heads: [], allHeads: true, changes: [] }), RangeError);
    const many = Array.from({ length: PUSHED_CHANGES_MAX + 1 }, () => Uint8Array.of(1));
    assert.throws(() => encodeMessage({ type: "changes", heads: [], allHeads: true, changes: many }), RangeError);
    const heads = Array.from({ length: ANNOUNCE_HEADS_MAX + 1 }, (_, i) => hash(i));
    assert.throws(() => encodeMessage({ type: "changes", heads, allHeads: true, changes }), RangeError);
  });

  it("drops changes frames whose counts or lengths do not add up", () => {
    const good = encodeMessage({ type: "changes", heads: [hash(1)], allHeads: true, changes });
    const lengthPast = good.slice();
    new DataView(lengthPast.buffer).setUint32(5 + 32 + 2, 1000); // first change says 1000 bytes
    const zeroLength = good.slice();
    new DataView(zeroLength.buffer).setUint32(5 + 32 + 2, 0);
    const countPast = good.slice();
    new DataView(countPast.buffer).setUint16(5 + 32, 3); // three changes, two present
    const bad = [
      good.subarray(0, good.length - 1), // truncated last change
      Uint8Array.of(...good, 0), // trailing byte
      lengthPast,
      zeroLength,
      countPast,
      Uint8Array.of(1, 6, 1, 0, 0, 0, 0), // no changes
      Uint8Array.of(1, 6, 1, 0xff, 0xff), // 65535 heads
      Uint8Array.of(1, 6, 1), // no head count
    ];
    for (const frame of bad)
      assert.equal(decodeMessage(frame), undefined, `accepted ${Buffer.from(frame.subarray(0, 12)).toString("hex")}`);
  });
});
