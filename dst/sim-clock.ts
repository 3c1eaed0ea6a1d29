/**
 * Each node's wall clock: the simulator's time plus the node's own skew, which can also jump (an NTP
 * step, a laptop waking up). The engine stamps every change with this clock, so history times
 * (restore-at, labels) carry the skew exactly as real devices' would.
 */
import type { Clock } from "../agent/sync/ports.js";

export class SimClock implements Clock {
  readonly #world: () => number;
  #skewMs: number;

  constructor(world: () => number, skewMs: number) {
    this.#world = world;
    this.#skewMs = skewMs;
  }

  now(): number {
    return this.#world() + this.#skewMs;
  }

  get skewMs(): number {
    return this.#skewMs;
  }

  /** Steps the clock by `deltaMs` (negative: backwards). */
  jump(deltaMs: number): void {
    if (!Number.isSafeInteger(deltaMs)) throw new RangeError(`clock jump must be whole ms, got ${deltaMs}`);
    this.#skewMs += deltaMs;
  }
}
