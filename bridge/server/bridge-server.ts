/**
 * The bridge's listener: HTTPS (the hub's TLS certificate) or plain HTTP with `--no-tls`, and
 * WebSocket upgrades on `/v1/<vaultId>` (the edgesync bridge protocol, session.ts) and on
 * `/automerge` (automerge-repo's protocol after a signed URL token, automerge-endpoint.ts). Anything else
 * is a 404. Unauthenticated sockets are limited per source address and cut after a short timeout
 * (admission.ts); authenticated peers have their own limit, which strangers cannot fill.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { certFingerprint } from "../../agent/auth/tls.js";
import { silentLog, type Log } from "../../agent/sync/ports.js";
import { CloseCode } from "../client/frames.js";
import type { SigningKey } from "../client/handshake.js";
import {
  DEFAULT_LIMITS,
  newStats,
  runSession,
  type BridgeLimits,
  type BridgeStats,
  type BridgeVault,
  type SessionContext,
} from "./session.js";
import type { ConnectionOptions } from "@nats-io/transport-node";
import { automergeEndpoint } from "./automerge-endpoint.js";
import { AUTOMERGE_PATH, vaultAccountOf } from "../client/automerge-token.js";
import { Admission } from "./admission.js";

export interface BridgeServerConfig {
  host: string;
  /** 0 for an ephemeral port. */
  port: number;
  /** The hub's certificate and key (agent/auth/tls.ts ensureHubTls); absent = plain ws:// (`--no-tls`). */
  tls?: { certPem: string; keyPem: string };
  hubKey: SigningKey;
  /** The vault a peer asks for by id, or undefined when this bridge does not serve it. */
  vault: (id: string) => BridgeVault | undefined | Promise<BridgeVault | undefined>;
  natsServers: string | string[];
  natsOptions?: Partial<ConnectionOptions>;
  limits?: Partial<BridgeLimits>;
  /** The NATS server runs in operator mode (a hub): an unknown vault's decoy handshake names its account as a served one would. */
  operatorMode?: boolean;
  log?: Log;
}

export interface BridgeServer {
  port: number;
  /** `wss://host:port` (or ws://). */
  origin: string;
  certFingerprint: string | null;
  stats: BridgeStats;
  /** Open WebSocket connections. */
  connections(): number;
  /** Sockets whose peer has not proved a key yet (TCP, TLS, HTTP or WebSocket handshake). */
  unauthenticated(): number;
  close(): Promise<void>;
}

const SESSION_PATH = /^\/v1\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export async function startBridge(config: BridgeServerConfig): Promise<BridgeServer> {
  const limits = { ...DEFAULT_LIMITS, ...config.limits };
  const log = config.log ?? silentLog;
  const stats = newStats();
  const fingerprint = config.tls ? certFingerprint(config.tls.certPem) : null;
  const admission = new Admission(limits, () => stats.shed++);
  const authenticated = new Set<WebSocket>();
  /** The upgraded socket under each WebSocket: what admission.ts counts. */
  const socketOf = new WeakMap<WebSocket, Socket>();
  const ctx: SessionContext = {
    hubKey: config.hubKey,
    certFingerprint: fingerprint,
    natsServers: config.natsServers,
    natsOptions: config.natsOptions,
    limits,
    log,
    stats,
    nowMs: () => Date.now(),
    admitAuthenticated: (ws) => {
      if (authenticated.size >= limits.connectionsMax) return false;
      authenticated.add(ws);
      ws.once("close", () => authenticated.delete(ws));
      const socket = socketOf.get(ws);
      if (socket) admission.authenticated(socket);
      return true;
    },
  };
  const notFound = (_req: IncomingMessage, res: import("node:http").ServerResponse) => {
    res
      .writeHead(404, { "content-type": "text/plain" })
      .end("edgesync bridge: connect a WebSocket to /v1/<vault id>\n");
  };
  const server: Server = config.tls
    ? createHttpsServer(
        { cert: config.tls.certPem, key: config.tls.keyPem, handshakeTimeout: limits.preAuthTimeoutMs },
        notFound,
      )
    : createHttpServer(notFound);
  guardServer(server, admission);
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.dataFrameBytesMax, perMessageDeflate: false });
  // automerge-repo sends each sync message whole: its (already authenticated) peers get the upload limit per frame.
  const automergeWss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.uploadBytesMax,
    perMessageDeflate: false,
  });
  const open = new Set<WebSocket>();
  const track = (ws: WebSocket, socket: Duplex) => {
    // Before anything else can happen on it: ws reports oversized and invalid frames as 'error'
    // events, and one without a listener would take the whole process down.
    ws.on("error", () => {});
    // The listener's upgrade sockets are net (or TLS) sockets; Duplex is only how the event types them.
    socketOf.set(ws, socket as Socket);
    admission.upgraded(socket as Socket);
    open.add(ws);
    ws.on("close", () => open.delete(ws));
  };
  const automerge = automergeEndpoint(ctx, (id) => config.vault(id), automergeWss, track);

  server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const path = pathOf(request.url);
    const match = SESSION_PATH.exec(path ?? "");
    if (!match && path !== AUTOMERGE_PATH) return refuse(socket, 404, "Not Found");
    if (!match) return automerge.handle(request, socket, head);
    wss.handleUpgrade(request, socket, head, (ws) => {
      track(ws, socket);
      serve(ws, match[1]).catch((error: unknown) => {
        log.warn({ vault: match[1], error: String(error) }, "bridge session failed");
        ws.terminate();
      });
    });
  });

  const serve = async (ws: WebSocket, vaultId: string) => {
    let vault: BridgeVault | undefined;
    try {
      vault = await config.vault(vaultId);
    } catch (error) {
      log.warn({ vault: vaultId, error: String(error) }, "cannot look up a vault for the bridge");
    }
    // An unknown vault runs the same handshake as a served one and refuses the key at the same step
    // with the same words, so a stranger cannot tell which vault ids this bridge serves.
    await runSession(ws, vault ?? decoyVault(vaultId, config.operatorMode === true), ctx);
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  server.on("error", (error) => log.warn({ error: String(error) }, "bridge listener error"));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return {
    port,
    origin: `${config.tls ? "wss" : "ws"}://${host}:${port}`,
    certFingerprint: fingerprint,
    stats,
    connections: () => open.size,
    unauthenticated: () => admission.unauthenticated(),
    close: async () => {
      for (const ws of open) ws.close(CloseCode.normal, "bridge stopping");
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => automergeWss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
    },
  };
}

/** Every socket the listener accepts gets an error handler and a place in the admission count. */
function guardServer(server: Server, admission: Admission): void {
  server.on("connection", (socket: Socket) => {
    socket.on("error", () => socket.destroy());
    admission.accept(socket);
  });
  // Garbage HTTP and failed TLS handshakes: drop the socket, never the process.
  server.on("clientError", (_error: Error, socket: Duplex) => socket.destroy());
  server.on("tlsClientError", (_error: Error, socket: Duplex) => socket.destroy());
  server.on("secureConnection", (socket: Duplex) => socket.on("error", () => socket.destroy()));
}

/** What an unknown vault id gets: the handshake of a vault that authorises no key. */
function decoyVault(id: string, operatorMode: boolean): BridgeVault {
  return { id, name: id, account: operatorMode ? vaultAccountOf(id) : undefined, isAuthorised: () => false };
}

/** The path of a request target, or undefined when it is no URL (`//[` makes `new URL` throw). */
export function pathOf(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? "/", "http://bridge").pathname;
  } catch {
    return undefined;
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
