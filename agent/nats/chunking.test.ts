import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { toFrames, Reassembler, CHUNK_HEADER_BYTES, WHOLE_HEADER_BYTES } from "./chunking.js";

const message = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * seed + (i >> 8)) & 0xff);

/** Small deterministic PRNG (xorshift32) so shuffles and fuzzing replay exactly. */
function prng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

function shuffled<T>(items: T[], rand: (n: number) => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A chunk frame with arbitrary header fields. */
function chunk(id: number, index: number, count: number, total: number, body: Uint8Array | number): Uint8Array {
  const data = typeof body === "number" ? new Uint8Array(body) : body;
  const frame = new Uint8Array(CHUNK_HEADER_BYTES + data.length);
  const view = new DataView(frame.buffer);
  frame[0] = 1;
  frame[1] = 1;
  view.setUint32(2, id);
  view.setUint16(6, index);
  view.setUint16(8, count);
  view.setUint32(10, total);
  frame.set(data, CHUNK_HEADER_BYTES);
  return frame;
}

function pushAll(r: Reassembler, sender: string, frames: Uint8Array[], nowMs = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of frames) {
    const whole = r.push(sender, f, nowMs);
    if (whole) out.push(whole);
  }
  return out;
}

describe("toFrames", () => {
  it("sends a message that fits as one frame, and an empty message too", () => {
    assert.equal(toFrames(message(100), 1000, 1).length, 1);
    assert.equal(toFrames(message(1000 - WHOLE_HEADER_BYTES), 1000, 1).length, 1);
    assert.deepEqual(new Reassembler().push("p", toFrames(new Uint8Array(0), 1000, 1)[0], 0), new Uint8Array(0));
  });

  it("splits anything bigger into frames within the limit, equal but for the last", () => {
    const frames = toFrames(message(1000 - WHOLE_HEADER_BYTES + 1), 1000, 1);
    assert.equal(frames.length, 2);
    const big = toFrames(message(10_000), 1000, 2);
    assert.equal(big.length, Math.ceil(10_000 / (1000 - CHUNK_HEADER_BYTES)));
    assert.ok(big.every((f) => f.length <= 1000));
    assert.ok(big.slice(0, -1).every((f) => f.length === 1000));
  });

  it("refuses a frame size with no room for data, and a message needing more than 65535 chunks", () => {
    assert.throws(() => toFrames(message(10), CHUNK_HEADER_BYTES, 1), RangeError);
    assert.throws(() => toFrames(message(70_000), CHUNK_HEADER_BYTES + 1, 1), RangeError);
  });

  it("wraps the message id into 32 bits", () => {
    const [frame] = toFrames(message(3000), 1000, 2 ** 32 + 5);
    assert.equal(new DataView(frame.buffer).getUint32(2), 5);
  });
});

