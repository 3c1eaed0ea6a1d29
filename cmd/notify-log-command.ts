import { Command, Option } from "clipanion";
import { NotifyCommand } from "./notify-base.js";
import { formatLine } from "../notify/model.js";
import { NotifyInputError } from "../notify/errors.js";

export class NotifyLogCommand extends NotifyCommand {
  static override paths = [["notify", "log"]];
  static override usage = Command.Usage({
    description:
      "Show a thread's messages, oldest first (from the synced store: includes what arrived while this device was offline)",
    examples: [
      ["A thread", "edgesync notify log release --project repo"],
      ["The last 20, as JSON", "edgesync notify log release --limit 20 --json"],
    ],
  });
  thread = Option.String({ name: "thread" });
  project = Option.String("--project", {
    description: "Only this project's thread of that name (default: every project's)",
  });
  limit = Option.String("--limit", { description: "Only the newest N messages (at most 500)" });

  async run() {
    const limit = this.limit === undefined ? undefined : Number(this.limit);
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0))
      throw new NotifyInputError(`--limit ${JSON.stringify(this.limit)} is not a positive whole number`);
    const project = this.project ?? process.env.EDGESYNC_NOTIFY_PROJECT;
    const messages = await this.withClient((client) =>
      client.log({ thread: this.thread, ...(project ? { project } : {}), ...(limit ? { limit } : {}) }),
    );
    if (this.asJson) return this.json(messages);
    if (messages.length === 0)
      return this.out(`no messages in thread ${JSON.stringify(this.thread)}${project ? ` of ${project}` : ""}`);
    for (const m of messages) this.out(formatLine(m));
  }
}
