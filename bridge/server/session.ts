/**
 * One peer's connection to the bridge: the handshake (bridge/client/handshake.ts describes it),
 * then a relay between the socket and the vault's NATS bus over a NATS connection opened *as the
 * peer* — with the user JWT the peer signed in the handshake when the server runs in operator
 * mode — so NATS, not the bridge, decides what the peer may reach. Nothing but an error frame is
 * sent before the peer is authenticated; any malformed frame, a frame out of turn, a rate or size
 * limit breach, or a slow handshake closes the connection with a code (bridge/client/frames.ts).
 */
import type { WebSocket, RawData } from "ws";
import { createUser } from "@nats-io/nkeys";
import {
  connect,
  jwtAuthenticator,
  errors,
  type ConnectionOptions,
  type NatsConnection,
} from "@nats-io/transport-node";
import { NatsTransport } from "../../agent/nats/nats-transport.js";
import type { Log, PeerId } from "../../agent/sync/ports.js";
import {
  CloseCode,
  decodeData,
  decodePeerAuth,
  decodePeerHello,
  encodeControl,
  encodeData,
  fromBase64,
  toBase64,
  FrameError,
  NONCE_BYTES,
  CONTROL_BYTES_MAX,
  DATA_FRAME_BYTES_MAX,
  CHUNK_FRAME_BYTES,
  MESSAGE_BYTES_MAX,
  type HubHello,
  type PeerHello,
} from "../client/frames.js";
import { Reassembler, toFrames } from "../../agent/nats/chunking.js";
import {
  jwtClaims,
  nkeyOf,
  peerIdOf,
  randomBytes,
  sshFingerprintOf,
  transcript,
  verifySignature,
  type SigningKey,
} from "../client/handshake.js";
import { TOKEN_LIFETIME_MS } from "../client/automerge-token.js";
import { TokenBucket } from "./rate-limit.js";
import { watchAuthority } from "./revocation.js";
import {
  PRE_AUTH_PER_ADDRESS_MAX,
  PRE_AUTH_SOCKETS_MAX,
  PRE_AUTH_TIMEOUT_MS,
  type AdmissionLimits,
} from "./admission.js";

export interface BridgeVault {
  id: string;
  name: string;
  /** The vault's NATS account (operator mode): the peer must present a user JWT for it. */
  account?: string;
  /** Checked before NATS is asked (open mode relies on it alone): false refuses the key. */
  isAuthorised?: (publicKey: Uint8Array) => boolean | Promise<boolean>;
}

export interface BridgeLimits extends AdmissionLimits {
  /** From the upgrade to ready: the WebSocket part of the pre-auth time. */
  handshakeMs: number;
  /** One WebSocket frame (ws closes larger ones with 1009 before they are buffered whole). */
  dataFrameBytesMax: number;
  /** A whole message a peer uploads (reassembled from chunks); deliveries to it may be up to MESSAGE_BYTES_MAX. */
  uploadBytesMax: number;
  /** Bytes of partial uploads held per connection. */
  uploadBufferBytesMax: number;
  framesPerSecond: number;
  framesBurst: number;
  bytesPerSecond: number;
  bytesBurst: number;
  /** Deliveries to a peer are dropped while more than this waits in its socket (at-most-once). */
  sendBufferBytesMax: number;
  /** Authenticated peers at once; unauthenticated sockets are limited apart (admission.ts). */
  connectionsMax: number;
  natsConnectTimeoutMs: number;
  /**
   * How far an `/automerge` URL token's time may be from the bridge's clock (either way). A token is
   * good for one connection anyway; this bounds how long a leaked, unused one stays usable and how
   * long the bridge remembers used nonces. Clients that reconnect sign a fresh token each time.
   */
  automergeTokenLifetimeMs: number;
}

