/** ed25519 verification for the agent and the CLI through node:crypto (much faster than a JS implementation). */
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { publicKeyFromPeerId } from "./encoding.js";
import type { VerifyFn } from "./model.js";

/** DER prefix of an ed25519 SubjectPublicKeyInfo; the 32 key bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Parsed keys kept (a set has a handful of devices; the cap bounds memory against junk senders). */
const KEY_CACHE_MAX = 256;
const keys = new Map<string, KeyObject>();

function keyOf(peerId: string): KeyObject | undefined {
  const cached = keys.get(peerId);
  if (cached) return cached;
  const publicKey = publicKeyFromPeerId(peerId);
  if (publicKey === undefined) return undefined;
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
  if (keys.size >= KEY_CACHE_MAX) keys.delete(keys.keys().next().value as string);
  keys.set(peerId, key);
  return key;
}

export const verifyEd25519: VerifyFn = (signature, bytes, peerId) => {
  if (signature.length !== 64) return false;
  try {
    const key = keyOf(peerId);
    return key !== undefined && verify(null, bytes, key, signature);
  } catch {
    return false;
  }
};
