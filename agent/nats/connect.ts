/**
 * Connecting to NATS the way the agent needs it: reconnect forever with backoff and jitter, status
 * changes surfaced as log lines, optional TLS pinning and an authenticator from the auth layer.
 */
import { connect, type NatsConnection, type ConnectionOptions } from "@nats-io/transport-node";
import type { Log } from "../sync/ports.js";

export class ConnectError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
  }
}

export interface ConnectConfig {
  servers: string | string[];
  name: string;
  log: Log;
  /** Give up the first connection after this long (reconnects afterwards never give up). */
  timeoutMs?: number;
  /** Keep trying to connect the first time too (the agent; one-shot commands fail fast). */
  waitOnFirstConnect?: boolean;
  tls?: ConnectionOptions["tls"];
  authenticator?: ConnectionOptions["authenticator"];
  onStatus?: (kind: "connected" | "disconnected" | "reconnecting", detail: string) => void;
}

export async function connectNats(config: ConnectConfig): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: config.servers,
      name: config.name,
      timeout: config.timeoutMs ?? 10_000,
      waitOnFirstConnect: config.waitOnFirstConnect ?? false,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      reconnectJitter: 250,
      reconnectJitterTLS: 500,
      pingInterval: 10_000,
      maxPingOut: 3,
      ...(config.tls ? { tls: config.tls } : {}),
      ...(config.authenticator ? { authenticator: config.authenticator } : {}),
    });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    if (/authorization|authentication/i.test(text)) throw new ConnectError(`NATS refused this device (${text}): is its key in the vault's authorized_keys?`, { cause: error });
    throw new ConnectError(`cannot reach NATS at ${String(config.servers)} (${text}); is the hub/agent running and the address right?`, { cause: error });
  }
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        config.log.warn({ server: status.server }, "nats disconnected; reconnecting");
        config.onStatus?.("disconnected", status.server);
      } else if (status.type === "reconnect") {
        config.log.info({ server: status.server }, "nats reconnected");
        config.onStatus?.("connected", status.server);
      } else if (status.type === "error") {
        config.log.warn({ error: String(status.error) }, "nats error");
      }
    }
  })();
  config.onStatus?.("connected", String(nc.getServer()));
  return nc;
}
