import { Command, Option } from "clipanion";
import { NotifyCommand } from "./notify-base.js";
import { formatLine } from "../notify/model.js";

export class NotifyWatchCommand extends NotifyCommand {
  static override paths = [["notify", "watch"]];
  static override usage = Command.Usage({
    description: "Print messages as they arrive, one line each (`--json`: one JSON object per line)",
    examples: [
      ["Everything", "edgesync notify watch"],
      ["One thread, for a script", "edgesync notify watch --project repo --thread release --json"],
    ],
  });
  project = Option.String("--project");
  thread = Option.String("--thread");

  async run() {
    await this.withClient(async (client) => {
      const watch = client.watch({ project: this.project, thread: this.thread }, (m) => {
        this.context.stdout.write(`${this.asJson ? JSON.stringify(m) : formatLine(m)}\n`);
      });
      await client.nc.flush();
      if (this.context.stderr === process.stderr && process.stderr.isTTY)
        this.context.stderr.write("watching; Ctrl-C to stop\n");
      const stop = () => watch.stop();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await Promise.race([watch.closed, client.nc.closed()]);
    });
  }
}
