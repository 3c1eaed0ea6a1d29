import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { decode } from "@nats-io/jwt";
import { createUser, fromSeed } from "@nats-io/nkeys";
import { Identity } from "../../agent/auth/identity.js";
import {
  ephemeralNatsUser,
  issueBridgeUserJwt,
  jwtClaims,
  keyFromSeed,
  nkeyOf,
  peerIdOf,
  sshFingerprintOf,
  sshPublicLineOf,
  transcript,
  verifySignature,
} from "./handshake.js";
import { toBase64, type HubHello, type PeerHello } from "./frames.js";
import { vaultAccountOf } from "./automerge-token.js";
import { vaultAccountPublic } from "../../agent/auth/accounts.js";

describe("bridge handshake crypto", () => {
  it("encodes keys as NATS nkeys and SSH lines exactly as the agent does", async () => {
    for (let i = 0; i < 20; i++) {
      const seed = new Uint8Array(randomBytes(32));
      const identity = new Identity(seed, "x");
      const key = await keyFromSeed(seed);
      assert.deepEqual(key.publicKey, identity.publicKey);
      assert.equal(peerIdOf(key.publicKey), identity.nkeyPublic);
      assert.equal(nkeyOf(key.publicKey, "account"), identity.accountNkeyPublic);
      assert.equal(sshFingerprintOf(key.publicKey), identity.fingerprint);
      assert.equal(sshPublicLineOf(key.publicKey, "browser"), identity.sshPublicLine("browser"));
    }
  });

  it("signs with WebCrypto what the agent's identity verifies", async () => {
    const seed = new Uint8Array(randomBytes(32));
    const key = await keyFromSeed(seed);
    const message = new TextEncoder().encode("transcript");
    const sig = await key.sign(message);
    assert.ok(new Identity(seed, "x").verify(sig, message));
    assert.ok(await verifySignature(sig, message, key.publicKey));
    assert.equal(await verifySignature(sig, new TextEncoder().encode("other"), key.publicKey), false);
    assert.equal(await verifySignature(new Uint8Array(64), message, key.publicKey), false);
  });

  it("binds both roles, both nonces, both keys, the cert and the NATS user into distinct transcripts", () => {
    const hub: HubHello = {
      t: "hello",
      v: 1,
      vault: { id: "2f0c6a1e-8d4b-4c3a-9e1f-7a6b5c4d3e2f", name: "n" },
      hubKey: toBase64(new Uint8Array(32)),
      nonce: toBase64(new Uint8Array(32).fill(1)),
      cert: "aa".repeat(32),
      user: createUser().getPublicKey(),
      account: null,
    };
    const peer: PeerHello = {
      t: "hello",
      v: 1,
      key: toBase64(new Uint8Array(32).fill(3)),
      nonce: toBase64(new Uint8Array(32).fill(4)),
    };
    const base = Buffer.from(transcript("peer", hub, peer)).toString();
    assert.notEqual(Buffer.from(transcript("hub", hub, peer)).toString(), base);
    for (const changed of [
      { ...hub, cert: "bb".repeat(32) },
      { ...hub, nonce: toBase64(new Uint8Array(32).fill(9)) },
      { ...hub, user: createUser().getPublicKey() },
      { ...hub, account: nkeyOf(new Uint8Array(32), "account") },
    ]) {
      assert.notEqual(Buffer.from(transcript("peer", changed, peer)).toString(), base);
    }
    assert.notEqual(
      Buffer.from(transcript("peer", hub, { ...peer, nonce: toBase64(new Uint8Array(32)) })).toString(),
      base,
    );
  });

  it("derives a vault's NATS account as the hub does", () => {
    const id = "2f0c6a1e-8d4b-4c3a-9e1f-7a6b5c4d3e2f";
    assert.equal(vaultAccountOf(id), vaultAccountPublic(id));
  });

  it("makes throwaway NATS users whose seeds nkeys reads back to the same public key", async () => {
    for (let i = 0; i < 10; i++) {
      const user = await ephemeralNatsUser();
      assert.equal(fromSeed(new TextEncoder().encode(user.seed)).getPublicKey(), user.publicKey);
      assert.match(user.seed, /^SU[A-Z2-7]{56}$/);
    }
  });

  it("issues a user JWT with the claims of agent/auth's issueUserJwt, which @nats-io/jwt decodes", async () => {
    const key = await keyFromSeed(new Uint8Array(randomBytes(32)));
    const user = createUser().getPublicKey();
    const account = nkeyOf(new Uint8Array(randomBytes(32)), "account");
    const jwt = await issueBridgeUserJwt(key, account, user, 1_700_000_000_000, 60);
    const claims = decode<Record<string, unknown>>(jwt);
    assert.equal(claims.iss, nkeyOf(key.publicKey, "account"));
    assert.equal(claims.sub, user);
    assert.equal(claims.exp, 1_700_000_060);
    assert.deepEqual(claims.nats, { issuer_account: account, type: "user", version: 2 });
    assert.deepEqual(jwtClaims(jwt), claims);
    assert.equal(jwtClaims("a.!!!.c"), undefined);
  });
});
