/** Seeded randomness and vault-disk checks shared by the kill trials and the soak. */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { DiskStore } from "../../agent/vault/store/disk-store.js";
import { loadDoc } from "../../agent/vault/model/load.js";
import { listStored, entryFromStored, type Doc } from "../../agent/vault/model/vault-doc.js";
import { TEMP_MARKER } from "../../agent/fs/atomic-write.js";

/** mulberry32: small, fast, reproducible from one printed seed. */
export function seeded(seed: number): { next(): number; int(max: number): number; pick<T>(items: readonly T[]): T } {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (max) => Math.floor(next() * max), pick: (items) => items[Math.floor(next() * items.length)] };
}

export const sha = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

/** Every path under `dir` (files and others), relative, including .edgesync. */
export async function walk(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await walk(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

export const tempFiles = async (dir: string) => (await walk(dir)).filter((p) => p.includes(TEMP_MARKER));

/** Loads a stopped (or killed) vault's stored document the way a restart would. */
export async function loadStoredDoc(root: string): Promise<Doc> {
  const store = new DiskStore(join(root, ".edgesync"));
  try {
    return loadDoc(await store.load(), "00000000000000000000000000000000");
  } finally {
    await store.close();
  }
}

/** path → text of every stored file. */
export function docTexts(doc: Doc): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, rev] of listStored(doc)) out.set(path, new TextDecoder().decode(entryFromStored(path, rev).bytes));
  return out;
}

/** path → bytes of every synced file on disk (skips .edgesync). */
export async function diskFiles(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const path of await walk(root)) {
    if (path.startsWith(".edgesync/")) continue;
    const bytes = await readFile(join(root, path)).catch(() => undefined);
    if (bytes) out.set(path, bytes);
  }
  return out;
}