export const DEFAULT_LIMITS: BridgeLimits = {
  handshakeMs: PRE_AUTH_TIMEOUT_MS,
  preAuthTimeoutMs: PRE_AUTH_TIMEOUT_MS,
  preAuthPerAddressMax: PRE_AUTH_PER_ADDRESS_MAX,
  preAuthSocketsMax: PRE_AUTH_SOCKETS_MAX,
  dataFrameBytesMax: DATA_FRAME_BYTES_MAX,
  uploadBytesMax: 64 * 1024 * 1024,
  uploadBufferBytesMax: 128 * 1024 * 1024,
  framesPerSecond: 500,
  framesBurst: 2_000,
  bytesPerSecond: 16 * 1024 * 1024,
  bytesBurst: 96 * 1024 * 1024,
  sendBufferBytesMax: 64 * 1024 * 1024,
  connectionsMax: 256,
  natsConnectTimeoutMs: 5_000,
  automergeTokenLifetimeMs: TOKEN_LIFETIME_MS,
};

export interface SessionContext {
  hubKey: SigningKey;
  /** SHA-256 hex of the certificate the bridge serves; null without TLS. */
  certFingerprint: string | null;
  natsServers: string | string[];
  /** Extra NATS options (TLS towards the hub, for one). */
  natsOptions?: Partial<ConnectionOptions>;
  limits: BridgeLimits;
  log: Log;
  stats: BridgeStats;
  nowMs: () => number;
  /** Counts a peer that proved its key; false when the bridge already serves its maximum. */
  admitAuthenticated?: (ws: WebSocket) => boolean;
}

export interface BridgeStats {
  connections: number;
  ready: number;
  refused: number;
  malformed: number;
  rateLimited: number;
  timeouts: number;
  framesIn: number;
  framesOut: number;
  deliveriesDropped: number;
  /** Unauthenticated sockets dropped by the per-address, total or time limits (admission.ts). */
  shed: number;
}

export const newStats = (): BridgeStats => ({
  connections: 0,
  ready: 0,
  refused: 0,
  malformed: 0,
  rateLimited: 0,
  timeouts: 0,
  framesIn: 0,
  framesOut: 0,
  deliveriesDropped: 0,
  shed: 0,
});

class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const toBytes = (data: RawData): Uint8Array => {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
};

/** The one refusal of a key, worded the same whether or not the bridge serves the vault. */
export const notAuthorised = (key: Uint8Array, vaultId: string) =>
  `key ${sshFingerprintOf(key)} is not authorised for vault ${vaultId} on this bridge (or the bridge does not serve that vault); add its public key to the vault's authorized_keys`;

