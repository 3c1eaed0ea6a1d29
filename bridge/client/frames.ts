/**
 * The bridge's wire format (both ends; browser-ready, no Node built-ins). Two kinds of frames:
 *
 *  - control frames are WebSocket *text* frames holding one JSON object with a `t` field
 *    (hello, auth, ready, error), at most CONTROL_BYTES_MAX, every field checked here;
 *  - data frames are *binary*: `[u8 op][u8 peerLen][peer ascii][payload]`, op 1 send (peer = to),
 *    op 2 broadcast (peerLen 0), op 3 deliver (peer = from). The payload is one frame of
 *    agent/nats/chunking.ts (a whole message, or one chunk of a bigger one), so a sync message of
 *    any size up to MESSAGE_BYTES_MAX crosses in frames of at most CHUNK_FRAME_BYTES.
 *
 * Everything from the network is untrusted: the decoders return a typed FrameError naming the
 * problem, and the receiving end closes the connection on any of them.
 */

export const BRIDGE_PROTOCOL = "edgesync-bridge/1";
/** A control frame larger than this is malformed (a user JWT is ~600 bytes). */
export const CONTROL_BYTES_MAX = 16 * 1024;
/** Payload bytes of one data frame: messages above this travel as chunks. */
export const CHUNK_FRAME_BYTES = 1024 * 1024;
/** A data frame larger than this is refused (close 1009): one chunk plus the frame header. */
export const DATA_FRAME_BYTES_MAX = CHUNK_FRAME_BYTES + 1024;
/** Largest whole sync message either end reassembles by default (as the NATS transport). */
export const MESSAGE_BYTES_MAX = 256 * 1024 * 1024;
export const NONCE_BYTES = 32;
export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
const PEER_ID = /^[A-Z2-7]{56}$|^[a-z0-9-]{1,64}$/;
const VAULT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FINGERPRINT = /^[0-9a-f]{64}$/;
const NKEY = (prefix: string) => new RegExp(`^${prefix}[A-Z2-7]{55}$`);
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const NAME_CHARS_MAX = 256;
const MESSAGE_CHARS_MAX = 1024;

/** WebSocket close codes the bridge uses (4000-4999 are the application's). */
export const CloseCode = {
  normal: 1000,
  tooBig: 1009,
  malformed: 4000,
  handshakeTimeout: 4001,
  badSignature: 4002,
  unauthorised: 4003,
  /** Sent by older bridges for an unknown vault; bridges now refuse it as an unauthorised key. */
  unknownVault: 4004,
  protocol: 4005,
  rateLimited: 4008,
  /** The bridge serves its maximum of authenticated peers (RFC 6455 "try again later"). */
  busy: 1013,
  upstream: 4011,
} as const;

/** Close codes after which a client must not retry: the same key would be refused again. */
export const AUTH_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.badSignature,
  CloseCode.unauthorised,
  CloseCode.unknownVault,
]);

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

export interface HubHello {
  t: "hello";
  v: 1;
  /** `name` is in protocol 1's transcript; bridges now send the vault id there (no vault facts before auth). */
  vault: { id: string; name: string };
  /** The hub's ed25519 key (base64, 32 bytes). */
  hubKey: string;
  nonce: string;
  /** SHA-256 of the DER TLS certificate the bridge serves (hex), or null without TLS. */
  cert: string | null;
  /** The NATS user key the peer's JWT is to name as its subject (the bridge holds its seed). */
  user: string;
  /** The vault's NATS account (operator mode), or null when the NATS server has no auth. */
  account: string | null;
}

export interface PeerHello {
  t: "hello";
  v: 1;
  key: string;
  nonce: string;
}

export interface HubAuth {
  t: "auth";
  sig: string;
}

export interface PeerAuth {
  t: "auth";
  sig: string;
  /** The user JWT for `HubHello.user`, self-issued by the peer's key; required in operator mode. */
  jwt?: string;
}

export interface Ready {
  t: "ready";
  /** The peer's id on the vault bus (its key as a NATS user nkey). */
  self: string;
}

export interface ErrorFrame {
  t: "error";
  code: number;
  message: string;
}

export type ControlFrame = HubHello | PeerHello | HubAuth | PeerAuth | Ready | ErrorFrame;

const utf8 = new TextEncoder();

