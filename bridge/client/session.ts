/**
 * One client connection to a bridge: open the socket, run the handshake (see handshake.ts), and
 * hand back a ready session that carries data frames. Every failure is a typed BridgeError whose
 * `retry` says whether reconnecting could help (an auth or pin failure never does).
 */
import {
  AUTH_CLOSE_CODES,
  CloseCode,
  decodeData,
  decodeHubAuth,
  decodeHubHello,
  decodeReady,
  encodeControl,
  encodeData,
  fromBase64,
  toBase64,
  FrameError,
  NONCE_BYTES,
  type DataFrame,
  type HubHello,
  type PeerHello,
} from "./frames.js";
import {
  issueBridgeUserJwt,
  peerIdOf,
  randomBytes,
  sshFingerprintOf,
  transcript,
  verifySignature,
  type SigningKey,
} from "./handshake.js";
import type { BridgeSocket, SocketFactory } from "./socket.js";
import { UserError } from "../../agent/errors.js";

export type BridgeErrorKind = "auth" | "pin" | "mitm" | "protocol" | "network" | "timeout";

export class BridgeError extends UserError {
  readonly kind: BridgeErrorKind;
  readonly code: number | undefined;
  constructor(kind: BridgeErrorKind, message: string, code?: number) {
    super(message);
    this.name = "BridgeError";
    this.kind = kind;
    this.code = code;
  }
  /** False when the same key would be refused again (auth, pin, MITM): reconnecting stops. */
  get retry(): boolean {
    return (
      this.kind === "network" ||
      this.kind === "timeout" ||
      (this.kind === "protocol" && !AUTH_CLOSE_CODES.has(this.code ?? 0))
    );
  }
}

/** What the client remembers about a hub: trust on first use, then these must not change. */
export interface HubPinRecord {
  hubKey: string;
  cert: string | null;
}

export interface HubPins {
  get(name: string): HubPinRecord | undefined | Promise<HubPinRecord | undefined>;
  set(name: string, pin: HubPinRecord): void | Promise<void>;
}

export const memoryPins = (): HubPins => {
  const map = new Map<string, HubPinRecord>();
  return { get: (name) => map.get(name), set: (name, pin) => void map.set(name, pin) };
};

/** What `localStoragePins` needs: `window.localStorage`, or anything with the same two methods. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Pins that survive a page reload: one JSON entry per hub under `edgesync.pin.<name>`. */
export const localStoragePins = (storage: KeyValueStorage): HubPins => ({
  get: (name) => {
    const text = storage.getItem(`edgesync.pin.${name}`);
    if (text === null) return undefined;
    try {
      const pin = JSON.parse(text) as Partial<HubPinRecord>;
      if (typeof pin.hubKey === "string" && (pin.cert === null || typeof pin.cert === "string"))
        return { hubKey: pin.hubKey, cert: pin.cert };
    } catch {
      // fall through: an unreadable pin is a mismatch, never a fresh trust
    }
    return { hubKey: "unreadable pin", cert: null };
  },
  set: (name, pin) => storage.setItem(`edgesync.pin.${name}`, JSON.stringify(pin)),
});

export interface SessionOptions {
  /** `wss://host:port/v1/<vaultId>` */
  url: string;
  key: SigningKey;
  socket: SocketFactory;
  pins: HubPins;
  /** Pin name (default: the URL's host:port). */
  hubName?: string;
  /** Expected hub key (base64), e.g. from a pairing link: checked before and instead of TOFU. */
  hubKey?: string;
  /** Expected TLS certificate fingerprint (hex), for platforms that cannot see the certificate. */
  certFingerprint?: string;
  handshakeTimeoutMs?: number;
  nowMs?: () => number;
}

export interface SessionEvents {
  onData(frame: DataFrame): void;
  onClose(error: BridgeError): void;
}

