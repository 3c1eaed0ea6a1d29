import { Command, Option } from "clipanion";
import { NotifyCommand } from "./notify-base.js";

export class NotifyUnpairCommand extends NotifyCommand {
  static override paths = [["notify", "unpair"]];
  static override usage = Command.Usage({
    description:
      "Remove a paired device: it is cut off at once (open inbox sockets close; its requests and messages are refused)",
    examples: [["By name", "edgesync notify unpair phone"]],
  });
  name = Option.String({ name: "name" });

  async run() {
    const revoked = await this.withClient((client) => client.unpair(this.name));
    if (this.asJson) return this.json(revoked);
    this.out(`unpaired "${revoked.name}" (${revoked.peer.slice(0, 12)}…)`);
  }
}
