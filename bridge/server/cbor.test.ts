import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Encoder, decode as cborXDecode } from "cbor-x";
import { CborError, decodeCbor, encodeCbor, type CborValue } from "./cbor.js";

// automerge-repo's own encoder settings (helpers/cbor.js).
const cborX = new Encoder({ tagUint8Array: false, useRecords: false });

/** Byte strings as plain Uint8Arrays (cbor-x decodes them as Buffers). */
const plain = (v: CborValue): CborValue => {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

const samples: CborValue[] = [
  {
    type: "join",
    senderId: "peer-abc",
    peerMetadata: { storageId: "s1", isEphemeral: false },
    supportedProtocolVersions: ["1"],
  },
  {
    type: "sync",
    senderId: "a",
    targetId: "b",
    documentId: "4NMNnkMhL8jXrdJ9jamS58PAVdXu",
    data: new Uint8Array(randomBytes(70_000)),
  },
  {
    type: "remote-heads-changed",
    newHeads: { s1: { heads: ["x", "y"], timestamp: 1_700_000_000_123 } },
    ratio: 0.25,
    neg: -5,
    big: 2 ** 40,
    undef: null,
  },
  [1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32, -24, -25, -1000, true, false, null, "é€𝄞", new Uint8Array()],
];

describe("bridge CBOR subset", () => {
  it("decodes what automerge-repo's cbor-x encoder writes, and cbor-x decodes what it writes", () => {
    for (const sample of samples) {
      assert.deepEqual(decodeCbor(cborX.encode(sample)), sample);
      const ours = encodeCbor(sample);
      const theirs = cborXDecode(ours) as CborValue;
      assert.deepEqual(plain(theirs), plain(sample));
    }
    assert.equal(decodeCbor(Uint8Array.from([0xf9, 0x3c, 0x00])), 1, "half floats");
  });

  it("refuses truncated, indefinite, too deep, trailing and non-text-keyed input with a CborError", () => {
    const whole = encodeCbor(samples[0]);
    for (let cut = 0; cut < whole.length; cut++) assert.throws(() => decodeCbor(whole.subarray(0, cut)), CborError);
    assert.throws(() => decodeCbor(Uint8Array.from([0x9f, 0xff])), /indefinite/);
    assert.throws(() => decodeCbor(Uint8Array.from([...Array(40).fill(0x81), 0x01])), /deeply/);
    assert.throws(() => decodeCbor(Uint8Array.from([0x01, 0x02])), /trailing/);
    assert.throws(() => decodeCbor(Uint8Array.from([0xa1, 0x01, 0x02])), /key is not text/);
    assert.throws(
      () => decodeCbor(Uint8Array.from([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
      /beyond 2\^53/,
    );
    assert.throws(() => decodeCbor(Uint8Array.from([0x9a, 0xff, 0xff, 0xff, 0xff])), /longer than its frame/);
  });

  it("never throws anything but a CborError on random bytes", () => {
    for (let i = 0; i < 20_000; i++) {
      try {
        decodeCbor(new Uint8Array(randomBytes(1 + (i % 40))));
      } catch (error) {
        assert.ok(error instanceof CborError, String(error));
      }
    }
  });
});
