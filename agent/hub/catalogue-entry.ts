/**
 * One vault of a hub cluster's shared catalogue, as hubs exchange it: its registered name and the
 * authorized_keys every hub must enforce for it, with the version that decides which of two copies
 * is newer. Pure: no I/O.
 *
 * The version is the time the keys were applied plus a hash of the content, so two hubs holding
 * different texts with the same time still agree on one winner. A hub that applies new keys makes
 * its time later than the version it replaces (clock skew between hubs cannot make a newer decision
 * lose), and records the document heads it read them at, so a replica whose document is behind
 * those heads does not enforce an older text over them (hub-authority.ts applyAuthorizedKeys).
 */
import { createHash } from "node:crypto";
import { AUTHORIZED_KEYS_BYTES_MAX } from "../auth/authorized-keys.js";
import { VAULT_NAME_CHARS_MAX } from "./hub-protocol.js";
import type { HostedVault } from "./hub-state.js";

/** Heads of a vault document are a handful of change hashes; more than this is not an entry we wrote. */
const ENTRY_HEADS_MAX = 64;
const HEAD_PATTERN = /^[0-9a-f]{64}$/;

export interface EntryVersion {
  atMs: number;
  hash: string;
}

export function entryVersion(entry: HostedVault): EntryVersion {
  const hash = createHash("sha256").update(`${entry.name}\0${entry.authorizedKeys}`).digest("hex").slice(0, 16);
  return { atMs: entry.updatedAtMs ?? 0, hash };
}

export const versionText = (v: EntryVersion) => `${v.atMs}:${v.hash}`;

export function parseVersionText(text: unknown): EntryVersion | undefined {
  if (typeof text !== "string") return undefined;
  const match = /^(\d{1,16}):([0-9a-f]{16})$/.exec(text);
  return match ? { atMs: Number(match[1]), hash: match[2] } : undefined;
}

/** Whether `a` should replace `b`: later time, or the same time and the larger hash. */
export function isNewerVersion(a: EntryVersion, b: EntryVersion | undefined): boolean {
  if (!b) return true;
  return a.atMs !== b.atMs ? a.atMs > b.atMs : a.hash > b.hash;
}

/** The version a hub gives keys it applies now: never earlier than the one they replace. */
export function nextUpdatedAtMs(nowMs: number, replaced: HostedVault | undefined): number {
  return Math.max(nowMs, (replaced?.updatedAtMs ?? 0) + 1);
}

/** Another hub's entry, or undefined when it is not a well-formed one. */
export function parseCatalogueEntry(value: unknown): HostedVault | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Partial<HostedVault>;
  if (typeof v.name !== "string" || v.name.length === 0 || v.name.length > VAULT_NAME_CHARS_MAX) return undefined;
  if (typeof v.authorizedKeys !== "string" || v.authorizedKeys.length > AUTHORIZED_KEYS_BYTES_MAX) return undefined;
  const updatedAtMs = Number(v.updatedAtMs);
  if (!Number.isSafeInteger(updatedAtMs) || updatedAtMs < 0) return undefined;
  let heads: string[] | undefined;
  if (v.heads !== undefined) {
    if (!Array.isArray(v.heads) || v.heads.length > ENTRY_HEADS_MAX) return undefined;
    if (!v.heads.every((h) => typeof h === "string" && HEAD_PATTERN.test(h))) return undefined;
    heads = [...v.heads];
  }
  return {
    name: v.name,
    authorizedKeys: v.authorizedKeys,
    registeredAtMs: Number(v.registeredAtMs) || 0,
    updatedAtMs,
    ...(heads ? { heads } : {}),
  };
}

/** A hash of every id and version: two hubs with the same catalogue send the same one. */
export function catalogueDigest(vaults: ReadonlyMap<string, HostedVault>): string {
  const hash = createHash("sha256");
  for (const id of [...vaults.keys()].sort()) hash.update(`${id}=${versionText(entryVersion(vaults.get(id)!))}\n`);
  return hash.digest("hex");
}
