/**
 * `/automerge`: automerge-repo's websocket protocol (join → peer, then `request`/`sync` messages
 * in CBOR) for unmodified automerge-repo clients. The token in the URL (bridge/client/
 * automerge-token.ts) is checked before the upgrade — a bad or missing one gets an HTTP 401, an
 * unauthorised key a 403, and neither ever reaches a WebSocket. Behind it the bridge runs the
 * agent's SyncEngine *as the peer* (its own NATS connection, its own JWT in operator mode) and
 * translates between that engine's copy of the vault document and the client's sync state.
 *
 * Binary files: the document holds only a binary revision's hash and size (`blob`), never its
 * bytes (those travel as edgesync `blob` messages, which automerge-repo does not speak), so an
 * automerge-repo client sees the hash of a binary file, not its content. Text files are whole.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer, RawData } from "ws";
import * as A from "@automerge/automerge";
import { fromSeed } from "@nats-io/nkeys";
import {
  connect,
  jwtAuthenticator,
  errors,
  type ConnectionOptions,
  type NatsConnection,
} from "@nats-io/transport-node";
import { NatsTransport } from "../../agent/nats/nats-transport.js";
import { SyncEngine } from "../../agent/sync/engine.js";
import { MemoryStore } from "../../agent/vault/store/memory-store.js";
import { emptyVaultDoc, isReady } from "../../agent/vault/model/vault-doc.js";
import type { PeerId } from "../../agent/sync/ports.js";
import { fromBase64Url, tokenMessage, vaultDocumentId, type TokenFields } from "../client/automerge-token.js";
import { jwtClaims, nkeyOf, peerIdOf, randomBytes, sshFingerprintOf, verifySignature } from "../client/handshake.js";
import { CloseCode } from "../client/frames.js";
import { CborError, decodeCbor, encodeCbor, type CborValue } from "./cbor.js";
import { TokenBucket } from "./rate-limit.js";
import { watchAuthority } from "./revocation.js";
import { notAuthorised, type BridgeVault, type SessionContext } from "./session.js";

const URL_CHARS_MAX = 8 * 1024;
const NONCES_MAX = 100_000;
const PEER_ID_CHARS_MAX = 256;
const DOC_WAIT_MS = 15_000;
const TICK_MS = 500;
const PROTOCOL_V1 = "1";

class HttpRefusal extends Error {
  constructor(
    readonly status: 401 | 403 | 404 | 502 | 503,
    message: string,
  ) {
    super(message);
  }
}

export interface AutomergeEndpoint {
  handle(request: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function automergeEndpoint(
  ctx: SessionContext,
  vaultOf: (id: string) => BridgeVault | undefined | Promise<BridgeVault | undefined>,
  wss: WebSocketServer,
  track: (ws: WebSocket, socket: Duplex) => void,
): AutomergeEndpoint {
  const lifetimeMs = ctx.limits.automergeTokenLifetimeMs;
  const nonces = new Map<string, number>();
  const remember = (nonce: string, now: number) => {
    for (const [n, expiry] of nonces) {
      if (expiry > now) break; // insertion order is expiry order (same lifetime for all)
      nonces.delete(n);
    }
    if (nonces.has(nonce))
      throw new HttpRefusal(401, "this token was already used: sign a new one for every connection");
    if (nonces.size >= NONCES_MAX) throw new HttpRefusal(503, "too many recent connections; retry in a minute");
    nonces.set(nonce, now + 2 * lifetimeMs);
  };

  const admit = async (
    request: IncomingMessage,
  ): Promise<{ vault: BridgeVault; nc: NatsConnection; key: Uint8Array }> => {
    if ((request.url ?? "").length > URL_CHARS_MAX) throw new HttpRefusal(401, "URL too long");
    const query = new URL(request.url ?? "/", "http://bridge").searchParams;
    const field = (name: string, optional = false) => {
      const values = query.getAll(name);
      if (values.length > 1) throw new HttpRefusal(401, `token field ${name} given twice`);
      if (values.length === 0 && !optional)
        throw new HttpRefusal(401, `no token: sign one with edgesync/client automergeEndpointUrl (missing ${name})`);
      return values[0];
    };
    if (field("v") !== "1") throw new HttpRefusal(401, "token version must be 1");
    const fields: TokenFields = { vault: field("vault"), key: field("key"), ts: field("ts"), nonce: field("nonce") };
    const jwt = field("jwt", true);
    const useed = field("useed", true);
    if (jwt !== undefined) fields.jwt = jwt;
    if (useed !== undefined) fields.useed = useed;
    const key = fromBase64Url(fields.key);
    const sig = fromBase64Url(field("sig"));
    const nonce = fromBase64Url(fields.nonce);
    const ts = Number(fields.ts);
    const now = ctx.nowMs();
    if (key?.length !== 32 || sig?.length !== 64 || nonce?.length !== 16 || !/^\d{1,16}$/.test(fields.ts))
      throw new HttpRefusal(401, "malformed token");
    if (Math.abs(now - ts) > lifetimeMs)
      throw new HttpRefusal(
        401,
        `token is more than ${lifetimeMs / 1000} s from the bridge's clock: sign a fresh one (and check the clocks)`,
      );
    if (!(await verifySignature(sig, tokenMessage(fields, ctx.certFingerprint), key)))
      throw new HttpRefusal(401, "token signature does not verify (signed for another bridge certificate or vault?)");
    remember(fields.nonce, now);
    const vault = await vaultOf(fields.vault);
    // The same answer whether or not the vault is served: no oracle for which vault ids exist.
    if (!vault || (vault.isAuthorised && !(await vault.isAuthorised(key))))
      throw new HttpRefusal(403, notAuthorised(key, fields.vault));
    let authenticator: ConnectionOptions["authenticator"];
    if (vault.account !== undefined) {
      if (fields.jwt === undefined || fields.useed === undefined)
        throw new HttpRefusal(403, "operator mode: the token must carry a user JWT and its ephemeral user seed");
      let userPublic: string;
      try {
        userPublic = fromSeed(new TextEncoder().encode(fields.useed)).getPublicKey();
      } catch {
        throw new HttpRefusal(401, "malformed user seed");
      }
      const claims = jwtClaims(fields.jwt);
      const nats = claims?.nats as Record<string, unknown> | undefined;
      if (
        claims?.iss !== nkeyOf(key, "account") ||
        claims?.sub !== userPublic ||
        nats?.issuer_account !== vault.account
      )
        throw new HttpRefusal(403, "the token's JWT is not issued by its key for the vault's account");
      authenticator = jwtAuthenticator(fields.jwt, new TextEncoder().encode(fields.useed));
    }
    try {
      const nc = await connect({
        servers: ctx.natsServers,
        name: `edgesync-bridge automerge ${sshFingerprintOf(key)}`,
        authenticator,
        timeout: ctx.limits.natsConnectTimeoutMs,
        maxReconnectAttempts: 10,
        ...ctx.natsOptions,
      });
      return { vault, nc, key };
    } catch (error) {
      if (error instanceof errors.AuthorizationError)
        throw new HttpRefusal(403, `NATS refused key ${sshFingerprintOf(key)} for vault ${vault.id}`);
      throw new HttpRefusal(502, "cannot reach the vault's NATS server");
    }
  };

  return {
    handle(request, socket, head) {
      ctx.stats.connections++;
      admit(request)
        .then(
          ({ vault, nc, key }) => {
            if (socket.destroyed) {
              void nc.close();
              return;
            }
            wss.handleUpgrade(request, socket, head, (ws) => {
              track(ws, socket);
              if (ctx.admitAuthenticated && !ctx.admitAuthenticated(ws)) {
                ws.close(CloseCode.busy, "the bridge serves its maximum of peers; retry later");
                void nc.close().catch(() => {});
                return;
              }
              runAutomergeSession(ws, vault, nc, key, ctx).catch((error: unknown) => {
                ctx.log.warn({ vault: vault.id, error: String(error) }, "automerge session failed");
                ws.terminate();
                void nc.close().catch(() => {});
              });
            });
          },
          (error: unknown) => {
            const refusal = error instanceof HttpRefusal ? error : new HttpRefusal(502, String(error));
            if (refusal.status === 401 || refusal.status === 403) ctx.stats.refused++;
            ctx.log.info({ status: refusal.status, reason: refusal.message }, "automerge connection refused");
            const body = `${refusal.message}\n`;
            socket.end(
              `HTTP/1.1 ${refusal.status} ${refusal.status === 401 ? "Unauthorized" : refusal.status === 403 ? "Forbidden" : refusal.status === 404 ? "Not Found" : "Unavailable"}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
            );
          },
        )
        .catch(() => socket.destroy()); // a throw while upgrading drops this socket, never the process
    },
  };
}

type Message = { [key: string]: CborValue };

async function runAutomergeSession(
  ws: WebSocket,
  vault: BridgeVault,
  nc: NatsConnection,
  key: Uint8Array,
  ctx: SessionContext,
): Promise<void> {
  const self = peerIdOf(key) as PeerId;
  const documentId = vaultDocumentId(vault.id);
  const serverPeer = `edgesync-bridge-${Buffer.from(randomBytes(8)).toString("hex")}`;
  const frames = new TokenBucket(ctx.limits.framesPerSecond, ctx.limits.framesBurst, ctx.nowMs());
  const bytes = new TokenBucket(ctx.limits.bytesPerSecond, ctx.limits.bytesBurst, ctx.nowMs());
  let client: string | undefined;
  let syncState = A.initSyncState();
  let subscribed = false;
  let closed = false;

  const send = (message: Message) => {
    if (closed || ws.bufferedAmount > ctx.limits.sendBufferBytesMax) return;
    ws.send(encodeCbor(message));
    ctx.stats.framesOut++;
  };
  const push = () => {
    if (!client || !subscribed || !isReady(engine.doc)) return;
    const [next, data] = A.generateSyncMessage(engine.doc, syncState);
    syncState = next;
    if (data) send({ type: "sync", senderId: serverPeer, targetId: client, documentId, data });
  };
  const engine = new SyncEngine({
    self,
    doc: emptyVaultDoc(Buffer.from(randomBytes(16)).toString("hex")),
    store: new MemoryStore(),
    transport: new NatsTransport({ nc, vaultId: vault.id, self, log: ctx.log }),
    clock: { now: ctx.nowMs },
    log: ctx.log,
    onChange: () => push(),
  });
  const tick = setInterval(() => void engine.tick().then(push), TICK_MS);
  let stopWatch = () => {};
  const close = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    clearInterval(tick);
    stopWatch();
    if (code === CloseCode.malformed || code === CloseCode.protocol) ctx.stats.malformed++;
    if (code === CloseCode.rateLimited) ctx.stats.rateLimited++;
    ctx.log.info({ vault: vault.id, peer: sshFingerprintOf(key), code, reason }, "automerge connection closed");
    if (client && code >= 4000) {
      try {
        ws.send(encodeCbor({ type: "error", senderId: serverPeer, targetId: client, message: reason }));
      } catch {
        // closing anyway
      }
    }
    ws.close(code, reason.slice(0, 120));
    void engine.stop().finally(() => nc.close().catch(() => {}));
  };
  stopWatch = watchAuthority({ nc, vault, key, onRevoked: (reason) => close(CloseCode.unauthorised, reason) });
  void nc
    .closed()
    .then((error) =>
      close(
        error instanceof Error && /authori[sz]ation|revoked|expired/i.test(error.message)
          ? CloseCode.unauthorised
          : CloseCode.upstream,
        "the NATS connection ended",
      ),
    );

  const waitForDoc = async () => {
    const deadline = ctx.nowMs() + DOC_WAIT_MS;
    while (!isReady(engine.doc) && !closed && ctx.nowMs() < deadline) await new Promise((r) => setTimeout(r, 25));
    return isReady(engine.doc);
  };

  const onMessage = async (message: Message) => {
    const type = message.type;
    if (type === "join") {
      const sender = message.senderId;
      const versions = message.supportedProtocolVersions;
      if (typeof sender !== "string" || sender.length === 0 || sender.length > PEER_ID_CHARS_MAX)
        return close(CloseCode.malformed, "join without a valid senderId");
      if (!Array.isArray(versions) || !versions.includes(PROTOCOL_V1))
        return close(CloseCode.protocol, "this bridge speaks automerge-repo websocket protocol version 1 only");
      client = sender;
      send({
        type: "peer",
        senderId: serverPeer,
        targetId: client,
        peerMetadata: { isEphemeral: true },
        selectedProtocolVersion: PROTOCOL_V1,
      });
      return;
    }
    if (type !== "request" && type !== "sync") return; // ephemeral, remote-heads-changed, …: nothing to relay
    if (!client) return close(CloseCode.protocol, "sync before join");
    if (message.senderId !== client || typeof message.documentId !== "string" || !(message.data instanceof Uint8Array))
      return close(CloseCode.malformed, "malformed sync message");
    if (message.documentId !== documentId) {
      send({
        type: "doc-unavailable",
        senderId: serverPeer,
        targetId: client,
        documentId: message.documentId.slice(0, 128),
      });
      return;
    }
    subscribed = true;
    if (!(await waitForDoc())) {
      send({ type: "doc-unavailable", senderId: serverPeer, targetId: client, documentId });
      return;
    }
    const data = message.data;
    let bad: unknown;
    await engine.update((doc) => {
      try {
        const [next, state] = A.receiveSyncMessage(doc, syncState, data);
        syncState = state;
        return next;
      } catch (error) {
        bad = error;
        return doc;
      }
    });
    if (bad !== undefined)
      return close(CloseCode.malformed, `bad Automerge sync message: ${String(bad).slice(0, 200)}`);
    push();
  };

  let chain = Promise.resolve();
  ws.on("message", (data: RawData, isBinary: boolean) => {
    if (closed) return;
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const now = ctx.nowMs();
    if (!frames.take(1, now) || !bytes.take(raw.length, now))
      return close(CloseCode.rateLimited, "over the rate limit");
    if (!isBinary) return close(CloseCode.malformed, "automerge-repo messages are binary CBOR");
    let message: CborValue;
    try {
      message = decodeCbor(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    } catch (error) {
      return close(CloseCode.malformed, error instanceof CborError ? error.message : "malformed CBOR");
    }
    if (
      message === null ||
      typeof message !== "object" ||
      Array.isArray(message) ||
      message instanceof Uint8Array ||
      typeof message.type !== "string"
    )
      return close(CloseCode.malformed, "a message must be a CBOR map with a type");
    ctx.stats.framesIn++;
    const m = message;
    chain = chain.then(() => onMessage(m)).catch((error: unknown) => close(CloseCode.protocol, String(error)));
  });
  ws.on("error", () => close(CloseCode.malformed, "socket error"));
  ws.on("close", () => close(CloseCode.normal, "peer closed"));
  await engine.start();
  ctx.stats.ready++;
  ctx.log.info({ vault: vault.id, peer: sshFingerprintOf(key), self }, "automerge-repo peer ready");
}
