import { Command, Option } from "clipanion";
import { NotifyCommand } from "./notify-base.js";
import { NotifyInputError } from "../notify/errors.js";

export class NotifyReplyCommand extends NotifyCommand {
  static override paths = [["notify", "reply"]];
  static override usage = Command.Usage({
    description: "Answer a message: with text, or by choosing one of its actions (this ends a waiting `notify ask`)",
    examples: [
      ["Choose an action", "edgesync notify reply 4k2x9q --action yes"],
      ["Answer in words", "edgesync notify reply 4k2x9q 'only after the tests pass'"],
    ],
  });
  id = Option.String({ name: "msg-id" });
  body = Option.String({ name: "body", required: false });
  action = Option.String("--action", { description: "The id of the action to choose" });

  async run() {
    if ((this.body === undefined) === (this.action === undefined))
      throw new NotifyInputError("give either a reply BODY or --action ID (one of the message's actions)");
    const reply = await this.withClient(async (client) => {
      const original = await client.get(this.id);
      if (this.action !== undefined) {
        const chosen = original.actions.find((a) => a.id === this.action);
        if (!chosen) {
          const offered = original.actions.map((a) => a.id).join(", ");
          throw new NotifyInputError(
            offered
              ? `message ${original.id} has no action ${JSON.stringify(this.action)}: choose one of ${offered}`
              : `message ${original.id} offers no actions; reply with text instead`,
          );
        }
        return client.send({
          project: original.project,
          thread: original.thread,
          body: chosen.label,
          replyTo: original.id,
          actionResponse: chosen.id,
        });
      }
      return client.send({
        project: original.project,
        thread: original.thread,
        body: this.body as string,
        replyTo: original.id,
      });
    });
    if (this.asJson) return this.json(reply);
    this.out(reply.id);
  }
}
