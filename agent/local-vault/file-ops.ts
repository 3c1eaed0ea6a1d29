/**
 * File operations on an opened vault, for clients that are not a folder on disk (the MCP server):
 * list, read, write, edit, delete, move, one file's history, and restore. Every write is an ordinary
 * local change of this device — the engine stores it, the folder binding puts it on disk, sync
 * carries it — so it is in history and attributed like an edit made in an editor. They run in the
 * agent (control socket) or in-process, like operations.ts.
 */
import * as A from "@automerge/automerge";
import type { LocalVault } from "./local-vault.js";
import { normaliseVaultPath } from "../vault/paths.js";
import {
  applyFileOps,
  entryFromStored,
  listStored,
  readStored,
  type Doc,
  type FileOp,
} from "../vault/model/vault-doc.js";
import { decodeTextOrUndefined, utf8Encode } from "../vault/model/bytes.js";
import { filesAt } from "../vault/model/history.js";
import { pointToHeads, restoreHeads, type RestoreResult } from "./operations.js";
import { SyncFilter, AUTHORIZED_KEYS, SYNCIGNORE } from "../fs/sync-filter.js";
import { passesSymlink } from "../fs/safe-fs.js";
import { UserError } from "../errors.js";

/** A request this vault cannot carry out as asked; the message says what to do instead. */
export class FileOpError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileOpError";
  }
}

/** Versions `fileHistory` returns at most: an agent reads them, and a busy file has thousands. */
export const HISTORY_VERSIONS_MAX = 500;

export interface FileInfo {
  path: string;
  kind: "text" | "binary";
  size: number;
  /** The writing device's mtime of this version (ms). */
  mtime: number;
  /** Device (peer id) that wrote this version. */
  by: string;
}

