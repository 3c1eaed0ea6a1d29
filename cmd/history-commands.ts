/** restore-at, snapshot create|list|restore|delete, diff, compact: thin wrappers over vault operations. */
import { Command, Option } from "clipanion";
import { EdgesyncCommand } from "./base-command.js";
import { runVaultOp } from "./vault-op.js";
import type { RestoreResult, FileDiff, CompactResult } from "../agent/local-vault/operations.js";
import type { LabelInfo } from "../agent/vault/model/history.js";
import { formatBytes, formatTime } from "./format.js";

abstract class VaultDataCommand extends EdgesyncCommand {
  identity = Option.String("--identity", { description: "Device key file" });
  asJson = Option.Boolean("--json", false, { description: "Print the result as JSON" });

  op(name: Parameters<typeof runVaultOp>[1], args: Record<string, unknown> = {}) {
    return runVaultOp(this.root, name, args, this.identity);
  }

  printRestore(result: RestoreResult): void {
    if (this.asJson) return this.json(result);
    this.out(
      result.changed.length === 0
        ? "nothing to restore: the files already match"
        : `restored ${result.changed.length} file(s):`,
    );
    for (const path of result.changed) this.out(`  ${path}`);
  }
}

export class RestoreAtCommand extends VaultDataCommand {
  static override paths = [["restore-at"]];
  static override usage = Command.Usage({
    description: "Make the files what they were at a past time (adds changes; can itself be undone)",
    examples: [
      ["An hour ago", "edgesync restore-at 1h"],
      ["At an exact time", "edgesync restore-at 1763800000000"],
    ],
  });
  when = Option.String({ name: "time" });
  async run() {
    this.printRestore((await this.op("restoreAt", { when: this.when })) as RestoreResult);
  }
}

export class SnapshotCreateCommand extends VaultDataCommand {
  static override paths = [["snapshot", "create"]];
  static override usage = Command.Usage({
    description: "Name the vault's current state (the label syncs to every device)",
    examples: [["Before a big edit", "edgesync snapshot create before-refactor"]],
  });
  label = Option.String({ name: "label" });
  async run() {
    const result = (await this.op("snapshotCreate", { label: this.label })) as { label: string; heads: string[] };
    if (this.asJson) return this.json(result);
    this.out(`snapshot "${result.label}" at ${result.heads.map((h) => h.slice(0, 12)).join(",")}`);
  }
}

export class SnapshotListCommand extends VaultDataCommand {
  static override paths = [["snapshot", "list"]];
  static override usage = Command.Usage({ description: "List named snapshots" });
  async run() {
    const labels = (await this.op("snapshotList")) as LabelInfo[];
    if (this.asJson) return this.json(labels);
    if (labels.length === 0) this.out("no snapshots (create one with `edgesync snapshot create <label>`)");
    for (const l of labels) this.out(`${formatTime(l.time)}  ${l.label}  (${l.by.slice(0, 12)})`);
  }
}

export class SnapshotRestoreCommand extends VaultDataCommand {
  static override paths = [["snapshot", "restore"]];
  static override usage = Command.Usage({ description: "Make the files what they were at a snapshot (adds changes)" });
  label = Option.String({ name: "label" });
  async run() {
    this.printRestore((await this.op("snapshotRestore", { label: this.label })) as RestoreResult);
  }
}

export class SnapshotDeleteCommand extends VaultDataCommand {
  static override paths = [["snapshot", "delete"]];
  static override usage = Command.Usage({ description: "Delete a snapshot label (the history itself stays)" });
  label = Option.String({ name: "label" });
  async run() {
    await this.op("snapshotDelete", { label: this.label });
    if (this.asJson) return this.json({ deleted: this.label });
    this.out(`deleted snapshot "${this.label}"`);
  }
}

export class DiffCommand extends VaultDataCommand {
  static override paths = [["diff"]];
  static override usage = Command.Usage({
    description: "Unified diffs between two points: snapshot labels, times (5m, 2h, epoch ms) or change hashes",
    examples: [
      ["Since a snapshot", "edgesync diff before-refactor"],
      ["Between two times", "edgesync diff 2d 1d"],
    ],
  });
  from = Option.String({ name: "from" });
  to = Option.String({ name: "to", required: false });
  async run() {
    const result = (await this.op("diff", { from: this.from, to: this.to })) as {
      from: string[];
      to: string[];
      files: FileDiff[];
    };
    if (this.asJson) return this.json(result);
    if (result.files.length === 0) this.out("no differences");
    for (const file of result.files) {
      if (file.patch !== undefined) this.context.stdout.write(file.patch);
      else this.out(`Binary file ${file.path} ${file.change}`);
    }
  }
}

export class CompactCommand extends VaultDataCommand {
  static override paths = [["compact"]];
  static override usage = Command.Usage({
    description: "Rewrite the vault's storage as one compressed save; all history is kept",
  });
  async run() {
    const result = (await this.op("compact")) as CompactResult;
    if (this.asJson) return this.json(result);
    this.out(
      `compacted: ${formatBytes(result.beforeBytes)} → ${formatBytes(result.afterBytes)} (${result.changes} changes of history kept)`,
    );
    this.out(
      `blobs: removed ${result.blobsRemoved} unreferenced (${formatBytes(result.blobBytesRemoved)}), kept ${result.blobsKept}`,
    );
  }
}
