import { Command, Option } from "clipanion";
import { EdgesyncCommand } from "./base-command.js";
import { runVaultOp } from "./vault-op.js";
import type { VaultStatus } from "../agent/local-vault/operations.js";
import { formatBytes, formatAgo } from "./format.js";
import { callAgent } from "../agent/control.js";
import { STATE_DIR } from "../agent/vault/paths.js";
import { join } from "node:path";

export class StatusCommand extends EdgesyncCommand {
  static override paths = [["status"]];
  static override usage = Command.Usage({
    description: "Show the vault, its files, and the agent's sync state",
    examples: [
      ["Human-readable", "edgesync status"],
      ["For scripts", "edgesync status --json"],
    ],
  });
  identity = Option.String("--identity");
  asJson = Option.Boolean("--json", false);

  async run() {
    const status = (await runVaultOp(this.root, "status", {}, this.identity)) as VaultStatus & {
      agent?: Record<string, unknown>;
    };
    const agent = await callAgent(join(this.root, STATE_DIR), "agentInfo").catch(() => undefined);
    if (agent) status.agent = agent.result as Record<string, unknown>;
    if (this.asJson) return this.json(status);
    this.out(`vault     ${status.vault.name} (${status.vault.id})`);
    this.out(
      `files     ${status.files} (${formatBytes(status.bytes)}), ${status.snapshots} snapshots, storage ${formatBytes(status.storageBytes)}`,
    );
    for (const entry of status.invalid ?? [])
      this.out(
        `invalid   ${entry.path} (bucket ${entry.bucket}): ${entry.problem}; not counted, not written to disk (docs/vault-schema.md)`,
      );
    for (const entry of status.overLimit ?? [])
      this.out(
        `too large ${entry.path} (${formatBytes(entry.size)}): over sync.file_bytes_max, kept in the vault but not written here`,
      );
    if (status.blobsMissing > 0)
      this.out(
        `waiting   ${status.blobsMissing} binary file(s) whose contents have not arrived yet (not written to disk until they do)`,
      );
    this.out(`heads     ${status.heads.map((h) => h.slice(0, 12)).join(", ")}`);
    if (status.agent) {
      for (const [key, value] of Object.entries(status.agent))
        this.out(`${key.padEnd(9)} ${typeof value === "object" ? JSON.stringify(value) : String(value)}`);
    } else {
      this.out("agent     not running (start it with `edgesync sync start`)");
    }
    this.out(`peers     ${status.sync.peers.length === 0 ? "none" : status.sync.peers.join(", ")}`);
    this.out(
      `last sync ${status.sync.lastSyncMs ? formatAgo(Date.now() - status.sync.lastSyncMs) : "never (this session)"}`,
    );
  }
}