export function encodeControl(frame: ControlFrame): string {
  const text = JSON.stringify(frame);
  if (utf8.encode(text).length > CONTROL_BYTES_MAX)
    throw new FrameError(`control frame of ${text.length} chars is over the ${CONTROL_BYTES_MAX}-byte limit`);
  return text;
}

// ---- base64 without Buffer (browsers) ----

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

export function toBase64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out +=
      B64[(n >> 18) & 63] +
      B64[(n >> 12) & 63] +
      (i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=") +
      (i + 2 < bytes.length ? B64[n & 63] : "=");
  }
  return out;
}

/** Strict: canonical padding, no whitespace; undefined for anything else. */
export function fromBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = text[i + j];
      const last = i + 4 === text.length;
      if (c === "=" && last && j >= 4 - pad) {
        n <<= 6;
        continue;
      }
      const v = B64_INDEX.get(c);
      if (v === undefined) return undefined;
      n = (n << 6) | v;
    }
    for (let k = 0; k < 3 && o < out.length; k++) out[o++] = (n >> (16 - 8 * k)) & 0xff;
  }
  return toBase64(out) === text ? out : undefined;
}

export const toBase64Url = (bytes: Uint8Array) =>
  toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

// ---- control frame decoding ----

type Fields = Record<string, unknown>;

