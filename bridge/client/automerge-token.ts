/**
 * How an unmodified automerge-repo client authenticates on the bridge's `/automerge` path: its
 * WebSocket URL carries a short-lived signed token, since that client cannot run a handshake.
 *
 *   wss://HOST:PORT/automerge?v=1&vault=<id>&key=<b64url ed25519 key>&ts=<ms>&nonce=<b64url 16 B>
 *       [&jwt=<user JWT>&useed=<SU… seed of the JWT's ephemeral user>]&sig=<b64url ed25519 signature>
 *
 * The signature covers every other field and the SHA-256 of the bridge's TLS certificate that the
 * client trusts, so a token is good for one bridge, one vault, two minutes, and one connection (the
 * bridge remembers nonces). The document is the vault document; its automerge-repo id is derived
 * from the vault id (`vaultAutomergeUrl`). The channel itself is protected by TLS as the client's
 * platform validates it: unlike the edgesync handshake, this path has no channel binding.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { fromBase64, toBase64Url } from "./frames.js";
import { ephemeralNatsUser, issueBridgeUserJwt, nkeyOf, randomBytes, type SigningKey } from "./handshake.js";

export const AUTOMERGE_PATH = "/automerge";
export const TOKEN_LIFETIME_MS = 120_000;
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** Base58Check, as automerge-repo (bs58check) encodes document ids. */
export function base58check(payload: Uint8Array): string {
  const checksum = sha256(sha256(payload)).subarray(0, 4);
  const bytes = new Uint8Array(payload.length + 4);
  bytes.set(payload);
  bytes.set(checksum, payload.length);
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = "";
  while (n > 0n) {
    out = B58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

/** The vault document's automerge-repo DocumentId: the vault UUID's 16 bytes, Base58Check. */
export function vaultDocumentId(vaultId: string): string {
  const hex = vaultId.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new RangeError(`not a vault id: ${JSON.stringify(vaultId)}`);
  return base58check(Uint8Array.from(hex.match(/../g) as string[], (h) => parseInt(h, 16)));
}

/** The vault's NATS account on an edgesync hub (agent/auth/accounts.ts derives it the same way). */
export const vaultAccountOf = (vaultId: string) =>
  nkeyOf(sha256(new TextEncoder().encode(`edgesync-account-v1:vault:${vaultId}`)), "account");

export const vaultAutomergeUrl = (vaultId: string) => `automerge:${vaultDocumentId(vaultId)}`;

export interface TokenFields {
  vault: string;
  key: string;
  ts: string;
  nonce: string;
  jwt?: string;
  useed?: string;
}

/** The bytes the token's signature covers. */
export function tokenMessage(fields: TokenFields, certFingerprint: string | null): Uint8Array {
  return new TextEncoder().encode(
    [
      "edgesync-bridge/automerge-token/1",
      fields.vault,
      fields.key,
      fields.ts,
      fields.nonce,
      fields.jwt ?? "",
      fields.useed ?? "",
      certFingerprint ?? "none",
    ].join("\n"),
  );
}

export interface AutomergeUrlOptions {
  /** `wss://HOST:PORT` of the bridge. */
  origin: string;
  vaultId: string;
  key: SigningKey;
  /** SHA-256 (hex) of the bridge's certificate as the client trusts it (null for a --no-tls bridge). */
  certFingerprint: string | null;
  /** Operator mode (a hub's bridge): the vault's NATS account (`vaultAccountOf(vaultId)`), so the token carries a user JWT the key signs. */
  account?: string;
  /** Operator mode: the ephemeral NATS user for that JWT (default: a fresh one). */
  user?: { publicKey: string; seed: string };
  nowMs?: number;
}

/** The WebSocket URL for `BrowserWebSocketClientAdapter`: sign just before connecting (it expires). */
export async function automergeEndpointUrl(options: AutomergeUrlOptions): Promise<string> {
  const nowMs = options.nowMs ?? Date.now();
  const fields: TokenFields = {
    vault: options.vaultId,
    key: toBase64Url(options.key.publicKey),
    ts: String(nowMs),
    nonce: toBase64Url(randomBytes(16)),
  };
  if (options.account !== undefined) {
    const user = options.user ?? (await ephemeralNatsUser());
    fields.jwt = await issueBridgeUserJwt(
      options.key,
      options.account,
      user.publicKey,
      nowMs,
      Math.ceil(TOKEN_LIFETIME_MS / 1000) + 3600,
    );
    fields.useed = user.seed;
  }
  const sig = await options.key.sign(tokenMessage(fields, options.certFingerprint));
  const query = new URLSearchParams({ v: "1", ...fields, sig: toBase64Url(sig) });
  return `${options.origin.replace(/\/+$/, "")}${AUTOMERGE_PATH}?${query.toString()}`;
}

export const fromBase64Url = (text: string): Uint8Array | undefined => {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return fromBase64(b64 + "===".slice((b64.length + 3) % 4));
};
