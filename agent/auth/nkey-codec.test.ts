import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as ed from "@noble/ed25519";
import { fromSeed, createUser, createAccount } from "@nats-io/nkeys";
import { base32Decode, base32Encode, nkeyOf, nkeySeedOf, publicKeyOfNkey } from "./nkey-codec.js";

describe("browser-safe nkey codec", () => {
  it("gives the same user and account keys and seeds as @nats-io/nkeys, and reads them back", async () => {
    for (let i = 0; i < 20; i++) {
      const seed = new Uint8Array(randomBytes(32));
      const publicKey = await ed.getPublicKeyAsync(seed);
      for (const kind of ["user", "account"] as const) {
        const reference = fromSeed(new TextEncoder().encode(nkeySeedOf(seed, kind)));
        assert.equal(nkeyOf(publicKey, kind), reference.getPublicKey());
        assert.deepEqual(publicKeyOfNkey(reference.getPublicKey(), kind), publicKey);
      }
    }
  });

  it("refuses a broken checksum, another kind, another length or a foreign alphabet", () => {
    const user = createUser().getPublicKey();
    const flipped = user.slice(0, 10) + (user[10] === "A" ? "B" : "A") + user.slice(11);
    assert.equal(publicKeyOfNkey(flipped, "user"), undefined);
    assert.equal(publicKeyOfNkey(user, "account"), undefined);
    assert.equal(publicKeyOfNkey(createAccount().getPublicKey(), "user"), undefined);
    assert.equal(publicKeyOfNkey(user.slice(0, 55), "user"), undefined);
    assert.equal(publicKeyOfNkey(user.toLowerCase(), "user"), undefined);
    assert.throws(() => nkeyOf(new Uint8Array(31), "user"), RangeError);
  });

  it("round-trips base32 of any length", () => {
    for (let n = 0; n < 40; n++) {
      const bytes = new Uint8Array(randomBytes(n));
      const text = base32Encode(bytes);
      assert.match(text, /^[A-Z2-7]*$/);
      assert.deepEqual(base32Decode(text)?.subarray(0, n), bytes);
    }
    assert.equal(base32Decode("ab"), undefined);
  });
});