export function listFiles(vault: LocalVault, prefix = ""): FileInfo[] {
  const files: FileInfo[] = [];
  for (const [path, rev] of listStored(vault.engine.doc)) {
    if (!path.startsWith(prefix)) continue;
    files.push({
      path,
      kind: rev.text !== undefined ? "text" : "binary",
      size: rev.size,
      mtime: rev.mtime,
      by: String(rev.by),
    });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export interface FileContent extends FileInfo {
  sha256: string;
  /** UTF-8 content of a text file. */
  text?: string;
  /** A binary file's bytes, base64. */
  base64?: string;
}

export async function readFile(vault: LocalVault, rawPath: string): Promise<FileContent> {
  const path = normaliseVaultPath(rawPath);
  const rev = readStored(vault.engine.doc, path);
  if (rev === undefined) throw new FileOpError(`${path} is not in the vault; list_files shows what is`);
  const entry = entryFromStored(path, rev);
  const info = { path, kind: entry.kind, size: entry.size, mtime: entry.mtime, by: entry.by, sha256: entry.sha256 };
  if (entry.kind === "text") return { ...info, text: decodeTextOrUndefined(entry.bytes ?? new Uint8Array()) ?? "" };
  const bytes = entry.bytes ?? (await vault.engine.blobs.get(entry.blob ?? ""));
  if (bytes === undefined)
    throw new FileOpError(`the bytes of ${path} have not reached this device yet; try again once it has synced`);
  return { ...info, base64: Buffer.from(bytes).toString("base64") };
}

export interface WriteResult {
  path: string;
  bytes: number;
  /** False when the file already held exactly this content (no change was made). */
  changed: boolean;
}

export async function writeFile(vault: LocalVault, rawPath: string, content: string): Promise<WriteResult> {
  const path = await writablePath(vault, rawPath);
  const bytes = boundedUtf8(vault, path, content);
  const changed = await vault.engine.change([{ type: "put", path, bytes, mtime: Date.now() }], `write ${path}`);
  await vault.binding.idle();
  return { path, bytes: bytes.length, changed: changed.length > 0 };
}

/** Replaces the one occurrence of `oldText` in a text file; read and write in one engine step. */
export async function editFile(
  vault: LocalVault,
  rawPath: string,
  oldText: string,
  newText: string,
): Promise<WriteResult> {
  const path = await writablePath(vault, rawPath);
  if (oldText.length === 0)
    throw new FileOpError("old_text is empty; give the exact text to replace (read_file shows it), or use write_file");
  let size = 0;
  await vault.engine.update((doc, now, blobs) => {
    const text = currentText(doc, path);
    const at = text.indexOf(oldText);
    if (at < 0)
      throw new FileOpError(
        `old_text was not found in ${path}; read_file it again and copy the exact text, whitespace included`,
      );
    const count = text.split(oldText).length - 1;
    if (count > 1)
      throw new FileOpError(
        `old_text occurs ${count} times in ${path}; include more surrounding lines so it matches once`,
      );
    const bytes = boundedUtf8(vault, path, text.slice(0, at) + newText + text.slice(at + oldText.length));
    size = bytes.length;
    return applyFileOps(doc, [{ type: "put", path, bytes, mtime: now }], {
      time: now,
      by: vault.engine.self,
      message: `edit ${path}`,
      blobs,
    });
  });
  await vault.binding.idle();
  return { path, bytes: size, changed: oldText !== newText };
}

export async function deleteFile(vault: LocalVault, rawPath: string): Promise<{ path: string }> {
  const path = await writablePath(vault, rawPath);
  if (readStored(vault.engine.doc, path) === undefined)
    throw new FileOpError(`${path} is not in the vault; list_files shows what is`);
  await vault.engine.change([{ type: "delete", path }], `delete ${path}`);
  await vault.binding.idle();
  return { path };
}

/** A rename is one change: the new path holds the same revision content, the old one is deleted. */
export async function moveFile(
  vault: LocalVault,
  rawFrom: string,
  rawTo: string,
): Promise<{ from: string; to: string }> {
  const from = await writablePath(vault, rawFrom);
  const to = await writablePath(vault, rawTo);
  if (from === to) throw new FileOpError(`${from} and the new path are the same file`);
  await vault.engine.update((doc, now, blobs) => {
    const rev = readStored(doc, from);
    if (rev === undefined) throw new FileOpError(`${from} is not in the vault; list_files shows what is`);
    if (readStored(doc, to) !== undefined)
      throw new FileOpError(`${to} exists; delete it first or choose another new path`);
    const entry = entryFromStored(from, rev);
    const put: FileOp =
      entry.bytes !== undefined
        ? { type: "put", path: to, bytes: entry.bytes, mtime: now }
        : { type: "link", path: to, blob: entry.blob ?? entry.sha256, size: entry.size, mtime: now };
    return applyFileOps(doc, [put, { type: "delete", path: from }], {
      time: now,
      by: vault.engine.self,
      message: `move ${from} to ${to}`,
      blobs,
    });
  });
  await vault.binding.idle();
  return { from, to };
}

export interface FileVersion {
  /** The change that made this version: usable as a point for diff and restore. */
  hash: string;
  time: number;
  change: "added" | "modified" | "deleted";
  /** Device that wrote the version (absent for a delete: a deletion carries no author). */
  by?: string;
  size?: number;
  sha256?: string;
}

/**
 * Versions of one file, newest first. A change touches a file when one of its operations has the
 * path as key (the files map is keyed by path); the version it made is read from the document as
 * of that change. Every change is decoded: a cost in the size of the history, paid per call.
 */
export function fileHistory(vault: LocalVault, rawPath: string, limit = 50): { path: string; versions: FileVersion[] } {
  const path = normaliseVaultPath(rawPath);
  const doc = vault.engine.doc;
  // getAllChanges lists changes in causal order: reversed, newest first even within one millisecond.
  const touching = A.getAllChanges(doc)
    .map((change) => A.decodeChange(change))
    .filter((change) => change.ops.some((op) => op.key === path))
    .reverse();
  const versions: FileVersion[] = [];
  for (const change of touching.slice(0, Math.min(Math.max(1, limit), HISTORY_VERSIONS_MAX))) {
    const rev = readStored(A.view(doc, [change.hash]) as Doc, path);
    const before = change.deps.length === 0 ? undefined : readStored(A.view(doc, change.deps) as Doc, path);
    if (rev === undefined) versions.push({ hash: change.hash, time: change.time, change: "deleted" });
    else
      versions.push({
        hash: change.hash,
        time: change.time,
        change: before === undefined ? "added" : "modified",
        by: String(rev.by),
        size: rev.size,
        sha256: String(rev.sha256),
      });
  }
  if (versions.length === 0 && readStored(doc, path) === undefined)
    throw new FileOpError(`${path} has no history in this vault; list_files shows the files`);
  return { path, versions };
}

/** The whole vault, or one file, as it was at `at` (a snapshot label, a time, or change hashes). */
export async function restore(vault: LocalVault, at: string, rawPath?: string): Promise<RestoreResult> {
  const heads = pointToHeads(vault, at, Date.now());
  // Before the vault's first change there are no files: restoring that would delete every file.
  if (heads.length === 0)
    throw new FileOpError(
      `the vault did not exist yet at ${at}; pick a later point (file_history shows when files changed)`,
    );
  if (rawPath === undefined) return { to: { heads }, changed: await restoreHeads(vault, heads, `restore to ${at}`) };
  const path = await writablePath(vault, rawPath);
  const past = filesAt(vault.engine.doc, heads).get(path);
  if (past === undefined)
    throw new FileOpError(
      `${path} did not exist at ${at}; file_history shows its versions (use delete_file to remove it)`,
    );
  const op: FileOp =
    past.bytes !== undefined
      ? { type: "put", path, bytes: past.bytes, mtime: Date.now() }
      : { type: "link", path, blob: past.blob ?? past.sha256, size: past.size, mtime: Date.now() };
  const changed = await vault.engine.change([op], `restore ${path} to ${at}`);
  await vault.binding.idle();
  return { to: { heads }, changed };
}

/**
 * A path a client may write: safe (paths.ts, the checks sync applies to every path), one that
 * syncs in this vault (else it would sit in the document and never reach a disk), and not
 * authorized_keys — who may join the vault is for a human to edit, not for a tool an AI agent
 * drives on the strength of text it read.
 */
async function writablePath(vault: LocalVault, raw: string): Promise<string> {
  const path = normaliseVaultPath(raw);
  if (path === AUTHORIZED_KEYS)
    throw new FileOpError(
      `${AUTHORIZED_KEYS} decides which devices may join the vault; a person edits it by hand, not through this tool`,
    );
  const ignore = readStored(vault.engine.doc, SYNCIGNORE);
  const filter = new SyncFilter(vault.config.sync.extensions, ignore?.text === undefined ? "" : String(ignore.text));
  if (!filter.includes(path)) {
    throw new FileOpError(
      `${path} would not sync: this vault syncs .${vault.config.sync.extensions.join(", .")} files not matched by .syncignore; choose such a path`,
    );
  }
  // The folder binding never writes through a symlink: the change would sync, yet never land here.
  if (await passesSymlink(vault.root, path))
    throw new FileOpError(
      `${path} goes through a symbolic link, and edgesync never writes through one; choose a path in a real folder of the vault`,
    );
  return path;
}

function boundedUtf8(vault: LocalVault, path: string, content: string): Uint8Array {
  const bytes = utf8Encode(content);
  const max = vault.config.sync.fileBytesMax;
  if (bytes.length > max)
    throw new FileOpError(
      `${path} would be ${bytes.length} bytes, over this vault's limit of ${max} (sync.file_bytes_max); split it into smaller files`,
    );
  return bytes;
}

function currentText(doc: Doc, path: string): string {
  const rev = readStored(doc, path);
  if (rev === undefined) throw new FileOpError(`${path} is not in the vault; use write_file to create it`);
  if (rev.text === undefined) throw new FileOpError(`${path} is a binary file; edit_file changes text files only`);
  return String(rev.text);
}
