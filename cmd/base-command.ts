/**
 * The shared shape of every command: common options, one-line errors, exit codes.
 * A known failure (bad input, missing vault, busy vault, bad key file) prints exactly one line
 * `edgesync: <problem and fix>` on stderr and exits 1; only a bug prints a stack trace. A known
 * failure is one whose class extends UserError (agent/errors.ts): the class, not a list here, says so.
 */
import { Command, Option } from "clipanion";
import { resolve } from "node:path";
import { UserError } from "../agent/errors.js";

/** Ends a command with this exit code (and the message, if any, as its one line): `ask` exits 2 on no answer. */
export class ExitCode extends Error {
  constructor(
    readonly code: number,
    message = "",
  ) {
    super(message);
    this.name = "ExitCode";
  }
}

export abstract class EdgesyncCommand extends Command {
  cwd = Option.String("--cwd", { description: "Vault folder (default: $EDGESYNC_CWD or the current folder)" });

  get root(): string {
    return resolve(this.cwd ?? process.env.EDGESYNC_CWD ?? process.cwd());
  }

  abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (error) {
      return reportError(error, (line) => this.context.stderr.write(line));
    }
  }

  out(line: string): void {
    this.context.stdout.write(`${line}\n`);
  }

  json(value: unknown): void {
    this.context.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}

export function reportError(error: unknown, write: (line: string) => void): number {
  if (error instanceof ExitCode) {
    if (error.message) write(`edgesync: ${error.message}\n`);
    return error.code;
  }
  if (error instanceof UserError) {
    write(`edgesync: ${error.message.split("\n")[0]}\n`);
    return 1;
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EACCES" || code === "EPERM" || code === "ENOSPC" || code === "EROFS") {
    write(`edgesync: ${(error as Error).message} — check permissions and free space, then retry\n`);
    return 1;
  }
  write(`edgesync: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 70;
}
