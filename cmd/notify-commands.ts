/** Every `edgesync notify …` command, for the CLI entry to register. */
import type { CommandClass } from "clipanion";
import { NotifySendCommand } from "./notify-send-command.js";
import { NotifyAskCommand } from "./notify-ask-command.js";
import { NotifyReplyCommand } from "./notify-reply-command.js";
import { NotifyWatchCommand } from "./notify-watch-command.js";
import { NotifyThreadsCommand } from "./notify-threads-command.js";
import { NotifyLogCommand } from "./notify-log-command.js";
import { NotifyPairCommand } from "./notify-pair-command.js";
import { NotifyJoinCommand } from "./notify-join-command.js";
import { NotifyUnpairCommand } from "./notify-unpair-command.js";
import { NotifyDevicesCommand } from "./notify-devices-command.js";

export const notifyCommands: CommandClass[] = [
  NotifySendCommand,
  NotifyAskCommand,
  NotifyReplyCommand,
  NotifyWatchCommand,
  NotifyThreadsCommand,
  NotifyLogCommand,
  NotifyPairCommand,
  NotifyJoinCommand,
  NotifyUnpairCommand,
  NotifyDevicesCommand,
];