describe("Reassembler", () => {
  it("reassembles messages of boundary sizes from frames in any order", () => {
    const rand = prng(42);
    const frameBytesMax = 1000;
    const body = frameBytesMax - CHUNK_HEADER_BYTES;
    for (const size of [0, 1, frameBytesMax - 2, frameBytesMax - 1, body * 2, body * 2 + 1, body * 7 - 1, 50_000]) {
      const r = new Reassembler();
      const original = message(size, size + 3);
      const out = pushAll(r, "p", shuffled(toFrames(original, frameBytesMax, size), rand));
      assert.equal(out.length, 1, `size ${size}`);
      assert.deepEqual(out[0], original, `size ${size}`);
      assert.equal(r.bufferedBytes, 0);
      assert.equal(r.partialMessages, 0);
    }
  });

  it("keeps interleaved messages from one sender and from several senders apart", () => {
    const rand = prng(9);
    const r = new Reassembler();
    const a1 = message(5000, 3);
    const a2 = message(4000, 5);
    const b1 = message(5000, 11);
    const frames = shuffled(
      [
        ...toFrames(a1, 1000, 1).map((f) => ["a", f] as const),
        ...toFrames(a2, 1000, 2).map((f) => ["a", f] as const),
        ...toFrames(b1, 1000, 1).map((f) => ["b", f] as const), // same id, other sender
      ],
      rand,
    );
    const got: [string, Uint8Array][] = [];
    for (const [sender, f] of frames) {
      const whole = r.push(sender, f, 0);
      if (whole) got.push([sender, whole]);
    }
    const key = ([s, m]: [string, Uint8Array]) => `${s}:${m.length}:${m[1]}`;
    assert.deepEqual(
      got.map(key).sort(),
      [
        ["a", a1],
        ["a", a2],
        ["b", b1],
      ]
        .map((x) => key(x as [string, Uint8Array]))
        .sort(),
    );
  });

  it("ignores a duplicated chunk and counts it", () => {
    const frames = toFrames(message(3000), 1000, 1);
    const r = new Reassembler();
    assert.equal(r.push("p", frames[0], 0), undefined);
    assert.equal(r.push("p", frames[0], 0), undefined);
    assert.deepEqual(pushAll(r, "p", frames.slice(1)), [message(3000)]);
    assert.equal(r.drops.duplicate, 1);
  });

  it("drops hostile frames without throwing, each for its reason", () => {
    const r = new Reassembler({ messageBytesMax: 5000, chunksMax: 100 });
    const cases: [Uint8Array, keyof Reassembler["drops"]][] = [
      [new Uint8Array([]), "malformed"],
      [new Uint8Array([1]), "malformed"],
      [new Uint8Array([2, 0, 1]), "malformed"], // unknown version
      [new Uint8Array([1, 9, 1]), "malformed"], // unknown kind
      [new Uint8Array([1, 1, 0, 0]), "malformed"], // truncated chunk header
      [chunk(1, 0, 0, 10, 5), "malformed"], // count 0
      [chunk(1, 0, 1, 10, 5), "malformed"], // a single chunk is a whole frame's job
      [chunk(1, 5, 5, 10, 5), "malformed"], // index beyond count
      [chunk(1, 0, 2, 10, 0), "malformed"], // empty body
      [chunk(1, 0, 2, 4, 5), "malformed"], // body larger than the whole message
      [chunk(1, 0, 2, 6000, 10), "oversized"], // total beyond messageBytesMax
      [chunk(1, 0, 101, 1000, 10), "oversized"], // more chunks than allowed
      [Uint8Array.from([1, 0, ...new Uint8Array(5001)]), "oversized"], // whole frame too big
    ];
    for (const [frame, reason] of cases) {
      const before = r.drops[reason];
      assert.equal(r.push("p", frame, 0), undefined, reason);
      assert.equal(r.drops[reason], before + 1, `${reason}: ${[...frame.subarray(0, 14)]}`);
    }
    assert.equal(r.partialMessages, 0);
    assert.equal(r.bufferedBytes, 0);
  });

  it("drops chunks that contradict their message, and a message whose chunks do not add up", () => {
    const r = new Reassembler();
    assert.equal(r.push("p", chunk(7, 0, 3, 30, 10), 0), undefined);
    assert.equal(r.push("p", chunk(7, 1, 4, 30, 10), 0), undefined, "other count, same id");
    assert.equal(r.push("p", chunk(7, 1, 3, 31, 10), 0), undefined, "other total, same id");
    assert.equal(r.drops.inconsistent, 2);
    assert.equal(r.push("p", chunk(7, 1, 3, 30, 25), 0), undefined, "more bytes than the total");
    assert.equal(r.partialMessages, 0, "the overflowing message is dropped");
    assert.equal(r.push("p", chunk(8, 0, 2, 30, 10), 0), undefined);
    assert.equal(r.push("p", chunk(8, 1, 2, 30, 10), 0), undefined, "all chunks in, 10 bytes short");
    assert.equal(r.drops.inconsistent, 4);
    assert.equal(r.bufferedBytes, 0);
  });

  it("survives random and mutated frames without throwing or outgrowing its limits", () => {
    const rand = prng(2024);
    const limits = { messageBytesMax: 20_000, bufferedBytesMax: 30_000, sendersMax: 4, inFlightPerSenderMax: 2 };
    const r = new Reassembler(limits);
    const valid = toFrames(message(15_000), 1000, 77);
    for (let i = 0; i < 5000; i++) {
      const sender = `s${rand(6)}`;
      let frame: Uint8Array;
      if (rand(2) === 0) {
        frame = Uint8Array.from({ length: rand(64) }, () => rand(256));
        if (frame.length > 1 && rand(2) === 0) frame[0] = 1;
      } else {
        frame = valid[rand(valid.length)].slice();
        const flips = rand(4);
        for (let f = 0; f < flips; f++) frame[rand(CHUNK_HEADER_BYTES)] = rand(256);
      }
      r.push(sender, frame, i);
      assert.ok(r.bufferedBytes <= limits.bufferedBytesMax);
      assert.ok(r.partialMessages <= limits.sendersMax * limits.inFlightPerSenderMax);
    }
    assert.ok(r.dropped > 0);
  });

  it("forgets partial messages after their time to live, also those of a sender gone quiet", () => {
    const frames = toFrames(message(3000), 1000, 1);
    const r = new Reassembler({ partialTtlMs: 100 });
    r.push("quiet", frames[0], 0);
    r.push("p", frames[0], 0);
    assert.deepEqual(pushAll(r, "p", frames.slice(1), 1000), []);
    assert.equal(r.drops.expired, 2);
    assert.equal(r.partialMessages, 1, "only p's late chunks, as a new partial message");
  });

  it("bounds partial messages per sender, dropping the oldest", () => {
    const r = new Reassembler({ inFlightPerSenderMax: 2 });
    const messages = [1, 2, 3].map((id) => toFrames(message(3000, id), 1000, id));
    for (const [t, frames] of messages.entries()) r.push("p", frames[0], t);
    assert.equal(r.partialMessages, 2);
    assert.equal(r.drops.evicted, 1);
    assert.deepEqual(pushAll(r, "p", messages[0].slice(1), 10), [], "the oldest was dropped");
    assert.deepEqual(pushAll(r, "p", messages[2].slice(1), 10), [message(3000, 3)]);
  });

  it("bounds the number of senders with partial messages", () => {
    const r = new Reassembler({ sendersMax: 3 });
    const frames = toFrames(message(3000), 1000, 1);
    for (let s = 0; s < 10; s++) r.push(`s${s}`, frames[0], s);
    assert.equal(r.partialMessages, 3);
    assert.deepEqual(pushAll(r, "s9", frames.slice(1), 20), [message(3000)]);
  });

  it("bounds buffered bytes over all senders, making room by dropping the oldest message", () => {
    const r = new Reassembler({ bufferedBytesMax: 2500 });
    const one = toFrames(message(3000, 1), 1000, 1);
    const two = toFrames(message(3000, 2), 1000, 2);
    r.push("a", one[0], 0);
    r.push("a", one[1], 0);
    r.push("b", two[0], 1);
    r.push("b", two[1], 1); // needs room: a's message goes
    assert.equal(r.drops.evicted, 1);
    assert.ok(r.bufferedBytes <= 2500);
    assert.deepEqual(pushAll(r, "b", two.slice(2), 2), [], "3000 bytes can never fit in 2500");
    assert.equal(r.drops.evicted, 2);
    assert.ok(r.bufferedBytes < 1000, "only the stray last chunk is held, until it expires");
  });

  it("forgets one sender on request", () => {
    const r = new Reassembler();
    const frames = toFrames(message(3000), 1000, 1);
    r.push("p", frames[0], 0);
    r.forget("p");
    assert.equal(r.partialMessages, 0);
    assert.equal(r.bufferedBytes, 0);
  });

  it("refuses limits that are not positive integers", () => {
    assert.throws(() => new Reassembler({ sendersMax: 0 }), RangeError);
  });
});
