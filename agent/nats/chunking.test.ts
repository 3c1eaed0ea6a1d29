import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { toFrames, Reassembler, CHUNK_HEADER_BYTES } from "./chunking.js";

const message = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);

describe("chunking", () => {
  it("sends a small message as one frame and reassembles it", () => {
    const frames = toFrames(message(100), 1000, 1);
    assert.equal(frames.length, 1);
    assert.deepEqual(new Reassembler().push("p", frames[0], 0), message(100));
  });

  it("splits a large message into frames within the limit and reassembles them in any order", () => {
    const big = message(10_000);
    const frames = toFrames(big, 1000, 7);
    assert.ok(frames.every((f) => f.length <= 1000));
    const r = new Reassembler();
    const shuffled = [...frames].reverse();
    let whole: Uint8Array | undefined;
    for (const f of shuffled) whole = r.push("p", f, 0) ?? whole;
    assert.deepEqual(whole, big);
  });

  it("ignores a duplicated chunk", () => {
    const frames = toFrames(message(3000), 1000, 1);
    const r = new Reassembler();
    r.push("p", frames[0], 0);
    assert.equal(r.push("p", frames[0], 0), undefined);
    let whole: Uint8Array | undefined;
    for (const f of frames.slice(1)) whole = r.push("p", f, 0);
    assert.deepEqual(whole, message(3000));
  });

  it("drops hostile frames without throwing", () => {
    const r = new Reassembler({ messageBytesMax: 5000 });
    const bad: Uint8Array[] = [new Uint8Array([]), new Uint8Array([2, 0]), new Uint8Array([1, 9, 1]), new Uint8Array([1, 1, 0, 0])];
    const header = new Uint8Array(CHUNK_HEADER_BYTES);
    header[0] = 1;
    header[1] = 1;
    new DataView(header.buffer).setUint16(6, 5); // index 5 of count 0
    bad.push(header);
    const oversized = toFrames(message(20_000), 1000, 3)[0]; // total beyond messageBytesMax
    bad.push(oversized);
    for (const frame of bad) assert.equal(r.push("p", frame, 0), undefined);
    assert.equal(r.dropped, bad.length);
  });

  it("forgets partial messages after their time to live", () => {
    const frames = toFrames(message(3000), 1000, 1);
    const r = new Reassembler({ partialTtlMs: 100 });
    r.push("p", frames[0], 0);
    for (const f of frames.slice(1)) assert.equal(r.push("p", f, 1000), undefined);
  });

  it("bounds partial messages per sender", () => {
    const r = new Reassembler({ inFlightPerSenderMax: 2 });
    for (let id = 1; id <= 5; id++) r.push("p", toFrames(message(3000), 1000, id)[0], 0);
    assert.ok(r.dropped >= 3);
  });
});
