/** Asks on the terminal whether to trust a hub seen for the first time; undefined when not interactive. */
import { createInterface } from "node:readline/promises";

export function terminalConfirm(): ((hub: string, fingerprint: string) => Promise<boolean>) | undefined {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return async (hub, fingerprint) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      process.stderr.write(
        `The hub at ${hub} is new to this device.\nIts TLS certificate has SHA-256 fingerprint\n  ${fingerprint}\nCompare it with \`edgesync hub show\` on the hub.\n`,
      );
      const answer = await rl.question("Trust this hub? [y/N] ");
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  };
}
