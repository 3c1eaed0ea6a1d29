/**
 * The web inbox: a page and a WebSocket (`/ws`) served by the notify service on HOST:PORT
 * (loopback by default). The browser proves which ed25519 key it holds by signing a fresh challenge;
 * a key that is an active device of the set gets its messages and live updates, any other key may
 * only present a pairing token. Unpairing the browser closes its socket at once.
 *
 * Requests whose Host (and, for the socket, Origin) is not this server's own address are refused,
 * so a web page elsewhere cannot reach the inbox through DNS rebinding or a cross-site socket.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { WebSocketServer, type WebSocket } from "ws";
import type { Clock, Log } from "../agent/sync/ports.js";
import { parseListenAddress } from "../agent/metrics.js";
import { UsageError } from "../agent/errors.js";
import type { NotifyStore } from "./store.js";
import { isActive } from "./devices.js";
import { base64urlDecode, isPeerId, utf8 } from "./encoding.js";
import { verifyEd25519 } from "./verify.js";
import { pairSubject } from "../agent/nats/notify-subjects.js";
import type { RpcReply, SignedRequest } from "./rpc.js";
import { AUTH_DOMAIN, CLOSE_REVOKED, type ClientFrame, type ServerFrame } from "./web/protocol.js";
import { loadInboxBundle } from "./web/bundle.js";
import { INBOX_HTML } from "./web/page.js";

export interface InboxServerConfig {
  listen: string;
  publicUrl?: string;
  store: NotifyStore;
  set: string;
  nc: NatsConnection;
  log: Log;
  clock: Clock;
  /** Validates and stores a message the browser signed (`from` must be the socket's key). */
  ingest(bytes: Uint8Array, from: string): Promise<RpcReply<{ id: string }>>;
}

export interface InboxServer {
  url: string;
  close(): Promise<void>;
}

