import { Command, Option } from "clipanion";
import { EdgesyncCommand } from "./base-command.js";
import { UsageError } from "../agent/errors.js";

/** Top-level words and their sub-words; kept beside the registry in edgesync.ts by a test. */
export const COMPLETION_TREE: Record<string, string[]> = {
  init: [],
  status: [],
  "restore-at": [],
  diff: [],
  compact: [],
  completions: ["bash", "zsh", "fish"],
  key: ["generate", "show"],
  snapshot: ["create", "list", "restore", "delete"],
  sync: ["start"],
  clone: [],
  push: [],
  pull: [],
  doctor: [],
  hub: ["trust", "forget", "show", "export", "import"],
  notify: ["send", "ask", "reply", "watch", "threads", "log", "pair", "join", "unpair", "devices"],
  bridge: ["serve"],
  mcp: [],
};

export class CompletionsCommand extends EdgesyncCommand {
  static override paths = [["completions"]];
  static override usage = Command.Usage({
    description: "Print a shell completion script",
    examples: [
      ["bash", "source <(edgesync completions bash)"],
      ["fish", "edgesync completions fish > ~/.config/fish/completions/edgesync.fish"],
    ],
  });
  shell = Option.String({ name: "shell" });

  async run() {
    const script = completionScript(this.shell);
    if (script === undefined)
      throw new UsageError(`unknown shell ${JSON.stringify(this.shell)}: use bash, zsh or fish`);
    this.context.stdout.write(script);
  }
}

export function completionScript(shell: string): string | undefined {
  const top = Object.keys(COMPLETION_TREE).join(" ");
  const cases = Object.entries(COMPLETION_TREE).filter(([, subs]) => subs.length > 0);
  if (shell === "bash" || shell === "zsh") {
    const body = cases
      .map(([word, subs]) => `    ${word}) COMPREPLY=( $(compgen -W "${subs.join(" ")}" -- "$cur") ) ;;`)
      .join("\n");
    const prelude = shell === "zsh" ? "autoload -U +X bashcompinit && bashcompinit\n" : "";
    return `${prelude}_edgesync() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=( $(compgen -W "${top}" -- "$cur") ); return; fi
  case "\${COMP_WORDS[1]}" in
${body}
  esac
}
complete -F _edgesync edgesync
`;
  }
  if (shell === "fish") {
    const lines = [`complete -c edgesync -f -n "__fish_use_subcommand" -a "${top}"`];
    for (const [word, subs] of cases)
      lines.push(`complete -c edgesync -f -n "__fish_seen_subcommand_from ${word}" -a "${subs.join(" ")}"`);
    return `${lines.join("\n")}\n`;
  }
  return undefined;
}
