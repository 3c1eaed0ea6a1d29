/**
 * Rate-limited warnings for frames the transport drops (bad chunk headers, oversized, duplicate…).
 * A buggy or hostile peer can send thousands of bad frames a second; the log gets at most one line
 * per peer per interval, carrying how many frames were dropped since that peer's last line and
 * why. The peer token comes from the subject (untrusted), so the peers tracked are bounded too.
 */
import type { Log } from "../sync/ports.js";

export interface DropLogLimits {
  /** Shortest time between two lines for the same peer. */
  intervalMs: number;
  /** Peers remembered at once; the stalest is forgotten first. */
  peersMax: number;
}

export const DEFAULT_DROP_LOG_LIMITS: DropLogLimits = { intervalMs: 10_000, peersMax: 256 };

interface PeerDrops {
  lastLineMs: number;
  /** Dropped since the last line, by reason. */
  pending: Record<string, number>;
  total: number;
}

export class DropLog {
  readonly #log: Log;
  readonly #limits: DropLogLimits;
  readonly #peers = new Map<string, PeerDrops>();
  /** Lines written (for tests and metrics). */
  lines = 0;

  constructor(log: Log, limits: Partial<DropLogLimits> = {}) {
    this.#log = log;
    this.#limits = { ...DEFAULT_DROP_LOG_LIMITS, ...limits };
  }

  /** Notes `count` frames from `peer` dropped for `reason`; logs when the peer's interval has passed. */
  note(subject: string, peer: string, reason: string, count: number, nowMs: number): void {
    let entry = this.#peers.get(peer);
    if (entry === undefined) {
      if (this.#peers.size >= this.#limits.peersMax) this.#peers.delete(this.#peers.keys().next().value as string);
      entry = { lastLineMs: Number.NEGATIVE_INFINITY, pending: {}, total: 0 };
    } else {
      this.#peers.delete(peer); // re-inserted below: Map order is staleness order
    }
    this.#peers.set(peer, entry);
    entry.pending[reason] = (entry.pending[reason] ?? 0) + count;
    entry.total += count;
    if (nowMs - entry.lastLineMs < this.#limits.intervalMs) return;
    const dropped = Object.values(entry.pending).reduce((a, b) => a + b, 0);
    this.#log.warn(
      { peer, subject, reasons: entry.pending, dropped, total: entry.total },
      "dropped malformed frames from peer",
    );
    this.lines++;
    entry.lastLineMs = nowMs;
    entry.pending = {};
  }
}