/** Socket frames are small JSON; a message is at most 48 KiB. */
const FRAME_BYTES_MAX = 64 * 1024;
const CONNECTIONS_MAX = 64;
/** Messages sent to a browser when it connects (older ones stay in `edgesync notify log`). */
const INITIAL_MESSAGES_MAX = 500;
/** How long a forwarded pairing request waits for the issuing agent. */
const PAIR_TIMEOUT_MS = 4_000;
/** After pairing, how long to wait for the new device record to reach this service's store. */
const PAIR_SETTLE_MS = 5_000;
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function startInboxServer(config: InboxServerConfig): Promise<InboxServer> {
  const { host, port } = parseListenAddress(config.listen, "--inbox");
  const server = createServer((req, res) => void serveHttp(req, res, allowedHosts));
  const wss = new WebSocketServer({ noServer: true, maxPayload: FRAME_BYTES_MAX });
  const allowedHosts = new Set<string>();
  server.on("upgrade", (req, socket, head) => {
    const origin = req.headers.origin;
    if (
      req.url !== "/ws" ||
      !allowedHosts.has(req.headers.host ?? "") ||
      (origin !== undefined && !allowedHosts.has(origin.replace(/^https?:\/\//, ""))) ||
      wss.clients.size >= CONNECTIONS_MAX
    ) {
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, config));
  });
  await new Promise<void>((resolve, reject) =>
    server
      .once("error", (error) => reject(listenError(error, config.listen)))
      .listen(port === -1 ? 0 : port, host, resolve),
  );
  const bound = (server.address() as { port: number }).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  for (const h of [`${shownHost}:${bound}`, `localhost:${bound}`, `127.0.0.1:${bound}`, `[::1]:${bound}`])
    allowedHosts.add(h);
  if (config.publicUrl) allowedHosts.add(new URL(config.publicUrl).host);
  const url = `http://${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : shownHost}:${bound}/`;
  return {
    url,
    close: () => closeAll(server, wss),
  };
}

async function serveHttp(req: IncomingMessage, res: ServerResponse, allowedHosts: Set<string>): Promise<void> {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  if (!allowedHosts.has(req.headers.host ?? "")) return plain(res, 421, "unknown host\n");
  if (req.method !== "GET") return plain(res, 405, "method not allowed\n");
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/" || path === "/index.html") {
    res.writeHead(200, {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": CSP,
      "Cache-Control": "no-store",
    });
    return void res.end(INBOX_HTML);
  }
  if (path === "/inbox.js") {
    const bundle = await loadInboxBundle();
    if (bundle === undefined) return plain(res, 503, "the web inbox script was not built: run `npm run build`\n");
    res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store" });
    return void res.end(bundle);
  }
  if (path === "/healthz") return plain(res, 200, "ok\n");
  plain(res, 404, "not found\n");
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(text);
}

function serveSocket(ws: WebSocket, cfg: InboxServerConfig): void {
  const nonce = randomBytes(24).toString("base64url");
  const cleanups: (() => void)[] = [];
  let peer: string | undefined;
  let ready = false;
  const send = (frame: ServerFrame) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };
  const goReady = () => {
    if (ready || peer === undefined) return;
    const device = cfg.store.device(peer);
    if (!isActive(device)) return send({ t: "unpaired" });
    ready = true;
    send({ t: "ready", device, messages: cfg.store.list({ limit: INITIAL_MESSAGES_MAX }) });
    cleanups.push(cfg.store.onMessage((message) => send({ t: "message", message })));
    cleanups.push(
      cfg.store.onDevice((d) => {
        if (d.peer === peer && !isActive(d)) {
          send({ t: "revoked" });
          ws.close(CLOSE_REVOKED, "unpaired");
        }
      }),
    );
  };
  const onFrame = async (frame: ClientFrame) => {
    if (frame.t === "auth") {
      if (peer !== undefined) return send({ t: "error", message: "already authenticated" });
      const sig = typeof frame.sig === "string" ? base64urlDecode(frame.sig) : undefined;
      if (
        typeof frame.from !== "string" ||
        !isPeerId(frame.from) ||
        sig === undefined ||
        !verifyEd25519(sig, utf8(AUTH_DOMAIN + nonce), frame.from)
      ) {
        send({ t: "error", message: "authentication failed" });
        return ws.close(1008, "authentication failed");
      }
      peer = frame.from;
      return goReady();
    }
    if (peer === undefined) return send({ t: "error", message: "authenticate first" });
    if (frame.t === "pair") {
      if (ready) return send({ t: "error", message: "this browser is already paired" });
      if (frame.request?.from !== peer)
        return send({ t: "error", message: "the pairing request must come from this browser's key" });
      return pairThroughNats(cfg, frame.request, peer).then((problem) =>
        problem ? send({ t: "error", message: problem }) : goReady(),
      );
    }
    if (frame.t === "send") {
      if (!ready) return send({ t: "error", message: "pair this browser first", ref: frame.ref });
      if (typeof frame.json !== "string") return send({ t: "error", message: "malformed frame", ref: frame.ref });
      const reply = await cfg.ingest(utf8(frame.json), peer);
      return send(
        reply.ok
          ? { t: "sent", ref: frame.ref, id: reply.result.id }
          : { t: "error", message: reply.error.message, ref: frame.ref },
      );
    }
    send({ t: "error", message: "unknown frame" });
  };
  ws.on("message", (data, isBinary) => {
    let frame: ClientFrame;
    try {
      if (isBinary) throw new Error("binary");
      frame = JSON.parse(String(data)) as ClientFrame;
    } catch {
      return send({ t: "error", message: "frames are JSON text" });
    }
    onFrame(frame).catch((error: unknown) => {
      cfg.log.warn({ error: String(error) }, "notify inbox: frame failed");
      send({ t: "error", message: "internal error" });
    });
  });
  ws.on("close", () => cleanups.forEach((c) => c()));
  ws.on("error", () => ws.terminate());
  send({ t: "challenge", nonce, set: cfg.set, service: cfg.store.engine.self });
}

/** Presents the browser's signed pairing request to every service; undefined on success, else why not. */
async function pairThroughNats(
  cfg: InboxServerConfig,
  request: SignedRequest,
  peer: string,
): Promise<string | undefined> {
  let reply: RpcReply;
  try {
    const msg = await cfg.nc.request(pairSubject(cfg.set), utf8(JSON.stringify(request)), { timeout: PAIR_TIMEOUT_MS });
    reply = JSON.parse(new TextDecoder().decode(msg.data)) as RpcReply;
  } catch {
    return "unknown or expired pairing token: no agent of this set issued it (run `edgesync notify pair` for a new one)";
  }
  if (!reply.ok) return reply.error.message;
  const deadline = cfg.clock.now() + PAIR_SETTLE_MS;
  while (!isActive(cfg.store.device(peer))) {
    if (cfg.clock.now() > deadline)
      return "paired, but this agent has not heard of it yet; reload the page in a moment";
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

async function closeAll(server: Server, wss: WebSocketServer): Promise<void> {
  for (const ws of wss.clients) ws.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A listen failure the user can fix, as a one-line error naming the flag; anything else as is. */
function listenError(error: NodeJS.ErrnoException, listen: string): Error {
  const problem: Record<string, string> = {
    EADDRINUSE: `--inbox ${listen}: the port is in use; choose another (or port -1 for any free one)`,
    EACCES: `--inbox ${listen}: not allowed to listen there; use a port above 1023`,
    EADDRNOTAVAIL: `--inbox ${listen}: that address is not one of this machine's; use 127.0.0.1 or 0.0.0.0`,
  };
  const known = error.code === undefined ? undefined : problem[error.code];
  return known ? new UsageError(known, { cause: error }) : error;
}
