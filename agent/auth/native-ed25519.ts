/**
 * ed25519 through Node's crypto (OpenSSL) for the device key and the ephemeral NATS user keys.
 * Why not @noble/ed25519 and nkeys' tweetnacl here: both build tables on first use, so the first
 * signature is slow (and tweetnacl's stay slow after), and a one-shot command signs several times
 * before its first byte of sync, so every clone, push and pull would pay for it. OpenSSL signs
 * quickly from the first call. Signatures are the same bytes (RFC 8032 is deterministic); browser
 * code keeps @noble/ed25519.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { Prefix, type KeyPair } from "@nats-io/nkeys";
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { nkeyOf, nkeySeedOf } from "./nkey-codec.js";

// DER headers of a PKCS#8 private key and an SPKI public key for ed25519 (RFC 8410); the raw 32
// bytes follow each.
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");

export const privateKeyFromSeed = (seed: Uint8Array): KeyObject =>
  createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });

export function publicKeyBytes(key: KeyObject): Uint8Array {
  const spki = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(SPKI_ED25519.length));
}

export const signEd25519 = (key: KeyObject, message: Uint8Array): Uint8Array =>
  new Uint8Array(sign(null, message, key));

/** Verifies a raw 64-byte signature; false for anything malformed (a wrong length, a bad key). */
export function verifyEd25519(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return verify(
      null,
      message,
      createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: "der", type: "spki" }),
      signature,
    );
  } catch {
    return false;
  }
}

/** A fresh NATS user key (`U…`) that signs a server's connect nonce; its seed only for creds files. */
export interface EphemeralUserKey {
  getPublicKey(): string;
  /** The `SU…` seed as bytes (what a creds file holds). Secret. */
  getSeed(): Uint8Array;
  /** The nonce signature a NATS CONNECT carries: base64url, no padding. */
  signNonce(nonce: string): string;
}

export function ephemeralUserKey(): EphemeralUserKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  const seed = new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_ED25519.length));
  const publicNkey = nkeyOf(publicKeyBytes(privateKey), "user");
  return {
    getPublicKey: () => publicNkey,
    getSeed: () => new TextEncoder().encode(nkeySeedOf(seed, "user")),
    signNonce: (nonce) => Buffer.from(signEd25519(privateKey, new TextEncoder().encode(nonce))).toString("base64url"),
  };
}

/**
 * `pair` with its crypto done by OpenSSL: what a hub's operator and system keys sign with.
 * nkeys derives the public half from the seed with tweetnacl on *every* getPublicKey, getPrivateKey
 * and sign, each slow; @nats-io/jwt calls them for every account JWT it encodes — at start and at
 * each registration or authorized_keys change — so a busy hub would spend its CPU there. Here both
 * halves are derived once.
 */
export function withNativeSigning(pair: KeyPair): KeyPair {
  const { prefix, buf: seed } = Codec.decodeSeed(pair.getSeed());
  const key = privateKeyFromSeed(seed);
  const publicKey = publicKeyBytes(key);
  const publicNkey = new TextDecoder().decode(Codec.encode(prefix, publicKey));
  const secretKey = new Uint8Array([...seed, ...publicKey]); // tweetnacl's layout, as getPrivateKey encodes it
  return {
    getPublicKey: () => publicNkey,
    getPrivateKey: () => Codec.encode(Prefix.Private, secretKey),
    getSeed: () => pair.getSeed(),
    sign: (input: Uint8Array) => signEd25519(key, input),
    verify: (input: Uint8Array, signature: Uint8Array) => verifyEd25519(signature, input, publicKey),
    clear: () => pair.clear(),
    seal: pair.seal.bind(pair),
    open: pair.open.bind(pair),
  };
}
