/** Every command class the binary knows, in one list (completions-command.ts mirrors its words). */
import type { CommandClass } from "clipanion";
import { InitCommand } from "./init-command.js";
import { StatusCommand } from "./status-command.js";
import { KeyGenerateCommand, KeyShowCommand } from "./key-commands.js";
import { CompletionsCommand } from "./completions-command.js";
import { RestoreAtCommand, SnapshotCreateCommand, SnapshotListCommand, SnapshotRestoreCommand, SnapshotDeleteCommand, DiffCommand, CompactCommand } from "./history-commands.js";

export const commands: CommandClass[] = [
  InitCommand, StatusCommand, KeyGenerateCommand, KeyShowCommand, CompletionsCommand,
  RestoreAtCommand, SnapshotCreateCommand, SnapshotListCommand, SnapshotRestoreCommand, SnapshotDeleteCommand, DiffCommand, CompactCommand,
];
