/** A one-line progress display on stderr, only when stderr is a terminal (and not in CI). */
import type { Writable } from "node:stream";

export function progressLine(stream: Writable & { isTTY?: boolean }, label: string) {
  const enabled = stream.isTTY === true && !process.env.CI;
  return {
    update(count: number) {
      if (enabled) stream.write(`\r${label}: ${count} files`);
    },
    done(summary: string) {
      if (enabled) stream.write(`\r${label}: ${summary}\n`);
    },
  };
}
