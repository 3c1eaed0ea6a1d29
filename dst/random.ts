/**
 * The simulator's only source of randomness: xoshiro128** seeded through splitmix32, 32-bit
 * integer math only (no floats decide anything), with child streams forked by label so adding a
 * draw in one stream (say, the workload) does not shift every other stream.
 */
import type { Random } from "../agent/sync/ports.js";

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export class Prng implements Random {
  readonly #s: Uint32Array;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
    const next = splitmix32(seed);
    this.#s = new Uint32Array([next(), next(), next(), next()]);
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  u32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform integer in [lo, hi] (inclusive), by rejection: no modulo bias. */
  int(lo: number, hi: number): number {
    const span = hi - lo + 1;
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || span <= 0 || span > 0x100000000)
      throw new RangeError(`bad range ${lo}..${hi}`);
    const limit = Math.floor(0x100000000 / span) * span;
    let x = this.u32();
    while (x >= limit) x = this.u32();
    return lo + (x % span);
  }

  /** True with probability num/den (integers, 0 <= num <= den, den > 0). */
  chance(num: number, den: number): boolean {
    if (!Number.isSafeInteger(num) || !Number.isSafeInteger(den) || den <= 0 || num < 0 || num > den) {
      throw new RangeError(`bad probability ${num}/${den}`);
    }
    return num > 0 && this.int(0, den - 1) < num;
  }

  /** Index chosen with the given integer weights (a weight of 0 is never chosen). */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((sum, w) => sum + w, 0);
    if (total <= 0) throw new RangeError("weighted pick with no positive weight");
    let x = this.int(0, total - 1);
    for (const [i, w] of weights.entries()) {
      if (x < w) return i;
      x -= w;
    }
    throw new Error("unreachable: weights changed during the pick");
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.int(0, items.length - 1)];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  hex(bytes: number): string {
    return [...this.bytes(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** A child stream whose draws depend only on this stream's current state and the label. */
  fork(label: string): Prng {
    return new Prng((this.u32() ^ hashLabel(label)) >>> 0);
  }
}
