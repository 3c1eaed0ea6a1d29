/** Parses the time argument of restore-at / diff: epoch ms, an ISO date, or an age like 5m, 2h, 1d, 1w. */
import { UserError } from "../../errors.js";

export class TimeSpecError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeSpecError";
  }
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseTimeSpec(spec: string, nowMs: number): number {
  const trimmed = spec.trim();
  const age = /^(\d+)([smhdw])$/.exec(trimmed);
  if (age) return nowMs - Number(age[1]) * UNIT_MS[age[2]];
  if (/^\d{10,16}$/.test(trimmed)) return Number(trimmed);
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const parsed = Date.parse(trimmed);
    if (!Number.isNaN(parsed)) return parsed;
  }
  throw new TimeSpecError(
    `bad time ${JSON.stringify(spec)}: use epoch milliseconds, an ISO date, or an age such as 5m, 2h, 1d, 1w`,
  );
}
