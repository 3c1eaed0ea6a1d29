import { Command, Option } from "clipanion";
import { EdgesyncCommand } from "./base-command.js";
import { initVault } from "../agent/vault/init.js";
import { loadDevice } from "./device.js";
import { withLocalVault } from "./vault-op.js";
import { listStored } from "../agent/vault/model/vault-doc.js";

export class InitCommand extends EdgesyncCommand {
  static override paths = [["init"]];
  static override usage = Command.Usage({
    description: "Turn the folder into a vault (safe to run again)",
    details:
      "Creates .edgesync/config.toml with a new vault id, seeds authorized_keys with this device's key, writes .syncignore and adds .edgesync/ to .gitignore, then imports the folder's files.",
    examples: [
      ["Make ~/notes a vault", "edgesync init --cwd ~/notes"],
      ["Name it", "edgesync init --name team-notes"],
    ],
  });
  name = Option.String("--name", { description: "Vault name (default: the folder name)" });
  noIgnoreFiles = Option.Boolean("--no-ignore-files", false, {
    description: "Do not write .syncignore or touch .gitignore",
  });
  identity = Option.String("--identity", { description: "Device key file (default ~/.edgesync/id_ed25519)" });
  asJson = Option.Boolean("--json", false);

  async run() {
    const device = await loadDevice(this.identity, { createIfMissing: true });
    const result = await initVault({
      root: this.root,
      name: this.name,
      authorizedKeyLine: device.sshLine,
      noIgnoreFiles: this.noIgnoreFiles,
      nowMs: Date.now(),
    });
    const files = await withLocalVault(this.root, this.identity, async (vault) => {
      // The import is stored as incremental changes, each file's text uncompressed; one full save
      // is a fraction of that, and every later start of the agent loads it many times faster.
      if (result.created) {
        await vault.binding.idle();
        await vault.engine.compact();
      }
      return listStored(vault.engine.doc).size;
    });
    if (this.asJson) return this.json({ ...result.config.vault, created: result.created, added: result.added, files });
    this.out(
      result.created
        ? `initialised vault "${result.config.vault.name}" (${result.config.vault.id})`
        : `already a vault: "${result.config.vault.name}" (${result.config.vault.id})`,
    );
    for (const added of result.added) this.out(`  added ${added}`);
    this.out(`  ${files} files in the vault`);
  }
}
