/** `npm run soak -- --minutes N [--seed S] [--report PATH] [--round-seconds R]`, parsed and checked. */
export interface SoakArgs {
  minutes: number;
  seed: number;
  report: string;
  /** One check (quiesce, converge, compare) every this many seconds. */
  roundSeconds: number;
}

export class SoakUsageError extends Error {}

const USAGE = "usage: npm run soak -- --minutes N [--seed S] [--report PATH] [--round-seconds R]";

export function parseSoakArgs(argv: readonly string[], defaultSeed: number): SoakArgs {
  const out: SoakArgs = { minutes: Number.NaN, seed: defaultSeed, report: "bench/soak.json", roundSeconds: 60 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--help" || flag === "-h") throw new SoakUsageError(USAGE);
    if (value === undefined || value.startsWith("--")) throw new SoakUsageError(`${flag} needs a value; ${USAGE}`);
    i++;
    if (flag === "--minutes") out.minutes = positive(flag, value, 24 * 60);
    else if (flag === "--round-seconds") out.roundSeconds = positive(flag, value, 3600);
    else if (flag === "--seed") {
      if (!/^\d{1,10}$/.test(value))
        throw new SoakUsageError(`--seed must be a whole number, got ${JSON.stringify(value)}`);
      out.seed = Number(value) >>> 0;
    } else if (flag === "--report") out.report = value;
    else throw new SoakUsageError(`unknown option ${flag}; ${USAGE}`);
  }
  if (Number.isNaN(out.minutes)) throw new SoakUsageError(`--minutes is required (e.g. --minutes 3); ${USAGE}`);
  if (out.roundSeconds < 10)
    throw new SoakUsageError(
      `--round-seconds must be at least 10 (edits, then a convergence check), got ${out.roundSeconds}`,
    );
  return out;
}

function positive(flag: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max)
    throw new SoakUsageError(`${flag} must be a number in (0, ${max}], got ${JSON.stringify(value)}`);
  return n;
}

/** Rounds in a run: one per round-seconds, at least one. */
export const roundsFor = (args: SoakArgs) => Math.max(1, Math.round((args.minutes * 60) / args.roundSeconds));
