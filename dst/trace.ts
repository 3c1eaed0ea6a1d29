/**
 * The run's event trace: every event, delivery, crash and decision as one line. The lines are hashed
 * as they come (SHA-256), so two runs of one seed can be compared by one hash without keeping
 * megabytes of text; the lines themselves are kept only when asked for (debugging a replay).
 */
import { createHash, type Hash } from "node:crypto";

export class Trace {
  readonly #hash: Hash = createHash("sha256");
  readonly #lines: string[] | undefined;
  #count = 0;

  constructor(keepLines = false) {
    this.#lines = keepLines ? [] : undefined;
  }

  add(line: string): void {
    this.#hash.update(line);
    this.#hash.update("\n");
    this.#count++;
    this.#lines?.push(line);
  }

  get lineCount(): number {
    return this.#count;
  }

  /** The kept lines (empty unless the trace was made with keepLines). */
  get lines(): readonly string[] {
    return this.#lines ?? [];
  }

  /** Hex SHA-256 over every line; call once, at the end of the run. */
  digest(): string {
    return this.#hash.digest("hex");
  }
}
