/**
 * Signed requests to a notify service. NATS does not tell a subscriber who published, so every
 * request carries its sender's key, a timestamp, a nonce and an ed25519 signature: the service
 * knows who asks (to refuse an unpaired device, or a notify-only device asking to pair others) and
 * a captured request cannot be replayed. Shared with the browser bundle: no Node imports.
 */
import { base64urlDecode, base64urlEncode, canonicalJson, isPeerId, utf8 } from "./encoding.js";
import type { Signer, VerifyFn } from "./model.js";

export interface SignedRequest {
  op: string;
  args: Record<string, unknown>;
  /** The requesting device's `U…` key. */
  from: string;
  ts: number;
  nonce: string;
  sig: string;
}

export type RpcReply<T = unknown> = { ok: true; result: T } | { ok: false; error: { name: string; message: string } };

/** Requests older or newer than this (clock skew between devices included) are refused. */
export const REQUEST_SKEW_MS = 5 * 60_000;
export const REQUEST_BYTES_MAX = 64 * 1024;
const REQUEST_DOMAIN = "edgesync-notify-request-v1\n";
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const FIELDS = new Set(["op", "args", "from", "ts", "nonce", "sig"]);

const requestBytes = (r: Omit<SignedRequest, "sig">) => utf8(REQUEST_DOMAIN + canonicalJson(r));

export function signRequest(op: string, args: Record<string, unknown>, signer: Signer, nowMs: number): SignedRequest {
  const unsigned = {
    op,
    args,
    from: signer.peerId,
    ts: nowMs,
    nonce: base64urlEncode(crypto.getRandomValues(new Uint8Array(16))),
  };
  return { ...unsigned, sig: base64urlEncode(signer.sign(requestBytes(unsigned))) };
}

/** Remembers nonces for the skew window so a replayed request is refused; bounded. */
export class NonceCache {
  readonly #seen = new Map<string, number>();
  constructor(
    readonly entriesMax = 100_000,
    readonly ttlMs = 2 * REQUEST_SKEW_MS,
  ) {}

  /** True when `nonce` was seen before (a replay); otherwise remembers it. */
  replayed(nonce: string, nowMs: number): boolean {
    if (this.#seen.has(nonce)) return true;
    if (this.#seen.size >= this.entriesMax) {
      for (const [n, at] of this.#seen) {
        if (nowMs - at < this.ttlMs && this.#seen.size < this.entriesMax) break;
        this.#seen.delete(n);
      }
    }
    this.#seen.set(nonce, nowMs);
    return false;
  }
}

/** Validates a request (shape, freshness, signature, replay); the problem is safe to send back. */
export function checkRequest(
  bytes: Uint8Array,
  nowMs: number,
  verify: VerifyFn,
  nonces: NonceCache,
): { request: SignedRequest } | { problem: string } {
  if (bytes.length > REQUEST_BYTES_MAX) return { problem: "request too large" };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { problem: "request is not JSON" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return { problem: "request is not an object" };
  const r = value as Record<string, unknown>;
  if (Object.keys(r).some((k) => !FIELDS.has(k))) return { problem: "request has unknown fields" };
  if (typeof r.op !== "string" || r.args === null || typeof r.args !== "object" || Array.isArray(r.args))
    return { problem: "malformed request" };
  if (typeof r.from !== "string" || !isPeerId(r.from)) return { problem: "request sender is not a device key" };
  if (typeof r.nonce !== "string" || !NONCE.test(r.nonce) || typeof r.sig !== "string")
    return { problem: "malformed request" };
  if (typeof r.ts !== "number" || Math.abs(nowMs - r.ts) > REQUEST_SKEW_MS)
    return { problem: "request timestamp is off by more than 5 minutes: check this device's clock" };
  const sig = base64urlDecode(r.sig);
  const request = r as unknown as SignedRequest;
  const { sig: _sig, ...unsigned } = request;
  if (sig?.length !== 64 || !verify(sig, requestBytes(unsigned), request.from))
    return { problem: "request signature does not match its sender" };
  if (nonces.replayed(request.nonce, nowMs)) return { problem: "request replayed" };
  return { request };
}

/** Signs an answer (pairing) so the asker can check it against a fingerprint it already holds. */
export function signAnswer<T extends Record<string, unknown>>(answer: T, signer: Signer): T & { sig: string } {
  return { ...answer, sig: base64urlEncode(signer.sign(utf8(`edgesync-notify-answer-v1\n${canonicalJson(answer)}`))) };
}

export function answerSignedBy(answer: Record<string, unknown>, peerId: string, verify: VerifyFn): boolean {
  const { sig, ...rest } = answer;
  const bytes = typeof sig === "string" ? base64urlDecode(sig) : undefined;
  return bytes?.length === 64 && verify(bytes, utf8(`edgesync-notify-answer-v1\n${canonicalJson(rest)}`), peerId);
}
