import { Command } from "clipanion";
import { NotifyComposeCommand } from "./notify-base.js";

export class NotifySendCommand extends NotifyComposeCommand {
  static override paths = [["notify", "send"]];
  static override usage = Command.Usage({
    description: "Send a message to your devices (stored and synced; shown live on every watcher and inbox)",
    details: "Prints the message id once a notify service has stored it. A BODY of `-` is read from stdin.",
    examples: [
      ["A note", "edgesync notify send --project site 'deploy finished'"],
      [
        "Urgent, with a link",
        "edgesync notify send --project site --priority urgent --media https://ci.example.org/42 'build broken'",
      ],
    ],
  });

  async run() {
    const draft = await this.draft();
    const message = await this.withClient((client) => client.send(draft));
    if (this.asJson) return this.json(message);
    this.out(message.id);
  }
}
