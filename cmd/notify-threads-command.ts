import { Command, Option } from "clipanion";
import { NotifyCommand } from "./notify-base.js";
import { formatTime } from "./format.js";

export class NotifyThreadsCommand extends NotifyCommand {
  static override paths = [["notify", "threads"]];
  static override usage = Command.Usage({
    description: "List threads, newest activity first, with unanswered questions counted",
    examples: [["All", "edgesync notify threads"]],
  });
  project = Option.String("--project");

  async run() {
    const threads = await this.withClient((client) => client.threads(this.project));
    if (this.asJson) return this.json(threads);
    if (threads.length === 0)
      return this.out("no messages yet (send one with `edgesync notify send --project NAME TEXT`)");
    for (const t of threads) {
      const open = t.open > 0 ? `  ${t.open} open` : "";
      this.out(
        `${formatTime(t.lastAt)}  ${t.project}/${t.thread}  ${t.messages} message(s)${open}  — ${t.last.replace(/\s+/g, " ").slice(0, 60)}`,
      );
    }
  }
}
