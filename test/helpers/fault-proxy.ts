/**
 * A TCP proxy for fault injection between a leaf and its hub: added latency (order kept), cuts
 * (every open connection dropped; the client redials) and partitions (connections dropped and new
 * ones refused until heal). Real sockets; the bytes are never looked at, so TLS passes through.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export class FaultProxy {
  readonly #target: { host: string; port: number };
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #latencyMs = 0;
  #partitioned = false;
  readonly stats = { accepted: 0, refused: 0, cuts: 0, partitions: 0 };

  constructor(target: { host?: string; port: number }) {
    this.#target = { host: target.host ?? "127.0.0.1", port: target.port };
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Starts listening on an ephemeral loopback port; resolves with it. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(0, "127.0.0.1", () => resolve((this.#server.address() as { port: number }).port));
    });
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Delay every chunk in both directions by `ms` (0 turns it off). */
  setLatency(ms: number): void {
    this.#latencyMs = ms;
  }

  /** Drops every open connection; new ones are accepted. */
  cut(): void {
    this.stats.cuts++;
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Drops every open connection and refuses new ones until heal(). */
  partition(): void {
    this.stats.partitions++;
    this.#partitioned = true;
    this.cut();
  }

  heal(): void {
    this.#partitioned = false;
  }

  get partitioned(): boolean {
    return this.#partitioned;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #accept(client: Socket): void {
    if (this.#partitioned) {
      this.stats.refused++;
      client.destroy();
      return;
    }
    this.stats.accepted++;
    const upstream = connect(this.#target.port, this.#target.host);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on("close", () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      socket.on("error", () => socket.destroy());
    }
    this.#pipe(client, upstream);
    this.#pipe(upstream, client);
  }

  /** Copies `from` → `to`, each chunk after the current latency; chunks never overtake each other. */
  #pipe(from: Socket, to: Socket): void {
    let last = Promise.resolve();
    from.on("data", (chunk: Buffer) => {
      const delay = this.#latencyMs;
      if (delay === 0) {
        last = last.then(() => void to.write(chunk));
        return;
      }
      const due = new Promise<void>((r) => setTimeout(r, delay));
      last = Promise.all([last, due]).then(() => {
        if (!to.destroyed) to.write(chunk);
      });
    });
  }
}
