import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Identity } from "./identity.js";
import { signRequest, verifyRequest, SignedRequestError, SIGNED_REQUEST_SKEW_MS } from "./signed-request.js";

describe("signed hub requests", () => {
  const alice = Identity.generate("alice");

  it("verifies a request signed by the sender's key and returns its key and body", async () => {
    const wire = await signRequest(alice, "catalogue", { a: 1 });
    const { publicKey, body } = verifyRequest<{ a: number }>(wire, "catalogue");
    assert.deepEqual(publicKey, alice.publicKey);
    assert.deepEqual(body, { a: 1 });
  });

  it("refuses a request whose payload was altered after signing", async () => {
    const wire = JSON.parse(new TextDecoder().decode(await signRequest(alice, "catalogue", { a: 1 }))) as {
      payload: string;
      sig: string;
    };
    wire.payload = wire.payload.replace('"a":1', '"a":2');
    assert.throws(() => verifyRequest(new TextEncoder().encode(JSON.stringify(wire)), "catalogue"), SignedRequestError);
  });

  it("refuses a request made for another operation", async () => {
    assert.throws(() => verifyRequest(Buffer.from(""), "catalogue"), SignedRequestError);
    const wire = await signRequest(alice, "register", {});
    assert.throws(() => verifyRequest(wire, "catalogue"), /not a v1 catalogue request/);
  });

  it("refuses a request from too far in the past or future", async () => {
    const wire = await signRequest(alice, "catalogue", {}, Date.now() - SIGNED_REQUEST_SKEW_MS - 1000);
    assert.throws(() => verifyRequest(wire, "catalogue"), /clock/);
  });

  it("refuses random bytes without throwing anything but SignedRequestError", () => {
    for (let i = 0; i < 200; i++) {
      const junk = new Uint8Array(Math.floor(Math.random() * 200)).map(() => Math.floor(Math.random() * 256));
      assert.throws(() => verifyRequest(junk, "catalogue"), SignedRequestError);
    }
  });
});