function parseObject(text: string): Fields {
  if (text.length > CONTROL_BYTES_MAX) throw new FrameError(`control frame over ${CONTROL_BYTES_MAX} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FrameError("control frame is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new FrameError("control frame is not a JSON object");
  return value as Fields;
}

function onlyKeys(o: Fields, allowed: string[], what: string): void {
  for (const key of Object.keys(o))
    if (!allowed.includes(key))
      throw new FrameError(`${what} has an unknown field ${JSON.stringify(key.slice(0, 32))}`);
}

function str(o: Fields, key: string, what: string, test: (s: string) => boolean): string {
  const value = o[key];
  if (typeof value !== "string" || !test(value)) throw new FrameError(`${what}: field ${key} is missing or malformed`);
  return value;
}

function bytesField(o: Fields, key: string, what: string, length: number): string {
  return str(o, key, what, (s) => fromBase64(s)?.length === length);
}

const shortText = (max: number) => (s: string) =>
  s.length > 0 && s.length <= max && [...s].every((c) => c.charCodeAt(0) >= 0x20);

export function decodeHubHello(text: string): HubHello | ErrorFrame {
  const o = parseObject(text);
  if (o.t === "error") return decodeErrorFields(o);
  if (o.t !== "hello")
    throw new FrameError(`expected the hub's hello, got ${JSON.stringify(String(o.t).slice(0, 16))}`);
  onlyKeys(o, ["t", "v", "vault", "hubKey", "nonce", "cert", "user", "account"], "hub hello");
  if (o.v !== 1) throw new FrameError(`hub speaks protocol version ${JSON.stringify(o.v)}; this client speaks 1`);
  const vault = o.vault as Fields;
  if (typeof vault !== "object" || vault === null || Array.isArray(vault))
    throw new FrameError("hub hello: field vault is missing");
  onlyKeys(vault, ["id", "name"], "hub hello vault");
  const cert = o.cert === null ? null : str(o, "cert", "hub hello", (s) => FINGERPRINT.test(s));
  const account = o.account === null ? null : str(o, "account", "hub hello", (s) => NKEY("A").test(s));
  return {
    t: "hello",
    v: 1,
    vault: {
      id: str(vault, "id", "hub hello vault", (s) => VAULT_ID.test(s)),
      name: str(vault, "name", "hub hello vault", shortText(NAME_CHARS_MAX)),
    },
    hubKey: bytesField(o, "hubKey", "hub hello", KEY_BYTES),
    nonce: bytesField(o, "nonce", "hub hello", NONCE_BYTES),
    cert,
    user: str(o, "user", "hub hello", (s) => NKEY("U").test(s)),
    account,
  };
}

export function decodePeerHello(text: string): PeerHello {
  const o = parseObject(text);
  if (o.t !== "hello") throw new FrameError("expected the peer's hello");
  onlyKeys(o, ["t", "v", "key", "nonce"], "peer hello");
  if (o.v !== 1) throw new FrameError(`peer speaks protocol version ${JSON.stringify(o.v)}; this bridge speaks 1`);
  return {
    t: "hello",
    v: 1,
    key: bytesField(o, "key", "peer hello", KEY_BYTES),
    nonce: bytesField(o, "nonce", "peer hello", NONCE_BYTES),
  };
}

export function decodeHubAuth(text: string): HubAuth | ErrorFrame {
  const o = parseObject(text);
  if (o.t === "error") return decodeErrorFields(o);
  if (o.t !== "auth") throw new FrameError("expected the hub's signature");
  onlyKeys(o, ["t", "sig"], "hub auth");
  return { t: "auth", sig: bytesField(o, "sig", "hub auth", SIGNATURE_BYTES) };
}

export function decodePeerAuth(text: string): PeerAuth {
  const o = parseObject(text);
  if (o.t !== "auth") throw new FrameError("expected the peer's signature");
  onlyKeys(o, ["t", "sig", "jwt"], "peer auth");
  const out: PeerAuth = { t: "auth", sig: bytesField(o, "sig", "peer auth", SIGNATURE_BYTES) };
  if (o.jwt !== undefined) out.jwt = str(o, "jwt", "peer auth", (s) => s.length <= 4096 && JWT.test(s));
  return out;
}

export function decodeReady(text: string): Ready | ErrorFrame {
  const o = parseObject(text);
  if (o.t === "error") return decodeErrorFields(o);
  if (o.t !== "ready") throw new FrameError("expected ready");
  onlyKeys(o, ["t", "self"], "ready");
  return { t: "ready", self: str(o, "self", "ready", (s) => PEER_ID.test(s)) };
}

function decodeErrorFields(o: Fields): ErrorFrame {
  onlyKeys(o, ["t", "code", "message"], "error frame");
  const code = o.code;
  if (typeof code !== "number" || !Number.isInteger(code) || code < 1000 || code > 4999)
    throw new FrameError("error frame: code is missing or out of range");
  const message = typeof o.message === "string" ? o.message.slice(0, MESSAGE_CHARS_MAX) : "";
  return { t: "error", code, message };
}

// ---- data frames ----

export const DataOp = { send: 1, broadcast: 2, deliver: 3 } as const;

export type DataFrame =
  | { op: "send"; to: string; payload: Uint8Array }
  | { op: "broadcast"; payload: Uint8Array }
  | { op: "deliver"; from: string; payload: Uint8Array };

export function encodeData(frame: DataFrame): Uint8Array {
  const peer = frame.op === "send" ? frame.to : frame.op === "deliver" ? frame.from : "";
  if (peer !== "" && !PEER_ID.test(peer)) throw new FrameError(`invalid peer id ${JSON.stringify(peer.slice(0, 64))}`);
  const out = new Uint8Array(2 + peer.length + frame.payload.length);
  if (out.length > DATA_FRAME_BYTES_MAX)
    throw new FrameError(`data frame of ${out.length} bytes is over the ${DATA_FRAME_BYTES_MAX}-byte limit`);
  out[0] = DataOp[frame.op];
  out[1] = peer.length;
  for (let i = 0; i < peer.length; i++) out[2 + i] = peer.charCodeAt(i);
  out.set(frame.payload, 2 + peer.length);
  return out;
}

/** Decodes a data frame; `payload` is a view into `bytes`. */
export function decodeData(bytes: Uint8Array): DataFrame {
  if (bytes.length > DATA_FRAME_BYTES_MAX)
    throw new FrameError(`data frame of ${bytes.length} bytes is over the limit`);
  if (bytes.length < 2) throw new FrameError("data frame shorter than its header");
  const op = bytes[0];
  const peerLength = bytes[1];
  if (bytes.length < 2 + peerLength) throw new FrameError("data frame truncated inside its peer id");
  let peer = "";
  for (let i = 0; i < peerLength; i++) peer += String.fromCharCode(bytes[2 + i]);
  const payload = bytes.subarray(2 + peerLength);
  if (op === DataOp.broadcast) {
    if (peerLength !== 0) throw new FrameError("broadcast frame names a peer");
    return { op: "broadcast", payload };
  }
  if (op !== DataOp.send && op !== DataOp.deliver) throw new FrameError(`unknown data frame op ${op}`);
  if (!PEER_ID.test(peer)) throw new FrameError("data frame with an invalid peer id");
  return op === DataOp.send ? { op: "send", to: peer, payload } : { op: "deliver", from: peer, payload };
}