export interface Session {
  self: string;
  hello: HubHello;
  send(frame: DataFrame): void;
  bufferedAmount(): number;
  close(): void;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 15_000;

export function closeError(code: number, reason: string): BridgeError {
  const what = reason ? `: ${reason}` : "";
  if (code === CloseCode.unauthorised || code === CloseCode.badSignature) {
    // The bridge's own refusal usually says what to do already: the advice is added only where it does not.
    const advice = /authorized_keys/.test(reason) ? "" : "; add its public key to the vault's authorized_keys";
    return new BridgeError("auth", `the bridge refused this key (close ${code})${what}${advice}`, code);
  }
  if (code === CloseCode.unknownVault)
    return new BridgeError("auth", `the bridge does not serve this vault (close ${code})${what}`, code);
  if (
    code === CloseCode.tooBig ||
    code === CloseCode.malformed ||
    code === CloseCode.protocol ||
    code === CloseCode.rateLimited
  )
    return new BridgeError("protocol", `the bridge closed the connection (close ${code})${what}`, code);
  return new BridgeError("network", `the connection to the bridge closed (code ${code})${what}`, code);
}

/** Opens a socket and authenticates; resolves once the bridge says ready. */
export function openSession(options: SessionOptions, events: SessionEvents): Promise<Session> {
  return new Promise<Session>((resolve, reject) => {
    let state: "hello" | "auth" | "ready-wait" | "ready" | "closed" = "hello";
    let hello: HubHello | undefined;
    let peerHello: PeerHello | undefined;
    let socket: BridgeSocket | undefined;
    let session: Session | undefined;
    const fail = (error: BridgeError, closeCode: number = CloseCode.protocol) => {
      if (state === "closed") return;
      const wasReady = state === "ready";
      state = "closed";
      clearTimeout(timer);
      try {
        socket?.close(closeCode, error.message.slice(0, 120));
      } catch {
        // already closing
      }
      if (wasReady) events.onClose(error);
      else reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new BridgeError(
            "timeout",
            `no handshake with ${options.url} within ${options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS} ms`,
          ),
          CloseCode.handshakeTimeout,
        ),
      options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    );
    const handleError = (error: unknown) => {
      if (error instanceof BridgeError) fail(error, error.kind === "protocol" ? CloseCode.malformed : CloseCode.normal);
      else if (error instanceof FrameError)
        fail(new BridgeError("protocol", `malformed frame from the bridge: ${error.message}`), CloseCode.malformed);
      else fail(new BridgeError("protocol", String(error)), CloseCode.protocol);
    };
    const onHello = async (text: string) => {
      const frame = decodeHubHello(text);
      if (frame.t === "error") throw closeError(frame.code, frame.message);
      hello = frame;
      const seen = socket?.certFingerprint();
      if (seen !== undefined && seen !== hello.cert) {
        throw new BridgeError(
          "mitm",
          `the bridge at ${options.url} speaks for TLS certificate ${hello.cert?.slice(0, 16) ?? "none"}… but this connection shows ${seen?.slice(0, 16) ?? "none"}…: something between us terminates TLS (a relaying man in the middle); not connecting`,
        );
      }
      if (options.certFingerprint !== undefined && options.certFingerprint !== hello.cert) {
        throw new BridgeError(
          "pin",
          `the bridge's TLS certificate ${hello.cert?.slice(0, 16) ?? "none"}… is not the expected ${options.certFingerprint.slice(0, 16)}…`,
        );
      }
      peerHello = { t: "hello", v: 1, key: toBase64(options.key.publicKey), nonce: toBase64(randomBytes(NONCE_BYTES)) };
      state = "auth";
      socket?.send(encodeControl(peerHello));
    };
    const onAuth = async (text: string) => {
      const frame = decodeHubAuth(text);
      if (frame.t === "error") throw closeError(frame.code, frame.message);
      const h = hello as HubHello;
      const p = peerHello as PeerHello;
      const hubKey = fromBase64(h.hubKey) as Uint8Array;
      if (!(await verifySignature(fromBase64(frame.sig) as Uint8Array, transcript("hub", h, p), hubKey))) {
        throw new BridgeError(
          "mitm",
          `the bridge's signature over the handshake does not verify with its key ${sshFingerprintOf(hubKey)}; not connecting`,
        );
      }
      await checkPin(options, h);
      const sig = await options.key.sign(transcript("peer", h, p));
      const jwt =
        h.account === null
          ? undefined
          : await issueBridgeUserJwt(options.key, h.account, h.user, options.nowMs?.() ?? Date.now());
      state = "ready-wait";
      socket?.send(
        encodeControl(jwt === undefined ? { t: "auth", sig: toBase64(sig) } : { t: "auth", sig: toBase64(sig), jwt }),
      );
    };
    const onReady = async (text: string) => {
      const frame = decodeReady(text);
      if (frame.t === "error") throw closeError(frame.code, frame.message);
      if (frame.self !== peerIdOf(options.key.publicKey))
        throw new BridgeError(
          "protocol",
          `the bridge named this peer ${frame.self}, not ${peerIdOf(options.key.publicKey)}`,
        );
      clearTimeout(timer);
      state = "ready";
      const s = socket as BridgeSocket;
      session = {
        self: frame.self,
        hello: hello as HubHello,
        send: (data) => {
          if (state === "ready") s.send(encodeData(data));
        },
        bufferedAmount: () => s.bufferedAmount(),
        close: () => {
          if (state === "closed") return;
          state = "closed";
          s.close(CloseCode.normal, "client closed");
        },
      };
      resolve(session);
    };
    let chain = Promise.resolve();
    try {
      socket = options.socket(options.url, {
        onOpen: () => {},
        onText: (text) => {
          // Frames are handled strictly in order, even though verification is asynchronous.
          chain = chain.then(async () => {
            try {
              if (state === "hello") await onHello(text);
              else if (state === "auth") await onAuth(text);
              else if (state === "ready-wait") await onReady(text);
              else if (state === "ready") {
                const frame = decodeReady(text);
                throw frame.t === "error"
                  ? closeError(frame.code, frame.message)
                  : new BridgeError("protocol", "unexpected control frame after the handshake");
              }
            } catch (error) {
              handleError(error);
            }
          });
        },
        onBinary: (bytes) => {
          // Through the same queue: a delivery right behind `ready` waits until ready is handled.
          chain = chain.then(() => {
            if (state === "closed") return;
            if (state !== "ready")
              return fail(
                new BridgeError("protocol", "the bridge sent data before the handshake finished"),
                CloseCode.protocol,
              );
            let frame: DataFrame;
            try {
              frame = decodeData(bytes);
            } catch (error) {
              return fail(
                new BridgeError("protocol", `malformed data frame from the bridge: ${(error as Error).message}`),
                CloseCode.malformed,
              );
            }
            if (frame.op === "deliver") events.onData(frame);
            else fail(new BridgeError("protocol", "the bridge sent a frame only peers send"), CloseCode.protocol);
          });
        },
        onClose: (code, reason) => {
          if (state === "closed") return;
          // A close after an error frame keeps the error frame's meaning.
          fail(closeError(code, reason));
        },
      });
    } catch (error) {
      fail(new BridgeError("network", `cannot open ${options.url}: ${(error as Error).message}`));
    }
  });
}

