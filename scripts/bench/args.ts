/** Command-line flags of the bench entry points: `--flag value`, checked, with one clear line on a bad value. */
export class BenchArgs {
  constructor(readonly argv: string[]) {}

  has(flag: string): boolean {
    return this.argv.includes(flag);
  }

  value(flag: string): string | undefined {
    const i = this.argv.indexOf(flag);
    return i >= 0 ? this.argv[i + 1] : undefined;
  }

  int(flag: string, fallback: number, min: number, max: number): number {
    const raw = this.value(flag);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  }
}
