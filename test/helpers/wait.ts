/**
 * Waiting in tests: poll a condition until a deadline, never a fixed sleep. A loaded machine (two
 * cores shared by several test runs) is slow, not broken, so the deadlines are generous and only
 * bound how long a real failure takes to report.
 */

/** How long a wait lasts unless the caller says otherwise: long enough for a loaded machine. */
export const WAIT_TIMEOUT_MS_DEFAULT = 45_000;
/** Pause between two checks: short against the deadlines, long enough not to load the machine. */
const POLL_INTERVAL_MS = 25;

export class WaitTimeoutError extends Error {
  override name = "WaitTimeoutError";
}

/**
 * Polls `check` until it returns true. After `timeoutMs` it fails with an error naming `what`, how
 * long it waited, how often it looked, and `detail()` (e.g. the tail of a child's log) when given.
 * A `check` that throws fails the wait at once with that error: that is how a check says "this
 * will never come true" (the process it waits for has exited).
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = WAIT_TIMEOUT_MS_DEFAULT,
  detail?: () => string,
): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let looks = 0;
  for (;;) {
    looks++;
    if (await check()) return;
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  const context = detail ? `\n--- detail ---\n${detail()}` : "";
  throw new WaitTimeoutError(
    `timed out waiting for ${what}: still not true after ${Date.now() - started} ms (${looks} looks, deadline ${timeoutMs} ms)${context}`,
  );
}
