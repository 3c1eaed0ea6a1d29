/** A token bucket: `rate` tokens a second, at most `burst` saved up. Time is passed in (testable). */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #lastMs: number;

  constructor(rate: number, burst: number, nowMs: number) {
    if (!(rate > 0) || !(burst > 0)) throw new RangeError("a token bucket needs a positive rate and burst");
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#lastMs = nowMs;
  }

  /** Takes `cost` tokens if there are enough; false (nothing taken) otherwise. */
  take(cost: number, nowMs: number): boolean {
    const elapsed = Math.max(0, nowMs - this.#lastMs);
    this.#lastMs = nowMs;
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
    if (cost > this.#tokens) return false;
    this.#tokens -= cost;
    return true;
  }
}
