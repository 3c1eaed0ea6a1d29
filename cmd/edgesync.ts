#!/usr/bin/env node
/** The `edgesync` binary: registers the commands its first word names (command-words.ts), or all; bare `edgesync [dir]` runs the agent. */
import { Cli, Builtins } from "clipanion";
import { readFileSync } from "node:fs";
import { commandsFor } from "./command-words.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const cli = new Cli({
  binaryLabel: "edgesync",
  binaryName: "edgesync",
  binaryVersion: pkg.version,
  enableColors: !process.env.NO_COLOR && process.stdout.isTTY === true,
});
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
const args = process.argv.slice(2);
for (const command of await commandsFor(args)) cli.register(command);

// `edgesync key show | head -1` closes our stdout early: that is the reader's choice, not a crash.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

try {
  cli.process(args);
} catch (error) {
  // clipanion explains a bad command line in a multi-line block; a script wants one line and exit 1.
  const first =
    (error instanceof Error ? error.message : String(error)).split("\n").find((l) => l.trim().length > 0) ??
    "bad command line";
  process.stderr.write(`edgesync: ${first.trim()} — run \`edgesync --help\` for the list of commands\n`);
  process.exit(1);
}
// clipanion prints a multi-line usage block for an unknown command; a script wants one line.
const exitCode = await cli
  .run(args, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
  .catch((error: unknown) => {
    process.stderr.write(`edgesync: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  });
process.exitCode = exitCode;
