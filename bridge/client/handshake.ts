/**
 * The bridge handshake's cryptography (both ends; browser-ready):
 *
 *   hub  → hello { vault, hubKey, nonceH, cert fingerprint, user, account }   (vault: the id asked for,
 *                                                                        its name field repeating the id:
 *                                                                        no vault facts before the proof)
 *   peer → hello { key, nonceP }
 *   hub  → auth  { sig_hub = sign(hubKey,  transcript("hub")) }
 *   peer → auth  { sig_peer = sign(peerKey, transcript("peer")), jwt }   (only after checking sig_hub,
 *                                                                        the pin and the cert it saw)
 *   hub  → ready { self } | error { code, message } + close(code)
 *
 * The transcript covers both nonces, both keys, the vault, the NATS user and account and the TLS
 * certificate fingerprint. The peer compares that fingerprint with the certificate its own TLS
 * stack saw: a relaying MITM that terminates TLS shows another certificate and is refused before
 * the peer signs anything (channel binding). The peer signs a NATS user JWT only for the user key
 * of a hub whose signature and pin it has checked, so an impersonator never gets a usable JWT.
 */
import * as ed from "@noble/ed25519";
import { sha256 } from "@noble/hashes/sha2.js";
import { nkeyOf, nkeySeedOf } from "../../agent/auth/nkey-codec.js";
import { BRIDGE_PROTOCOL, fromBase64, toBase64Url, type HubHello, type PeerHello } from "./frames.js";

/** What signs for the peer or the hub: an in-memory key, or anything that signs asynchronously. */
export interface SigningKey {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** An ed25519 key held in memory (WebCrypto SHA-512 underneath: works in browsers and Node). */
export async function keyFromSeed(seed: Uint8Array): Promise<SigningKey> {
  if (seed.length !== 32) throw new RangeError("an ed25519 seed has 32 bytes");
  const secret = seed.slice();
  const publicKey = await ed.getPublicKeyAsync(secret);
  return { publicKey, sign: (message) => ed.signAsync(message, secret) };
}

export const randomBytes = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));

export async function verifySignature(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): Promise<boolean> {
  try {
    return await ed.verifyAsync(signature, message, publicKey);
  } catch {
    return false;
  }
}

export function transcript(role: "hub" | "peer", hub: HubHello, peer: PeerHello): Uint8Array {
  const fields = [
    hub.vault.id,
    hub.vault.name,
    hub.hubKey,
    hub.nonce,
    hub.cert,
    hub.user,
    hub.account,
    peer.key,
    peer.nonce,
  ];
  return new TextEncoder().encode(`${BRIDGE_PROTOCOL}\n${role}\n${JSON.stringify(fields)}`);
}

export { nkeyOf };

/**
 * A throwaway NATS user (`U…` public key and its `SU…` seed), made in the browser: the subject of
 * a user JWT the device signs for an automerge-repo token in operator mode.
 */
export async function ephemeralNatsUser(): Promise<{ publicKey: string; seed: string }> {
  const raw = randomBytes(32);
  const publicKey = await ed.getPublicKeyAsync(raw);
  return { publicKey: nkeyOf(publicKey, "user"), seed: nkeySeedOf(raw, "user") };
}

/** The peer's id on the vault bus: its key as a NATS user nkey, as agents use theirs. */
export const peerIdOf = (publicKey: Uint8Array) => nkeyOf(publicKey, "user");

/** `SHA256:…` as `ssh-keygen -l` prints it, for messages and pins. */
export function sshFingerprintOf(publicKey: Uint8Array): string {
  const enc = new TextEncoder();
  const type = enc.encode("ssh-ed25519");
  const blob = new Uint8Array(4 + type.length + 4 + publicKey.length);
  const view = new DataView(blob.buffer);
  view.setUint32(0, type.length);
  blob.set(type, 4);
  view.setUint32(4 + type.length, publicKey.length);
  blob.set(publicKey, 8 + type.length);
  const b64 = btoa(String.fromCharCode(...sha256(blob)));
  return `SHA256:${b64.replace(/=+$/, "")}`;
}

/** The `ssh-ed25519 AAAA… comment` line to put into a vault's authorized_keys. */
export function sshPublicLineOf(publicKey: Uint8Array, comment = ""): string {
  const enc = new TextEncoder();
  const type = enc.encode("ssh-ed25519");
  const blob = new Uint8Array(8 + type.length + publicKey.length);
  const view = new DataView(blob.buffer);
  view.setUint32(0, type.length);
  blob.set(type, 4);
  view.setUint32(4 + type.length, publicKey.length);
  blob.set(publicKey, 8 + type.length);
  return `ssh-ed25519 ${btoa(String.fromCharCode(...blob))}${comment ? ` ${comment}` : ""}`;
}

export const USER_JWT_LIFETIME_S = 24 * 3600;

/**
 * A NATS user JWT for `user` in `account`, issued by the peer's key acting as the account's scoped
 * signing key (agent/auth/nats-jwt.ts `issueUserJwt` makes the same token in Node): the
 * permissions come from the template of the signing key, i.e. from the peer's own authorisation.
 */
export async function issueBridgeUserJwt(
  key: SigningKey,
  account: string,
  user: string,
  nowMs: number,
  lifetimeS = USER_JWT_LIFETIME_S,
): Promise<string> {
  const nowS = Math.floor(nowMs / 1000);
  const claims: Record<string, unknown> = {
    aud: "NATS",
    iat: nowS,
    iss: nkeyOf(key.publicKey, "account"),
    name: `bridge ${sshFingerprintOf(key.publicKey)}`,
    sub: user,
    nats: { issuer_account: account, type: "user", version: 2 },
    exp: nowS + lifetimeS,
  };
  claims.jti = toBase64Url(sha256(new TextEncoder().encode(JSON.stringify(claims))));
  const enc = (value: unknown) => toBase64Url(new TextEncoder().encode(JSON.stringify(value)));
  const payload = `${enc({ typ: "JWT", alg: "ed25519-nkey" })}.${enc(claims)}`;
  const signature = await key.sign(new TextEncoder().encode(payload));
  return `${payload}.${toBase64Url(signature)}`;
}

/** The claims of a JWT without checking its signature (NATS checks it); undefined when malformed. */
export function jwtClaims(jwt: string): Record<string, unknown> | undefined {
  const part = jwt.split(".")[1];
  if (part === undefined) return undefined;
  const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
  const bytes = fromBase64(padded);
  if (!bytes) return undefined;
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