export function runSession(ws: WebSocket, vault: BridgeVault, ctx: SessionContext): Promise<void> {
  const { limits, log, stats } = ctx;
  stats.connections++;
  let state: "hello" | "auth" | "verifying" | "ready" | "closed" = "hello";
  const user = createUser();
  const hello: HubHello = {
    // Nothing about the vault before the peer proves a key: the name field (kept for clients of
    // protocol 1, which sign over it) carries the id the peer asked for.
    t: "hello",
    v: 1,
    vault: { id: vault.id, name: vault.id },
    hubKey: toBase64(ctx.hubKey.publicKey),
    nonce: toBase64(randomBytes(NONCE_BYTES)),
    cert: ctx.certFingerprint,
    user: user.getPublicKey(),
    account: vault.account ?? null,
  };
  let peerHello: PeerHello | undefined;
  let peerKey: Uint8Array | undefined;
  let nc: NatsConnection | undefined;
  let transport: NatsTransport | undefined;
  const frames = new TokenBucket(limits.framesPerSecond, limits.framesBurst, ctx.nowMs());
  const bytes = new TokenBucket(limits.bytesPerSecond, limits.bytesBurst, ctx.nowMs());
  const uploads = new Reassembler({
    messageBytesMax: limits.uploadBytesMax,
    bufferedBytesMax: limits.uploadBufferBytesMax,
    sendersMax: 64,
  });
  let deliveryId = 0;
  let stopWatch = () => {};
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  const close = (code: number, message: string, sendError: boolean) => {
    if (state === "closed") return;
    const wasReady = state === "ready";
    state = "closed";
    clearTimeout(timer);
    if (code === CloseCode.unauthorised || code === CloseCode.badSignature || code === CloseCode.unknownVault)
      stats.refused++;
    if (code === CloseCode.malformed || code === CloseCode.protocol || code === CloseCode.tooBig) stats.malformed++;
    if (code === CloseCode.rateLimited) stats.rateLimited++;
    if (code === CloseCode.handshakeTimeout) stats.timeouts++;
    log.info(
      { vault: vault.id, peer: peerKey ? sshFingerprintOf(peerKey) : undefined, code, reason: message, wasReady },
      "bridge connection closed",
    );
    try {
      if (sendError && ws.readyState === ws.OPEN)
        ws.send(encodeControl({ t: "error", code, message: message.slice(0, 1000) }));
      ws.close(code, message.slice(0, 120));
    } catch {
      ws.terminate();
    }
    stopWatch();
    void transport?.stop();
    void nc?.close().catch(() => {});
    resolveDone();
  };

  const timer = setTimeout(
    () => close(CloseCode.handshakeTimeout, `no handshake within ${limits.handshakeMs} ms`, true),
    limits.handshakeMs,
  );

  const verify = async (text: string) => {
    const auth = decodePeerAuth(text);
    const h = hello;
    const p = peerHello as PeerHello;
    const key = peerKey as Uint8Array;
    if (!(await verifySignature(fromBase64(auth.sig) as Uint8Array, transcript("peer", h, p), key))) {
      throw new Refusal(
        CloseCode.badSignature,
        "the handshake signature does not verify with the key the peer presented",
      );
    }
    if (vault.isAuthorised && !(await vault.isAuthorised(key))) {
      throw new Refusal(CloseCode.unauthorised, notAuthorised(key, vault.id));
    }
    let authenticator: ConnectionOptions["authenticator"];
    if (vault.account !== undefined) {
      if (auth.jwt === undefined)
        throw new Refusal(
          CloseCode.unauthorised,
          "this vault's NATS server runs in operator mode: the peer must send a user JWT",
        );
      const claims = jwtClaims(auth.jwt);
      const nats = claims?.nats as Record<string, unknown> | undefined;
      if (
        claims?.iss !== nkeyOf(key, "account") ||
        claims?.sub !== hello.user ||
        nats?.issuer_account !== vault.account ||
        nats?.type !== "user"
      ) {
        throw new Refusal(
          CloseCode.unauthorised,
          "the user JWT is not issued by the handshake's key for this bridge's user and the vault's account",
        );
      }
      authenticator = jwtAuthenticator(auth.jwt, user.getSeed());
    }
    try {
      nc = await connect({
        servers: ctx.natsServers,
        name: `edgesync-bridge ${sshFingerprintOf(key)}`,
        authenticator,
        timeout: limits.natsConnectTimeoutMs,
        maxReconnectAttempts: 10,
        ...ctx.natsOptions,
      });
    } catch (error) {
      if (error instanceof errors.AuthorizationError)
        throw new Refusal(
          CloseCode.unauthorised,
          `NATS refused key ${sshFingerprintOf(key)} for vault ${vault.id}: it is not in the vault's authorized_keys`,
        );
      throw new Refusal(CloseCode.upstream, `cannot reach the vault's NATS server: ${(error as Error).message}`);
    }
    if (state === "closed") {
      void nc.close();
      return;
    }
    void nc.closed().then((error) => {
      const revoked = error instanceof Error && /authori[sz]ation|revoked|expired/i.test(error.message);
      close(
        revoked ? CloseCode.unauthorised : CloseCode.upstream,
        revoked ? `NATS ended the peer's authority: ${error.message}` : "the NATS connection ended",
        true,
      );
    });
    const self = peerIdOf(key) as PeerId;
    transport = new NatsTransport({ nc, vaultId: vault.id, self, log, messageBytesMax: MESSAGE_BYTES_MAX });
    await transport.start({
      onMessage: (from, message) => {
        if (state !== "ready") return;
        if (ws.bufferedAmount > limits.sendBufferBytesMax) {
          stats.deliveriesDropped++;
          return;
        }
        try {
          for (const payload of toFrames(message, CHUNK_FRAME_BYTES, deliveryId++ >>> 0))
            ws.send(encodeData({ op: "deliver", from, payload }));
          stats.framesOut++;
        } catch {
          stats.deliveriesDropped++;
        }
      },
    });
    if ((state as string) === "closed") return;
    if (ctx.admitAuthenticated && !ctx.admitAuthenticated(ws)) {
      throw new Refusal(CloseCode.busy, `the bridge serves its maximum of ${limits.connectionsMax} peers; retry later`);
    }
    clearTimeout(timer);
    state = "ready";
    stats.ready++;
    stopWatch = watchAuthority({ nc, vault, key, onRevoked: (reason) => close(CloseCode.unauthorised, reason, true) });
    ws.send(encodeControl({ t: "ready", self }));
    log.info({ vault: vault.id, peer: sshFingerprintOf(key), self }, "bridge peer ready");
  };

  const onControl = (text: string) => {
    if (state === "hello") {
      peerHello = decodePeerHello(text);
      peerKey = fromBase64(peerHello.key) as Uint8Array;
      state = "auth";
      void Promise.resolve(ctx.hubKey.sign(transcript("hub", hello, peerHello))).then(
        (sig) => {
          if (state === "auth") ws.send(encodeControl({ t: "auth", sig: toBase64(sig) }));
        },
        (error: unknown) => close(CloseCode.upstream, `the hub key cannot sign: ${String(error)}`, true),
      );
      return;
    }
    if (state === "auth") {
      state = "verifying";
      verify(text).catch((error: unknown) => {
        if (error instanceof Refusal) close(error.code, error.message, true);
        else if (error instanceof FrameError) close(CloseCode.malformed, error.message, true);
        else close(CloseCode.upstream, String(error), true);
      });
      return;
    }
    throw new Refusal(
      CloseCode.protocol,
      state === "verifying"
        ? "a frame before the bridge answered the peer's signature"
        : "a control frame after the handshake",
    );
  };

  const onData = (data: Uint8Array) => {
    if (state !== "ready") throw new Refusal(CloseCode.protocol, "sync data before the handshake finished");
    const frame = decodeData(data);
    if (frame.op === "deliver") throw new Refusal(CloseCode.protocol, "peers do not send deliver frames");
    stats.framesIn++;
    const whole = uploads.push(frame.op === "send" ? `p:${frame.to}` : "broadcast", frame.payload, ctx.nowMs());
    if (!whole) return; // a chunk of a bigger message, or dropped by the reassembler's limits
    if (frame.op === "send") transport?.send(frame.to as PeerId, whole);
    else transport?.broadcast(whole);
  };

  ws.on("message", (data: RawData, isBinary: boolean) => {
    if (state === "closed") return;
    const raw = toBytes(data);
    const now = ctx.nowMs();
    if (!frames.take(1, now) || !bytes.take(raw.length, now))
      return close(
        CloseCode.rateLimited,
        `over the rate limit (${limits.framesPerSecond} frames/s, ${limits.bytesPerSecond} bytes/s)`,
        true,
      );
    try {
      if (isBinary) onData(raw);
      else {
        if (raw.length > CONTROL_BYTES_MAX) throw new FrameError(`control frame over ${CONTROL_BYTES_MAX} bytes`);
        onControl(new TextDecoder("utf-8", { fatal: true }).decode(raw));
      }
    } catch (error) {
      if (error instanceof Refusal) close(error.code, error.message, true);
      else if (error instanceof FrameError) close(CloseCode.malformed, `malformed frame: ${error.message}`, true);
      else if (error instanceof TypeError)
        close(CloseCode.malformed, "malformed frame: control frames are UTF-8 JSON", true);
      else close(CloseCode.protocol, String(error), true);
    }
  });
  ws.on("error", (error: Error & { code?: string }) => {
    // ws reports oversized and invalid frames here (then closes with 1009/1002).
    const tooBig = error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH";
    close(tooBig ? CloseCode.tooBig : CloseCode.malformed, `socket error: ${error.message}`, false);
  });
  ws.on("close", () => close(CloseCode.normal, "peer closed", false));
  try {
    ws.send(encodeControl(hello));
  } catch {
    close(CloseCode.normal, "socket closed before the hello", false);
  }
  return done;
}
