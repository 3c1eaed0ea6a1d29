/**
 * The commands each first word of a command line names, loaded on demand: `edgesync clone …` then
 * imports the clone command's code alone instead of every command's (registry.ts), which shortens
 * every start — paid by each clone, push, pull and `notify send` an agent runs.
 * A word not listed here (a folder for the default command, a typo, `--help`) loads them all.
 * command-words.test.ts checks this table against the registry.
 */
import type { CommandClass } from "clipanion";

const historyCommands = async () => {
  const m = await import("./history-commands.js");
  return [
    m.RestoreAtCommand,
    m.SnapshotCreateCommand,
    m.SnapshotListCommand,
    m.SnapshotRestoreCommand,
    m.SnapshotDeleteCommand,
    m.DiffCommand,
    m.CompactCommand,
  ];
};
const pushPull = async () => {
  const m = await import("./push-pull-commands.js");
  return [m.PullCommand, m.PushCommand];
};

export const COMMANDS_BY_WORD: Readonly<Record<string, () => Promise<CommandClass[]>>> = {
  init: async () => [(await import("./init-command.js")).InitCommand],
  status: async () => [(await import("./status-command.js")).StatusCommand],
  key: async () => {
    const m = await import("./key-commands.js");
    return [m.KeyGenerateCommand, m.KeyShowCommand];
  },
  completions: async () => [(await import("./completions-command.js")).CompletionsCommand],
  sync: async () => [(await import("./sync-start-command.js")).SyncStartCommand],
  clone: async () => [(await import("./clone-command.js")).CloneCommand],
  doctor: async () => [(await import("./doctor-command.js")).DoctorCommand],
  pull: pushPull,
  push: pushPull,
  hub: async () => {
    const m = await import("./hub-commands.js");
    return [m.HubTrustCommand, m.HubForgetCommand, m.HubShowCommand, m.HubExportCommand, m.HubImportCommand];
  },
  "restore-at": historyCommands,
  snapshot: historyCommands,
  diff: historyCommands,
  compact: historyCommands,
  notify: async () => (await import("./notify-commands.js")).notifyCommands,
  bridge: async () => [(await import("./bridge-serve.js")).BridgeServeCommand],
  mcp: async () => [(await import("./mcp-command.js")).McpCommand],
};

/** The commands to register for `args`: those its first word names, or every command. */
export async function commandsFor(args: readonly string[]): Promise<CommandClass[]> {
  const word = args[0];
  const load = word !== undefined && Object.hasOwn(COMMANDS_BY_WORD, word) ? COMMANDS_BY_WORD[word] : undefined;
  return load ? load() : (await import("./registry.js")).commands;
}
