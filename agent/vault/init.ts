/**
 * `edgesync init`: turns a folder into a vault. Safe to run twice: an existing vault keeps its id,
 * and only what is missing (this device's key line, .syncignore, the .gitignore entry) is added.
 * Only the creator imports the folder's files; clones receive them by sync (two independent imports
 * of one folder would create conflicting copies of every file).
 */
import { mkdir, readFile, access } from "node:fs/promises";
import { basename, join } from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import * as A from "@automerge/automerge";
import { configPath, defaultSyncConfig, saveVaultConfig, loadVaultConfig, type VaultConfig } from "./config.js";
import { createVaultDoc } from "./model/vault-doc.js";
import { DiskStore } from "./store/disk-store.js";
import { STATE_DIR } from "./paths.js";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { AUTHORIZED_KEYS, SYNCIGNORE } from "../fs/sync-filter.js";
import { UsageError } from "../errors.js";

export interface InitOptions {
  root: string;
  name?: string;
  /** `ssh-ed25519 AAAA… comment` of this device. */
  authorizedKeyLine: string;
  /** Do not write .syncignore nor touch .gitignore. */
  noIgnoreFiles?: boolean;
  nowMs: number;
}

export interface InitResult {
  created: boolean;
  config: VaultConfig;
  added: string[];
}

export const DEFAULT_SYNCIGNORE = `# Paths that never sync, in .gitignore syntax. Edits here take effect live on every device.
# Only files with a synced extension (see [sync] extensions in .edgesync/config.toml) are considered.
.trash/
drafts/private-*.md
`;

const NAME_MAX = 128;

export async function initVault(options: InitOptions): Promise<InitResult> {
  const exists = await access(configPath(options.root)).then(
    () => true,
    () => false,
  );
  const added: string[] = [];
  let config: VaultConfig;
  if (exists) {
    config = await loadVaultConfig(options.root);
  } else {
    const name = (options.name ?? basename(options.root)).trim();
    if (name.length === 0 || name.length > NAME_MAX || [...name].some((c) => c.charCodeAt(0) < 0x20)) {
      throw new UsageError(`vault name must be 1-${NAME_MAX} printable characters; pass --name`);
    }
    config = { vault: { id: randomUUID(), name, createdAt: options.nowMs }, sync: defaultSyncConfig(), hub: {} };
    await mkdir(join(options.root, STATE_DIR), { recursive: true, mode: 0o700 });
    const doc = createVaultDoc(
      { vaultId: config.vault.id, name, createdAt: options.nowMs },
      randomBytes(16).toString("hex"),
    );
    const store = new DiskStore(join(options.root, STATE_DIR));
    await store.replace(A.save(doc));
    await store.close();
    await saveVaultConfig(options.root, config); // last: its presence marks a complete vault
    added.push(`${STATE_DIR}/config.toml`);
  }
  if (
    await addLineIfMissing(
      join(options.root, AUTHORIZED_KEYS),
      options.authorizedKeyLine,
      keyOf(options.authorizedKeyLine),
    )
  )
    added.push(AUTHORIZED_KEYS);
  if (!options.noIgnoreFiles) {
    const syncignore = join(options.root, SYNCIGNORE);
    if (
      !(await access(syncignore).then(
        () => true,
        () => false,
      ))
    ) {
      await writeFileAtomic(syncignore, DEFAULT_SYNCIGNORE);
      added.push(SYNCIGNORE);
    }
    if (await addLineIfMissing(join(options.root, ".gitignore"), `${STATE_DIR}/`, `${STATE_DIR}/`))
      added.push(".gitignore");
  }
  return { created: !exists, config, added };
}

const keyOf = (line: string) => line.split(/\s+/).slice(0, 2).join(" ");

/** Appends `line` unless a line containing `marker` is already there; keeps every other byte. */
async function addLineIfMissing(path: string, line: string, marker: string): Promise<boolean> {
  const current = await readFile(path, "utf8").catch(() => "");
  if (current.split(/\r?\n/).some((l) => l.includes(marker))) return false;
  const separator = current.length > 0 && !current.endsWith("\n") ? "\n" : "";
  await writeFileAtomic(path, `${current}${separator}${line}\n`);
  return true;
}
