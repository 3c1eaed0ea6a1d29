import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Command } from "clipanion";
import { commands } from "./registry.js";
import { COMPLETION_TREE, completionScript } from "./completions-command.js";

describe("shell completions", () => {
  it("offer every registered command word and sub-word", () => {
    const missing: string[] = [];
    for (const command of commands) {
      for (const path of command.paths ?? []) {
        if (path === Command.Default || path.length === 0) continue;
        const [word, sub] = path;
        if (!(word in COMPLETION_TREE)) missing.push(word);
        else if (sub !== undefined && !COMPLETION_TREE[word].includes(sub)) missing.push(`${word} ${sub}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it("complete the notify commands, join included, in every shell", () => {
    for (const shell of ["bash", "zsh", "fish"]) {
      const script = completionScript(shell) ?? "";
      assert.match(script, /send ask reply watch threads log pair join unpair devices/, shell);
    }
  });
});
