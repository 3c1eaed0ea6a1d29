/** Every command class the binary knows, in one list (completions-command.ts mirrors its words). */
import type { CommandClass } from "clipanion";
import { InitCommand } from "./init-command.js";
import { StatusCommand } from "./status-command.js";
import { KeyGenerateCommand, KeyShowCommand } from "./key-commands.js";
import { CompletionsCommand } from "./completions-command.js";
import { SyncStartCommand, DefaultCommand } from "./sync-start-command.js";
import { CloneCommand } from "./clone-command.js";
import { DoctorCommand } from "./doctor-command.js";
import {
  HubTrustCommand,
  HubForgetCommand,
  HubShowCommand,
  HubExportCommand,
  HubImportCommand,
} from "./hub-commands.js";
import { PullCommand, PushCommand } from "./push-pull-commands.js";
import { notifyCommands } from "./notify-commands.js";
import { BridgeServeCommand } from "./bridge-serve.js";
import { McpCommand } from "./mcp-command.js";
import {
  RestoreAtCommand,
  SnapshotCreateCommand,
  SnapshotListCommand,
  SnapshotRestoreCommand,
  SnapshotDeleteCommand,
  DiffCommand,
  CompactCommand,
} from "./history-commands.js";

export const commands: CommandClass[] = [
  InitCommand,
  StatusCommand,
  KeyGenerateCommand,
  KeyShowCommand,
  CompletionsCommand,
  SyncStartCommand,
  DefaultCommand,
  CloneCommand,
  DoctorCommand,
  PullCommand,
  PushCommand,
  HubTrustCommand,
  HubForgetCommand,
  HubShowCommand,
  HubExportCommand,
  HubImportCommand,
  RestoreAtCommand,
  SnapshotCreateCommand,
  SnapshotListCommand,
  SnapshotRestoreCommand,
  SnapshotDeleteCommand,
  DiffCommand,
  CompactCommand,
  ...notifyCommands,
  BridgeServeCommand,
  McpCommand,
];
