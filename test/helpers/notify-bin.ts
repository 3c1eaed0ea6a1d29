/**
 * A CLI entry with only the notify commands, for notify's e2e tests until the main binary registers
 * `notifyCommands` (then notify-net.ts uses dist/cmd/edgesync.js itself). Same error handling shape
 * as cmd/edgesync.ts.
 */
import { Cli, Builtins } from "clipanion";
import { notifyCommands } from "../../cmd/notify-commands.js";

const cli = new Cli({ binaryLabel: "edgesync", binaryName: "edgesync", enableColors: false });
cli.register(Builtins.HelpCommand);
for (const command of notifyCommands) cli.register(command);
const args = process.argv.slice(2);
try {
  cli.process(args);
} catch (error) {
  const first = (error instanceof Error ? error.message : String(error)).split("\n").find((l) => l.trim().length > 0) ?? "bad command line";
  process.stderr.write(`edgesync: ${first.trim()}\n`);
  process.exit(1);
}
process.exitCode = await cli.run(args, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
