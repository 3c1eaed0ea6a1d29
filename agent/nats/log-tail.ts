/** The last `bytesMax` characters of a child's output: enough for error messages, bounded forever. */
export class LogTail {
  readonly #bytesMax: number;
  #text = "";
  /** Characters dropped from the front so far. */
  dropped = 0;

  constructor(bytesMax: number) {
    if (!Number.isInteger(bytesMax) || bytesMax <= 0)
      throw new RangeError(`log tail size ${bytesMax} must be a positive integer`);
    this.#bytesMax = bytesMax;
  }

  push(chunk: Buffer | string): void {
    this.#text += chunk.toString();
    const excess = this.#text.length - this.#bytesMax;
    if (excess > 0) {
      this.#text = this.#text.slice(excess);
      this.dropped += excess;
    }
  }

  includes(needle: string): boolean {
    return this.#text.includes(needle);
  }

  text(): string {
    return this.#text;
  }

  clear(): void {
    this.#text = "";
    this.dropped = 0;
  }
}
