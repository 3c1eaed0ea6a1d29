/**
 * The notify service an agent runs: `startNotifyService(runtime)` → `{ stop() }`.
 * Config → create → start → stop, like the agent's other components.
 *
 * Start-up order, and why:
 *  1. the store (`<homeDir>/notify/<set>/`), synced over `es.v1.notify.<set>.sync.…` — loaded first
 *     so every later step can check senders against its device list;
 *  2. this device registers itself as a `full` device (idempotent), so its own CLI may send and pair;
 *  3. the pairing book (`<homeDir>/notify/pairings-<set>.json`, never synced; `pairings.json` for `default`);
 *  4. subscriptions: live messages in the store queue group (exactly one service stores each one;
 *     NATS prefers a member on the publisher's own server, i.e. the sender's own agent), requests
 *     in the rpc queue group, and pairing requests (every service hears them; only the issuer answers);
 *  5. the web inbox, when asked for (`inboxListen`).
 * stop() runs the list backwards and is idempotent.
 */
import { join } from "node:path";
import { hostname } from "node:os";
import type { NatsConnection, Msg, Subscription } from "@nats-io/transport-node";
import { NatsTransport } from "../agent/nats/nats-transport.js";
import { sshFingerprint } from "../agent/auth/openssh-format.js";
import { asPeerId, type Clock, type Log } from "../agent/sync/ports.js";
import { NotifyStore } from "./store.js";
import { PairingBook } from "./pairing.js";
import { pairingUrl } from "./pair-url.js";
import { checkRequest, NonceCache, type RpcReply } from "./rpc.js";
import {
  DEFAULT_SET,
  liveWildcard,
  RPC_QUEUE,
  STORE_QUEUE,
  pairSubject,
  parseLiveSubject,
  parseRpcSubject,
  rpcWildcard,
  syncPrefix,
  notifySubject,
} from "../agent/nats/notify-subjects.js";
import { acceptPairing, answerRequest, ingestMessage, type HandlerContext } from "./handlers.js";
import { notifyKeys, isActive, type DeviceRecord } from "./devices.js";
import { verifyEd25519 } from "./verify.js";
import { encodeMessage } from "./model.js";
import { startInboxServer, type InboxServer } from "./inbox-server.js";

/** What the agent hands the notify service. */
export interface NotifyRuntime {
  /** The agent's NATS connection (to its own local server). */
  nc: NatsConnection;
  /** This device's key: `peerId` is its `U…` nkey, `sign` signs with it. */
  device: { peerId: string; sign(bytes: Uint8Array): Uint8Array; publicKey: Uint8Array; name?: string };
  /** EDGESYNC_HOME (default ~/.edgesync); the store lives in `<homeDir>/notify/`. */
  homeDir: string;
  log: Log;
  /** Adds an operation to the agent's local control socket. */
  registerControl?(op: string, handler: (args: Record<string, unknown>) => Promise<unknown>): void;
  /** Serve the web inbox on HOST:PORT (`--inbox`); loopback unless you put a TLS proxy in front. */
  inboxListen?: string;
  /** The inbox's address as other devices reach it (put in pairing URLs); default its listen address. */
  publicInboxUrl?: string;
  /** The NATS URL a paired device dials (the hub's public client URL); default this agent's server. */
  publicNatsUrl?: string;
  /** Notify set (one synced document): a vault id, or "default" (the default). An agent runs one service per set. */
  set?: string;
  clock?: Clock;
}

export interface NotifyService {
  readonly store: NotifyStore;
  /** The web inbox's URL when it is served. */
  readonly inboxUrl: string | undefined;
  /** Active notify-only devices, for the auth layer (see devices.ts). */
  notifyKeys(): { peer: string; name: string }[];
  /** Every device record (full and notify, revoked ones with `revokedAt`): nats-auth.ts turns it into the notify account. */
  devices(): DeviceRecord[];
  /** Called whenever a device is paired, unpaired or registered. */
  onDevicesChanged(listener: (devices: DeviceRecord[]) => void): () => void;
  stop(): Promise<void>;
}

const TICK_MS = 1_000;
const systemClock: Clock = { now: () => Date.now() };

