/**
 * Connecting to NATS the way the agent needs it: reconnect forever with exponential backoff and
 * jitter, status changes surfaced as log lines and a callback, optional TLS pinning and an
 * authenticator supplied by the auth layer.
 */
import { connect, errors, type NatsConnection, type ConnectionOptions } from "@nats-io/transport-node";
import { randomInt } from "node:crypto";
import type { Log } from "../sync/ports.js";
import { UserError } from "../errors.js";

export class ConnectError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
  }
}

/** The server refused our credentials (a ConnectError, so one catch handles both). */
export class NatsAuthRefusedError extends ConnectError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsAuthRefusedError";
  }
}

/** The server's TLS certificate failed verification (not the pinned one, or the wrong name). */
export class NatsTlsRefusedError extends ConnectError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsTlsRefusedError";
  }
}

export interface ReconnectPolicy {
  /** First wait after a failed attempt. */
  initialMs: number;
  /** Longest wait between attempts, before jitter. */
  maxMs: number;
  /** Each client scales its waits by a random factor in [1, 1 + jitter] per outage (0.2: gaps grow 2-2.5x). */
  jitter: number;
}

/** 250 ms doubling to 10 s: a restarted hub is back within a second; a long outage costs little. */
export const DEFAULT_RECONNECT: ReconnectPolicy = { initialMs: 250, maxMs: 10_000, jitter: 0.2 };

export type ConnectionState = "connected" | "disconnected" | "reconnecting";

export interface ConnectConfig {
  servers: string | string[];
  /** Connection name shown in the server's /connz. */
  name: string;
  log: Log;
  /** Give up the first connection after this long (reconnects afterwards never give up). */
  timeoutMs?: number;
  /** Keep trying to connect the first time too (the agent; one-shot commands fail fast). */
  waitOnFirstConnect?: boolean;
  /** TLS options; pin with `ca` + `checkServerIdentity` (never `rejectUnauthorized: false`, which skips the check). */
  tls?: ConnectionOptions["tls"];
  /** Signs the server's nonce; must be synchronous (sign ahead of time with ssh-agent). */
  authenticator?: ConnectionOptions["authenticator"];
  reconnect?: Partial<ReconnectPolicy>;
  /** Where replies to this connection's requests go (agent/auth/accounts.ts deviceInboxPrefix); default nats.js's `_INBOX`. */
  inboxPrefix?: string;
  onStatus?: (kind: ConnectionState, detail: string) => void;
}

/**
 * How long to wait before the next attempt, `elapsedMs` into an outage. nats.js asks before every
 * dial and re-asks after each sleep, dialling once `sinceLastDial >= wait`; with the wait at half
 * the outage so far, attempts land at roughly 1×, 2×, 4×… the initial wait (times the jitter
 * factor) until the cap. A wait that grew as fast as time itself would never let it dial.
 */
export function reconnectDelayMs(
  elapsedMs: number,
  jitterFactor: number,
  policy: ReconnectPolicy = DEFAULT_RECONNECT,
): number {
  const base = Math.min(policy.maxMs, Math.max(policy.initialMs, elapsedMs / 2));
  return Math.round(base * jitterFactor);
}

/** Tracks one connection's outages and answers nats.js's reconnectDelayHandler. */
class Backoff {
  readonly #policy: ReconnectPolicy;
  #outageStartMs: number | undefined;
  #factor = 1;

  constructor(policy: ReconnectPolicy) {
    this.#policy = policy;
  }

  delayMs = (): number => {
    const now = Date.now();
    if (this.#outageStartMs === undefined) {
      this.#outageStartMs = now;
      this.#factor = 1 + (randomInt(0, 1001) / 1000) * this.#policy.jitter;
    }
    return reconnectDelayMs(now - this.#outageStartMs, this.#factor, this.#policy);
  };

  connected(): void {
    this.#outageStartMs = undefined;
  }
}

function refused(error: unknown, servers: string): ConnectError {
  const text = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code ?? (error as { code?: unknown } | undefined)?.code;
  if (error instanceof errors.AuthorizationError || /authorization|authentication/i.test(text)) {
    return new NatsAuthRefusedError(
      `NATS at ${servers} refused this device (${text}): is its key in the vault's authorized_keys?`,
      { cause: error },
    );
  }
  if (
    (typeof code === "string" && /^ERR_TLS|CERT|UNABLE_TO_VERIFY|SELF_SIGNED/.test(code)) ||
    /certificate|altnames/i.test(text)
  ) {
    return new NatsTlsRefusedError(
      `the server at ${servers} did not present the pinned TLS certificate (${text}); if the hub's certificate changed on purpose, trust it again`,
      { cause: error },
    );
  }
  return new ConnectError(
    `cannot reach NATS at ${servers} (${text}); is the hub/agent running and the address right?`,
    { cause: error },
  );
}

export async function connectNats(config: ConnectConfig): Promise<NatsConnection> {
  const backoff = new Backoff({ ...DEFAULT_RECONNECT, ...config.reconnect });
  const servers = String(config.servers);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: config.servers,
      name: config.name,
      timeout: config.timeoutMs ?? 10_000,
      waitOnFirstConnect: config.waitOnFirstConnect ?? false,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: backoff.delayMs,
      // A dead link is noticed within 30 s (3 missed pings) even when TCP says nothing.
      pingInterval: 10_000,
      maxPingOut: 3,
      ...(config.tls ? { tls: config.tls } : {}),
      ...(config.authenticator ? { authenticator: config.authenticator } : {}),
      ...(config.inboxPrefix ? { inboxPrefix: config.inboxPrefix } : {}),
    });
  } catch (error) {
    throw refused(error, servers);
  }
  backoff.connected();
  void watchStatus(nc, config, backoff);
  config.onStatus?.("connected", String(nc.getServer()));
  return nc;
}

async function watchStatus(nc: NatsConnection, config: ConnectConfig, backoff: Backoff): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case "disconnect":
        config.log.warn({ server: status.server }, "nats disconnected; reconnecting");
        config.onStatus?.("disconnected", status.server);
        break;
      case "reconnecting":
        config.log.debug({}, "nats reconnecting");
        config.onStatus?.("reconnecting", "");
        break;
      case "reconnect":
        backoff.connected();
        config.log.info({ server: status.server }, "nats reconnected");
        config.onStatus?.("connected", status.server);
        break;
      case "error":
        config.log.warn({ error: String(status.error) }, "nats error");
        break;
      case "ldm":
        config.log.info({ server: status.server }, "nats server entering lame duck mode; will move");
        break;
      case "slowConsumer":
        config.log.warn(
          { subject: status.sub.getSubject(), pending: status.pending },
          "nats slow consumer: messages dropped",
        );
        break;
      default:
        break;
    }
  }
}

/** How long a stop waits for in-flight messages before it just closes. */
const DRAIN_TIMEOUT_MS = 2_000;

/**
 * Drains (delivers what is in flight) but never hangs: a connection whose server is gone would
 * wait in drain forever, reconnecting, so after DRAIN_TIMEOUT_MS it is closed instead.
 */
export async function drainOrClose(nc: NatsConnection | undefined, timeoutMs = DRAIN_TIMEOUT_MS): Promise<void> {
  if (!nc || nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([nc.drain().catch(() => {}), timedOut]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => {});
}
