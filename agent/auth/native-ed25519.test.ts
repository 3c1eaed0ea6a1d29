import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { createAccount, createOperator, fromPublic, fromSeed } from "@nats-io/nkeys";
import { decode, encodeAccount, encodeOperator } from "@nats-io/jwt";
import {
  ephemeralUserKey,
  privateKeyFromSeed,
  publicKeyBytes,
  signEd25519,
  verifyEd25519,
  withNativeSigning,
} from "./native-ed25519.js";

ed.hashes.sha512 = sha512;

describe("native ed25519", () => {
  it("derives the same public key and signs the same bytes as @noble/ed25519 (RFC 8032 is deterministic)", () => {
    for (let i = 0; i < 5; i++) {
      const seed = new Uint8Array(randomBytes(32));
      const message = new Uint8Array(randomBytes(100 + i));
      const key = privateKeyFromSeed(seed);
      assert.deepEqual(publicKeyBytes(key), ed.getPublicKey(seed));
      assert.deepEqual(signEd25519(key, message), ed.sign(message, seed));
    }
  });

  it("verifies a good signature and refuses a tampered one, a wrong key and malformed input", () => {
    const seed = new Uint8Array(randomBytes(32));
    const key = privateKeyFromSeed(seed);
    const message = new TextEncoder().encode("hello");
    const signature = signEd25519(key, message);
    const pub = publicKeyBytes(key);
    assert.equal(verifyEd25519(signature, message, pub), true);
    assert.equal(verifyEd25519(signature, new TextEncoder().encode("hellO"), pub), false);
    assert.equal(verifyEd25519(signature, message, publicKeyBytes(privateKeyFromSeed(new Uint8Array(32)))), false);
    assert.equal(verifyEd25519(signature.subarray(0, 63), message, pub), false);
    assert.equal(verifyEd25519(signature, message, pub.subarray(0, 31)), false);
    assert.equal(verifyEd25519(new Uint8Array(64).fill(0xff), message, new Uint8Array(32).fill(0xff)), false);
  });

  it("makes NATS user keys whose seed, public nkey and nonce signatures nkeys agrees with", () => {
    const user = ephemeralUserKey();
    assert.match(user.getPublicKey(), /^U[A-Z2-7]{55}$/);
    assert.equal(fromSeed(user.getSeed()).getPublicKey(), user.getPublicKey());
    const nonce = "Yh3kX0Vn5qZ8cT1w";
    const sig = Buffer.from(user.signNonce(nonce), "base64url");
    assert.equal(fromPublic(user.getPublicKey()).verify(new TextEncoder().encode(nonce), sig), true);
    assert.notEqual(ephemeralUserKey().getPublicKey(), user.getPublicKey(), "fresh each time");
  });

  it("gives an operator key the same public key, private key and signatures as nkeys, and account JWTs that verify", async () => {
    const operator = createOperator();
    const native = withNativeSigning(operator);
    const message = new Uint8Array(randomBytes(64));
    assert.deepEqual(native.sign(message), operator.sign(message));
    assert.equal(native.getPublicKey(), operator.getPublicKey());
    assert.deepEqual(native.getPrivateKey(), operator.getPrivateKey());
    assert.equal(native.verify(message, operator.sign(message)), true);
    assert.equal(native.verify(message.slice(1), operator.sign(message)), false);
    const account = createAccount();
    const jwt = await encodeAccount("a", account, {}, { signer: native });
    assert.equal(decode(jwt).iss, operator.getPublicKey(), "decode checks the signature against the issuer");
    assert.equal(decode(await encodeOperator("op", native)).sub, operator.getPublicKey());
  });
});