export async function startNotifyService(runtime: NotifyRuntime): Promise<NotifyService> {
  const set = runtime.set ?? DEFAULT_SET;
  const clock = runtime.clock ?? systemClock;
  const { nc, log, device } = runtime;
  const dir = join(runtime.homeDir, "notify");
  const self = { peerId: device.peerId, sign: (b: Uint8Array) => device.sign(b), name: device.name ?? hostname() };
  const transport = new NatsTransport({ nc, subjectPrefix: syncPrefix(set), self: asPeerId(device.peerId), log });

  // 1–2. Store, then our own registration.
  const store = await NotifyStore.open({
    dir: join(dir, set),
    set,
    self: device.peerId,
    transport,
    clock,
    log,
    guardSync: true,
  });
  await store.start();
  const mine = store.device(device.peerId);
  if (!isActive(mine) || mine.kind !== "full" || mine.name !== self.name) {
    await store.putDevice({
      v: 1,
      peer: device.peerId,
      name: self.name,
      kind: "full",
      addedAt: clock.now(),
      addedBy: device.peerId,
    });
  }
  // 3. Pairing book.
  const pairings = await PairingBook.load(join(dir, pairingsFile(set)), clock, log);
  const fingerprint = sshFingerprint(device.publicKey);
  const inboxRef: { server?: InboxServer } = {};
  const ctx: HandlerContext = {
    store,
    pairings,
    self,
    set,
    clock,
    log,
    verify: verifyEd25519,
    buckets: new Map(),
    waits: { count: 0 },
    pairingLink: (token) => {
      const hub = runtime.publicNatsUrl ?? withScheme(nc.getServer());
      const base = runtime.publicInboxUrl ?? inboxRef.server?.url;
      return { url: pairingUrl({ token, hub, fp: fingerprint, set }, base), hub, fp: fingerprint };
    },
  };
  const nonces = new NonceCache();

  // 4. Subscriptions.
  const subs: Subscription[] = [];
  // Never throws: a reply that cannot be sent (closed connection, over max_payload) is logged, not fatal.
  const respond = (msg: Msg, reply: RpcReply) => {
    if (!msg.reply) return;
    try {
      msg.respond(new TextEncoder().encode(JSON.stringify(reply)));
    } catch (error) {
      log.warn({ subject: msg.subject, error: String(error) }, "notify: could not answer a request");
      try {
        msg.respond(
          new TextEncoder().encode(
            JSON.stringify({
              ok: false,
              error: {
                name: "NotifyInputError",
                message: "the answer was too large to send; narrow the request (--project, --limit)",
              },
            }),
          ),
        );
      } catch {
        // the connection is gone; the asker times out
      }
    }
  };
  const answered = (msg: Msg) => (reply: RpcReply | undefined) => {
    if (reply) respond(msg, reply);
  };
  const failed = (msg: Msg) => (error: unknown) => {
    log.warn({ subject: msg.subject, error: String(error) }, "notify: request failed");
    respond(msg, {
      ok: false,
      error: { name: "NotifyInputError", message: "the notify service failed to handle the request" },
    });
  };
  subs.push(
    nc.subscribe(liveWildcard(set), {
      queue: STORE_QUEUE,
      callback: (error, msg) => {
        if (error) return;
        const subject = parseLiveSubject(set, msg.subject);
        if (!subject) return;
        ingestMessage(ctx, msg.data, { projectToken: subject.project, threadToken: subject.thread }).then((reply) => {
          if (!reply.ok) log.warn({ subject: msg.subject, reason: reply.error.message }, "notify: dropped a message");
          respond(msg, reply.ok ? { ok: true, result: reply.result } : reply);
        }, failed(msg));
      },
    }),
  );
  subs.push(
    nc.subscribe(rpcWildcard(set), {
      queue: RPC_QUEUE,
      callback: (error, msg) => {
        if (error) return;
        const op = parseRpcSubject(set, msg.subject);
        const checked = checkRequest(msg.data, clock.now(), verifyEd25519, nonces);
        if ("problem" in checked)
          return respond(msg, { ok: false, error: { name: "AuthorizationError", message: checked.problem } });
        if (checked.request.op !== op)
          return respond(msg, {
            ok: false,
            error: { name: "AuthorizationError", message: "request operation does not match its subject" },
          });
        answerRequest(ctx, checked.request).then(answered(msg), failed(msg));
      },
    }),
  );
  subs.push(
    nc.subscribe(pairSubject(set), {
      callback: (error, msg) => {
        if (error) return;
        const checked = checkRequest(msg.data, clock.now(), verifyEd25519, nonces);
        const token = "request" in checked ? checked.request.args.token : tokenOf(msg.data);
        // Silent on failure: only the issuer may answer a pairing request.
        acceptPairing(ctx, token, checked).then(answered(msg), (error: unknown) =>
          log.warn({ error: String(error) }, "notify: pairing request failed"),
        );
      },
    }),
  );
  await nc.flush();
  const ticker = setInterval(() => void store.tick(), TICK_MS);
  ticker.unref();

  const teardown = async () => {
    clearInterval(ticker);
    for (const sub of subs) sub.unsubscribe();
    await store.close();
  };

  // 5. Inbox (a failure, e.g. its port in use, undoes steps 1–4: the agent refuses to start).
  if (runtime.inboxListen) {
    inboxRef.server = await startInboxServer({
      listen: runtime.inboxListen,
      publicUrl: runtime.publicInboxUrl,
      store,
      set,
      log,
      clock,
      nc,
      ingest: async (bytes, from) => {
        const reply = await ingestMessage(ctx, bytes, { from });
        // Live delivery for everyone else (the store queue sees it again and finds it stored).
        if (reply.ok && reply.message)
          nc.publish(notifySubject(set, reply.message.project, reply.message.thread), encodeMessage(reply.message));
        return reply.ok ? { ok: true, result: reply.result } : reply;
      },
    }).catch(async (error: unknown) => {
      await teardown();
      throw error;
    });
    log.info({ url: inboxRef.server.url }, "notify: web inbox");
  }
  runtime.registerControl?.("notify.status", async () => ({
    set,
    ...store.stats,
    inbox: inboxRef.server?.url,
    devices: store.devices(),
  }));
  log.info({ set, messages: store.stats.messages, devices: store.stats.devices }, "notify: service started");

  let stopped = false;
  return {
    store,
    get inboxUrl() {
      return inboxRef.server?.url;
    },
    notifyKeys: () => notifyKeys(store.devices()),
    devices: () => store.devices(),
    onDevicesChanged: (listener) => store.onDevice(() => listener(store.devices())),
    async stop() {
      if (stopped) return;
      stopped = true;
      await inboxRef.server?.close();
      await teardown();
    },
  };
}

/** Each set's tokens in their own file: services of several sets run side by side in one agent. */
const pairingsFile = (set: string) => (set === DEFAULT_SET ? "pairings.json" : `pairings-${set}.json`);

const withScheme = (server: string) => (/^[a-z]+:\/\//.test(server) ? server : `nats://${server}`);

/** The token of a pairing request whose envelope failed its checks (so the issuer can say why). */
function tokenOf(bytes: Uint8Array): unknown {
  try {
    return (JSON.parse(new TextDecoder().decode(bytes)) as { args?: { token?: unknown } }).args?.token;
  } catch {
    return undefined;
  }
}
