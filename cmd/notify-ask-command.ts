import { Command, Option } from "clipanion";
import { ExitCode } from "./base-command.js";
import { NotifyComposeCommand, parseDuration } from "./notify-base.js";
import { NoAnswerError } from "../notify/errors.js";

export class NotifyAskCommand extends NotifyComposeCommand {
  static override paths = [["notify", "ask"]];
  static override usage = Command.Usage({
    description: "Ask a question and wait for the answer to that message (a reply to it, or one of its actions)",
    details: `
      Prints the answer: the chosen action's id, or the reply's text. Other messages on the thread do not end the wait.
      With \`--json\` prints \`{ question, answer, action, text }\`. Exits 2 when \`--timeout\` passes without an answer.
    `,
    examples: [
      ["A yes/no question", "edgesync notify ask --project repo --action yes:Merge --action no:Wait 'merge PR 12?'"],
      [
        "For an agent, with a deadline",
        "edgesync notify ask --project repo --timeout 10m --json 'which option, A or B?'",
      ],
    ],
  });
  timeout = Option.String("--timeout", { description: "Give up after this long (e.g. 90s, 10m) and exit 2" });

  async run() {
    const draft = await this.draft();
    const timeoutMs = this.timeout === undefined ? undefined : parseDuration(this.timeout, "--timeout");
    try {
      const { question, answer } = await this.withClient((client) =>
        client.ask(draft, {
          timeoutMs,
          onSent: (q) => {
            if (this.context.stderr === process.stderr && process.stderr.isTTY)
              this.context.stderr.write(`asked ${q.id}; waiting for an answer…\n`);
          },
        }),
      );
      if (this.asJson) {
        return this.json({ question, answer, action: answer.actionResponse ?? null, text: answer.body });
      }
      this.out(answer.actionResponse ?? answer.body);
    } catch (error) {
      if (error instanceof NoAnswerError)
        throw new ExitCode(2, `no answer to ${error.questionId} within ${this.timeout}`);
      throw error;
    }
  }
}
