/**
 * `.edgesync/config.toml`: the vault's identity and this device's settings for it. Defaults are
 * applied and every field validated here, in one place; a bad file gives one line naming the
 * field and the fix.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse, stringify } from "smol-toml";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { STATE_DIR } from "./paths.js";
import { UserError } from "../errors.js";

export class ConfigError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

export class NotAVaultError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotAVaultError";
  }
}

export interface VaultConfig {
  vault: {
    /** UUID; also the NATS subject token and account name of the vault. */
    id: string;
    name: string;
    /** ms since epoch. */
    createdAt: number;
  };
  sync: {
    /** File extensions (without dot) that sync besides authorized_keys and .syncignore. */
    extensions: string[];
    /** Larger files are skipped with a warning. */
    fileBytesMax: number;
    /** Quiet time after a change event before the file is read. */
    debounceMs: number;
    /** Full rescan period, a safety net under the watcher. */
    rescanIntervalMs: number;
    /** A scan that would delete more than this share (in %) of the files is refused. */
    massDeletePercentMax: number;
  };
  hub: {
    /** Client URL of the hub (clone, push, pull). */
    url?: string;
    /** Leafnode URL of the hub (the leaf role dials it). */
    leafUrl?: string;
  };
}

export const CONFIG_FILE = "config.toml";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const defaultSyncConfig = (): VaultConfig["sync"] => ({
  extensions: ["md", "markdown"],
  fileBytesMax: 16 * 1024 * 1024,
  // Long enough to coalesce one editor save (write + chmod + rename events), short enough that no
  // one notices it in an edit's way to other devices; truncate-then-write has its own guard.
  debounceMs: 15,
  rescanIntervalMs: 10_000,
  massDeletePercentMax: 50,
});

export const configPath = (root: string) => join(root, STATE_DIR, CONFIG_FILE);

export async function loadVaultConfig(root: string): Promise<VaultConfig> {
  const path = configPath(root);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new NotAVaultError(
        `${root} is not an edgesync vault (no ${STATE_DIR}/${CONFIG_FILE}); run \`edgesync init\` there or pass --cwd`,
      );
    }
    throw error;
  }
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new ConfigError(`${path} is not valid TOML (${detail}); fix the file or restore it from a backup`, {
      cause: error,
    });
  }
  return validateConfig(raw, path);
}

function validateConfig(raw: Record<string, unknown>, path: string): VaultConfig {
  const fail = (field: string, want: string): never => {
    throw new ConfigError(`${path}: ${field} must be ${want}; fix that line`);
  };
  const table = (name: string) => {
    const value = raw[name] ?? {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`[${name}]`, "a table");
    return value as Record<string, unknown>;
  };
  const vault = table("vault");
  const sync = table("sync");
  const hub = table("hub");
  if (typeof vault.id !== "string" || !UUID.test(vault.id)) fail("vault.id", "a lowercase UUID");
  if (typeof vault.name !== "string" || vault.name.length === 0 || vault.name.length > 128)
    fail("vault.name", "a non-empty string of at most 128 characters");
  const createdAt = Number(vault.created_at ?? 0);
  if (!Number.isSafeInteger(createdAt) || createdAt < 0) fail("vault.created_at", "epoch milliseconds");
  const defaults = defaultSyncConfig();
  const int = (key: string, fallback: number, min: number, max: number) => {
    const value = sync[key] ?? fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
      fail(`sync.${key}`, `an integer from ${min} to ${max}`);
    return value as number;
  };
  const extensions = sync.extensions ?? defaults.extensions;
  if (!Array.isArray(extensions) || !extensions.every((e) => typeof e === "string" && /^[A-Za-z0-9]{1,16}$/.test(e))) {
    fail("sync.extensions", 'a list of extensions without dots, e.g. ["md", "markdown"]');
  }
  for (const key of ["url", "leaf_url"]) {
    const value = hub[key];
    if (value !== undefined && (typeof value !== "string" || !/^(nats|nats-leaf|tls|ws|wss):\/\/[^\s]+$/.test(value)))
      fail(`hub.${key}`, "a nats://, nats-leaf://, tls://, ws:// or wss:// URL");
  }
  return {
    vault: { id: vault.id as string, name: vault.name as string, createdAt },
    sync: {
      extensions: (extensions as string[]).map((e) => e.toLowerCase()),
      fileBytesMax: int("file_bytes_max", defaults.fileBytesMax, 1, 1 << 30),
      debounceMs: int("debounce_ms", defaults.debounceMs, 0, 60_000),
      rescanIntervalMs: int("rescan_interval_ms", defaults.rescanIntervalMs, 100, 3_600_000),
      massDeletePercentMax: int("mass_delete_percent_max", defaults.massDeletePercentMax, 1, 100),
    },
    hub: { url: hub.url as string | undefined, leafUrl: hub.leaf_url as string | undefined },
  };
}

export async function saveVaultConfig(root: string, config: VaultConfig): Promise<void> {
  const doc: Record<string, unknown> = {
    vault: { id: config.vault.id, name: config.vault.name, created_at: config.vault.createdAt },
    sync: {
      extensions: config.sync.extensions,
      file_bytes_max: config.sync.fileBytesMax,
      debounce_ms: config.sync.debounceMs,
      rescan_interval_ms: config.sync.rescanIntervalMs,
      mass_delete_percent_max: config.sync.massDeletePercentMax,
    },
  };
  if (config.hub.url || config.hub.leafUrl)
    doc.hub = {
      ...(config.hub.url ? { url: config.hub.url } : {}),
      ...(config.hub.leafUrl ? { leaf_url: config.hub.leafUrl } : {}),
    };
  const header = "# edgesync vault settings. Edit with care: a bad value stops the agent with a message naming it.\n";
  await writeFileAtomic(configPath(root), header + stringify(doc) + "\n", { mode: 0o644 });
}
