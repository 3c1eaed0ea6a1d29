import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Command, type CommandClass } from "clipanion";
import { COMMANDS_BY_WORD, commandsFor } from "./command-words.js";
import { commands } from "./registry.js";

const firstWord = (command: CommandClass) => (command.paths ?? [Command.Default]).map((path) => path[0]);

describe("command words", () => {
  it("loads, for each command in the registry, that command when its first word is given", async () => {
    for (const command of commands) {
      for (const word of firstWord(command)) {
        if (word === undefined) continue; // the default command: bare `edgesync [dir]` loads everything
        const loaded = await commandsFor([word, "--help"]);
        assert.ok(loaded.includes(command), `\`edgesync ${word}\` does not load ${command.name}`);
      }
    }
  });

  it("loads for a word only registry commands whose first word shares its module", async () => {
    for (const [word, load] of Object.entries(COMMANDS_BY_WORD)) {
      const loaded = await load();
      assert.ok(loaded.length > 0, word);
      for (const command of loaded) {
        assert.ok(commands.includes(command), `${command.name} is not in the registry`);
        // A module of several commands (push and pull, the history commands) is loaded for each of their words.
        assert.ok(
          firstWord(command).some((w) => w !== undefined && COMMANDS_BY_WORD[w] === load),
          `${command.name} loaded for ${word}`,
        );
      }
    }
  });

  it("loads every command for a folder, an option or nothing", async () => {
    for (const args of [[], ["notes"], ["--help"], ["--version"], ["constructor"], ["__proto__"]])
      assert.equal((await commandsFor(args)).length, commands.length, JSON.stringify(args));
  });
});
