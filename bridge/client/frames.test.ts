import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  CONTROL_BYTES_MAX,
  DATA_FRAME_BYTES_MAX,
  FrameError,
  decodeData,
  decodeHubHello,
  decodePeerAuth,
  decodePeerHello,
  decodeReady,
  encodeControl,
  encodeData,
  fromBase64,
  toBase64,
  type HubHello,
} from "./frames.js";

const hello: HubHello = {
  t: "hello",
  v: 1,
  vault: { id: "2f0c6a1e-8d4b-4c3a-9e1f-7a6b5c4d3e2f", name: "notes" },
  hubKey: toBase64(new Uint8Array(32).fill(1)),
  nonce: toBase64(new Uint8Array(32).fill(2)),
  cert: "ab".repeat(32),
  user: `U${"A".repeat(55)}`,
  account: null,
};

describe("bridge frames", () => {
  it("round-trips base64 like Buffer does and refuses non-canonical input", () => {
    for (let n = 0; n < 70; n++) {
      const bytes = new Uint8Array(randomBytes(n));
      const text = toBase64(bytes);
      assert.equal(text, Buffer.from(bytes).toString("base64"));
      assert.deepEqual(fromBase64(text), bytes);
    }
    for (const bad of ["A", "AB=C", "A===", "AB\n=", "QQ=x", "QR=="]) assert.equal(fromBase64(bad), undefined, bad);
  });

  it("round-trips every control frame and keeps only known fields", () => {
    assert.deepEqual(decodeHubHello(encodeControl(hello)), hello);
    assert.deepEqual(decodeHubHello(encodeControl({ ...hello, account: `A${"B".repeat(55)}`, cert: null })), {
      ...hello,
      account: `A${"B".repeat(55)}`,
      cert: null,
    });
    const peer = { t: "hello" as const, v: 1 as const, key: hello.hubKey, nonce: hello.nonce };
    assert.deepEqual(decodePeerHello(encodeControl(peer)), peer);
    assert.deepEqual(decodePeerAuth(JSON.stringify({ t: "auth", sig: toBase64(new Uint8Array(64)), jwt: "a.b.c" })), {
      t: "auth",
      sig: toBase64(new Uint8Array(64)),
      jwt: "a.b.c",
    });
    assert.deepEqual(decodeReady(JSON.stringify({ t: "error", code: 4003, message: "no" })), {
      t: "error",
      code: 4003,
      message: "no",
    });
    assert.throws(() => decodeHubHello(JSON.stringify({ ...hello, extra: 1 })), /unknown field "extra"/);
  });

  it("names the malformed field of a bad control frame", () => {
    const cases: [string, RegExp][] = [
      ["not json", /not JSON/],
      ["[1,2]", /not a JSON object/],
      [JSON.stringify({ ...hello, v: 2 }), /version 2/],
      [JSON.stringify({ ...hello, hubKey: toBase64(new Uint8Array(31)) }), /hubKey/],
      [JSON.stringify({ ...hello, vault: { id: "../../etc", name: "x" } }), /field id/],
      [JSON.stringify({ ...hello, vault: { id: hello.vault.id, name: "a\u0000b" } }), /field name/],
      [JSON.stringify({ ...hello, user: "Nope" }), /field user/],
      [JSON.stringify({ ...hello, cert: "xyz" }), /field cert/],
      [" ".repeat(CONTROL_BYTES_MAX + 1), /over/],
    ];
    for (const [text, pattern] of cases)
      assert.throws(
        () => decodeHubHello(text),
        (e: Error) => e instanceof FrameError && pattern.test(e.message),
        text.slice(0, 40),
      );
    assert.throws(
      () => decodePeerAuth(JSON.stringify({ t: "auth", sig: toBase64(new Uint8Array(64)), jwt: "not a jwt" })),
      /field jwt/,
    );
    assert.throws(() => decodeReady(JSON.stringify({ t: "error", code: 99, message: "x" })), /code/);
  });

  it("round-trips data frames, empty payloads included", () => {
    const payload = new Uint8Array([9, 8, 7]);
    assert.deepEqual(decodeData(encodeData({ op: "send", to: "peer-b", payload })), {
      op: "send",
      to: "peer-b",
      payload,
    });
    assert.deepEqual(decodeData(encodeData({ op: "broadcast", payload: new Uint8Array() })), {
      op: "broadcast",
      payload: new Uint8Array(),
    });
    const from = `U${"Q".repeat(55)}`;
    assert.deepEqual(decodeData(encodeData({ op: "deliver", from, payload })), { op: "deliver", from, payload });
  });

  it("refuses truncated, unknown, oversized and misaddressed data frames", () => {
    const bad: [Uint8Array, RegExp][] = [
      [new Uint8Array([]), /shorter/],
      [new Uint8Array([1]), /shorter/],
      [new Uint8Array([1, 10, 65]), /truncated/],
      [new Uint8Array([9, 0, 1]), /unknown data frame op 9/],
      [new Uint8Array([2, 1, 97, 1]), /broadcast frame names a peer/],
      [new Uint8Array([1, 3, 46, 46, 47, 1]), /invalid peer id/],
      [new Uint8Array([1, 0, 1]), /invalid peer id/],
    ];
    for (const [bytes, pattern] of bad)
      assert.throws(
        () => decodeData(bytes),
        (e: Error) => e instanceof FrameError && pattern.test(e.message),
        String([...bytes]),
      );
    assert.throws(() => encodeData({ op: "broadcast", payload: new Uint8Array(DATA_FRAME_BYTES_MAX) }), /over the/);
    assert.throws(() => encodeData({ op: "send", to: "a.b", payload: new Uint8Array(1) }), /invalid peer id/);
  });

  it("never throws anything but a FrameError on random input", () => {
    for (let i = 0; i < 3000; i++) {
      const bytes = new Uint8Array(randomBytes(i % 64));
      for (const run of [
        () => decodeData(bytes),
        () => decodeHubHello(Buffer.from(bytes).toString("latin1")),
        () => decodePeerAuth(Buffer.from(bytes).toString("utf8")),
      ]) {
        try {
          run();
        } catch (error) {
          assert.ok(error instanceof FrameError, String(error));
        }
      }
    }
  });
});