async function checkPin(options: SessionOptions, hello: HubHello): Promise<void> {
  const name = options.hubName ?? new URL(options.url).host;
  if (options.hubKey !== undefined && options.hubKey !== hello.hubKey) {
    throw new BridgeError(
      "pin",
      `the bridge at ${name} presents hub key ${sshFingerprintOf(fromBase64(hello.hubKey) as Uint8Array)}, not the one this client was paired with; not connecting`,
    );
  }
  const pin = await options.pins.get(name);
  if (pin === undefined) {
    await options.pins.set(name, { hubKey: hello.hubKey, cert: hello.cert });
    return;
  }
  if (pin.hubKey !== hello.hubKey) {
    throw new BridgeError(
      "pin",
      `the key of hub ${name} changed (trusted ${sshFingerprintOf(fromBase64(pin.hubKey) as Uint8Array)}, now ${sshFingerprintOf(fromBase64(hello.hubKey) as Uint8Array)}); if it was re-keyed on purpose, forget the pin and trust it again`,
    );
  }
  if (pin.cert !== hello.cert) {
    throw new BridgeError(
      "pin",
      `the TLS certificate of hub ${name} changed (trusted ${pin.cert?.slice(0, 16) ?? "none"}…, now ${hello.cert?.slice(0, 16) ?? "none"}…); if it was renewed on purpose, forget the pin and trust it again`,
    );
  }
}
