/**
 * Prometheus text exposition and /healthz for `--metrics ADDR`. A handful of counters, gauges and
 * one histogram; no client library needed for that.
 */
import { createServer, type Server } from "node:http";
import { UsageError } from "./errors.js";

/** Upper bounds of the sync latency histogram, in seconds. */
const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly #counters = new Map<string, { help: string; value: number }>();
  readonly #gauges = new Map<string, { help: string; read: () => number }>();
  readonly #families = new Map<string, { help: string; read: () => LabelledValue[] }>();
  readonly #latency = { counts: new Array<number>(LATENCY_BUCKETS_S.length).fill(0), sum: 0, count: 0 };

  counter(name: string, help: string): (by?: number) => void {
    const entry = this.#counters.get(name) ?? { help, value: 0 };
    this.#counters.set(name, entry);
    return (by = 1) => {
      entry.value += by;
    };
  }

  gauge(name: string, help: string, read: () => number): void {
    this.#gauges.set(name, { help, read });
  }

  /** One gauge per label set (e.g. per vault), read at each scrape. */
  gaugeFamily(name: string, help: string, read: () => LabelledValue[]): void {
    this.#families.set(name, { help, read });
  }

  observeSyncLatency(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    LATENCY_BUCKETS_S.forEach((bound, i) => {
      if (seconds <= bound) this.#latency.counts[i]++;
    });
    this.#latency.sum += seconds;
    this.#latency.count++;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, { help, value }] of this.#counters)
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    for (const [name, { help, read }] of this.#gauges)
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${read()}`);
    for (const [name, { help, read }] of this.#families) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const { labels, value } of read()) lines.push(`${name}{${renderLabels(labels)}} ${value}`);
    }
    const h = "edgesync_sync_latency_seconds";
    lines.push(`# HELP ${h} Time from a remote change being made to it being applied here`, `# TYPE ${h} histogram`);
    LATENCY_BUCKETS_S.forEach((bound, i) => lines.push(`${h}_bucket{le="${bound}"} ${this.#latency.counts[i]}`));
    lines.push(
      `${h}_bucket{le="+Inf"} ${this.#latency.count}`,
      `${h}_sum ${this.#latency.sum}`,
      `${h}_count ${this.#latency.count}`,
    );
    return `${lines.join("\n")}\n`;
  }
}

export interface LabelledValue {
  labels: Record<string, string>;
  value: number;
}

/** `a="x",b="y"` with the exposition format's escapes (backslash, quote, newline). */
export function renderLabels(labels: Record<string, string>): string {
  const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(",");
}

/** Serves /metrics and /healthz on `host:port`; `healthy()` decides the /healthz status. */
export async function serveMetrics(
  metrics: Metrics,
  host: string,
  port: number,
  healthy: () => { ok: boolean; detail: unknown },
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metrics.render());
    } else if (req.url === "/healthz") {
      const health = healthy();
      res.writeHead(health.ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(health));
    } else {
      res.writeHead(404).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
  const address = server.address();
  return { server, port: typeof address === "object" && address ? address.port : port };
}

/** Splits `host:port` (IPv6 in brackets); a bare port means loopback. */
export function parseListenAddress(addr: string, flag: string): { host: string; port: number } {
  const match =
    /^(?:\[([^\]]+)\]|([^:]*)):(-1|\d+)$/.exec(addr) ??
    (/^(-1|\d+)$/.test(addr) ? [addr, undefined, "127.0.0.1", addr] : null);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < -1 || port > 65535) {
    throw new UsageError(`${flag} ${JSON.stringify(addr)} is not HOST:PORT (e.g. 127.0.0.1:9464)`);
  }
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}
