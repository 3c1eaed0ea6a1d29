/**
 * Byte encodings shared by the agent and the browser bundle (no Node imports here): base64url,
 * and the NATS nkey form of an ed25519 public key (`U…`), which is every notify device's id
 * (agent/auth/nkey-codec.ts, shared with the bridge client).
 */
import { nkeyOf, publicKeyOfNkey } from "../agent/auth/nkey-codec.js";

export function base64urlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Undefined for anything that is not canonical base64url. */
export function base64urlDecode(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return base64urlEncode(out) === text ? out : undefined;
}

/** The `U…` nkey of an ed25519 public key. */
export const peerIdFromPublicKey = (publicKey: Uint8Array): string => nkeyOf(publicKey, "user");

/** The public key inside a `U…` nkey; undefined when the text is not one (wrong prefix or checksum). */
export const publicKeyFromPeerId = (peerId: string): Uint8Array | undefined => publicKeyOfNkey(peerId, "user");

export const isPeerId = (text: string): boolean => publicKeyFromPeerId(text) !== undefined;

/** JSON with object keys sorted at every level: the bytes a signature covers. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
export const utf8Bytes = (text: string): number => utf8(text).length;
