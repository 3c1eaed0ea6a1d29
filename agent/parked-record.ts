/**
 * `<replica dir>/parked.json`: what an unloaded replica needs to answer for its vault without its
 * document — the heads it saved, whether it holds a vault, the saved size. Written after the
 * document is saved and the store closed (an unload, or the hub stopping), removed before a load
 * starts an engine that could save again: while the file exists it describes the store exactly.
 * A hub that restarts finds it and opens the replica unloaded, so a restart does not load every
 * vault it hosts at once. Missing or unreadable, the replica is loaded to learn the same.
 */
import { readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./fs/atomic-write.js";

export interface ParkedRecord {
  heads: string[];
  ready: boolean;
  savedBytes: number;
}

const PARKED_FILE = "parked.json";
const HEAD = /^[0-9a-f]{64}$/;
/** As many heads as an announcement carries (ANNOUNCE_HEADS_MAX): more means a file not ours. */
const PARKED_HEADS_MAX = 256;

/** The record in `text`, or undefined for anything not exactly its shape. */
export function parseParkedRecord(text: string): ParkedRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { heads, ready, savedBytes } = value as Record<string, unknown>;
  if (!Array.isArray(heads) || heads.length > PARKED_HEADS_MAX) return undefined;
  if (!heads.every((h) => typeof h === "string" && HEAD.test(h))) return undefined;
  if (typeof ready !== "boolean" || typeof savedBytes !== "number" || !Number.isSafeInteger(savedBytes))
    return undefined;
  if (savedBytes < 0) return undefined;
  return { heads: heads as string[], ready, savedBytes };
}

export async function readParkedRecord(dir: string): Promise<ParkedRecord | undefined> {
  // Absent or unreadable: the replica loads its document instead, which is always correct.
  const text = await readFile(join(dir, PARKED_FILE), "utf8").catch(() => undefined);
  return text === undefined ? undefined : parseParkedRecord(text);
}

export function writeParkedRecord(dir: string, record: ParkedRecord): Promise<void> {
  return writeFileAtomic(join(dir, PARKED_FILE), JSON.stringify(record), { mode: 0o600 });
}

export async function removeParkedRecord(dir: string): Promise<void> {
  await unlink(join(dir, PARKED_FILE)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}
