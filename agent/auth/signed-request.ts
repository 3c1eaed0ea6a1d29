/**
 * Requests a device signs with its own key, for the hub's control subjects (discovery,
 * registration). NATS tells a subscriber nothing about who published a message, so the request
 * carries the sender's public key, a timestamp and a signature over the exact payload text.
 */
import { randomBytes } from "node:crypto";
import { verifyEd25519, type DeviceKey } from "./identity.js";
import { UserError } from "../errors.js";

export class SignedRequestError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SignedRequestError";
  }
}

/** Registration carries the vault's authorized_keys; one NATS message (1 MiB by default) bounds it. */
export const SIGNED_REQUEST_BYTES_MAX = 900 * 1024;
/**
 * Clocks may differ; a request older or newer than this is refused. Replays within it are harmless:
 * every op is idempotent, and the hub answers only on the signer's own inboxes
 * (hub-authority.ts checkReplyBinding), which no other device may hear.
 */
export const SIGNED_REQUEST_SKEW_MS = 5 * 60 * 1000;
const DOMAIN = "edgesync-request-v1\n";
const OP = /^[a-z][a-z0-9-]{0,31}$/;

interface Payload {
  v: 1;
  op: string;
  key: string;
  ts: number;
  nonce: string;
  body: unknown;
}

const utf8 = (text: string) => new TextEncoder().encode(text);

export async function signRequest(
  device: DeviceKey,
  op: string,
  body: unknown,
  nowMs = Date.now(),
): Promise<Uint8Array> {
  const payload: Payload = {
    v: 1,
    op,
    key: Buffer.from(device.publicKey).toString("base64url"),
    ts: nowMs,
    nonce: randomBytes(12).toString("base64url"),
    body,
  };
  const text = JSON.stringify(payload);
  const sig = Buffer.from(await device.sign(utf8(DOMAIN + text))).toString("base64url");
  const wire = utf8(JSON.stringify({ payload: text, sig }));
  if (wire.length > SIGNED_REQUEST_BYTES_MAX)
    throw new SignedRequestError(`the ${op} request is ${wire.length} bytes, over ${SIGNED_REQUEST_BYTES_MAX}`);
  return wire;
}

export interface VerifiedRequest<T> {
  publicKey: Uint8Array;
  body: T;
}

/** Checks size, shape, operation, time and signature; throws SignedRequestError naming the first problem. */
export function verifyRequest<T = unknown>(wire: Uint8Array, op: string, nowMs = Date.now()): VerifiedRequest<T> {
  if (!OP.test(op)) throw new RangeError(`bad op ${op}`);
  if (wire.length > SIGNED_REQUEST_BYTES_MAX)
    throw new SignedRequestError(`request over ${SIGNED_REQUEST_BYTES_MAX} bytes`);
  let outer: { payload?: unknown; sig?: unknown };
  let payload: Payload;
  try {
    outer = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(wire)) as typeof outer;
    if (typeof outer.payload !== "string" || typeof outer.sig !== "string") throw new Error("missing payload or sig");
    payload = JSON.parse(outer.payload) as Payload;
  } catch (error) {
    throw new SignedRequestError(`malformed request: ${(error as Error).message}`, { cause: error });
  }
  if (
    payload.v !== 1 ||
    payload.op !== op ||
    typeof payload.key !== "string" ||
    !Number.isSafeInteger(payload.ts) ||
    typeof payload.nonce !== "string"
  ) {
    throw new SignedRequestError(`not a v1 ${op} request`);
  }
  const publicKey = new Uint8Array(Buffer.from(payload.key, "base64url"));
  const sig = new Uint8Array(Buffer.from(outer.sig, "base64url"));
  if (publicKey.length !== 32 || sig.length !== 64) throw new SignedRequestError("bad key or signature length");
  if (Math.abs(nowMs - payload.ts) > SIGNED_REQUEST_SKEW_MS)
    throw new SignedRequestError(
      `request time is off by more than ${SIGNED_REQUEST_SKEW_MS / 60_000} minutes; check this device's clock`,
    );
  if (!verifyEd25519(sig, utf8(DOMAIN + outer.payload), publicKey)) throw new SignedRequestError("bad signature");
  return { publicKey, body: payload.body as T };
}
