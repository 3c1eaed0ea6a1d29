/**
 * What a file entry in the vault document must look like (docs/vault-schema.md), checked on every
 * entry that arrives, from any peer: edgesync agents write only well-formed entries, but a
 * third-party client (an automerge-repo app over the bridge) writes the document by hand, and a
 * wrong entry used to be neither written nor reported — or worse, read as a delete of the file.
 *
 * `entryProblem` is structural and cheap (no hashing); `contentProblem` hashes inline text, so
 * callers cache it per revision object (Automerge keeps unchanged objects identical between views).
 */
import * as A from "@automerge/automerge";
import { bucketOf } from "./bucket.js";
import { sha256Hex, utf8Encode } from "./bytes.js";
import { BUCKET_COUNT, type StoredRev } from "./schema.js";
import { isReady, type Doc } from "./vault-doc.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A field's value in words, for a log line: its type, never its (maybe large) content. */
function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (typeof value === "string") return "a plain string (Automerge collaborative text)";
  if (value instanceof A.ImmutableString) return "an ImmutableString";
  if (value instanceof Uint8Array) return "bytes";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "number") return `the number ${value}`;
  return `a ${typeof value}`;
}

const immutableString = (value: unknown): value is A.ImmutableString => value instanceof A.ImmutableString;

/**
 * What is wrong with the entry at `files[bucket][path]`, as one sentence naming every problem, or
 * undefined when its shape is right. Does not hash: see contentProblem.
 */
export function entryProblem(bucket: string, path: string, entry: unknown): string | undefined {
  if (
    entry === null ||
    typeof entry !== "object" ||
    Array.isArray(entry) ||
    entry instanceof Uint8Array ||
    immutableString(entry)
  ) {
    return `the entry is ${describe(entry)}, not a map of revision fields`;
  }
  const rev = entry as Record<string, unknown>;
  const problems: string[] = [];
  const expected = bucketOf(path);
  if (bucket !== expected)
    problems.push(
      `it is in bucket ${JSON.stringify(bucket)} but FNV-1a of its UTF-8 path mod ${BUCKET_COUNT} puts it in bucket "${expected}"`,
    );
  const contents = (["text", "blob", "data"] as const).filter((field) => rev[field] !== undefined);
  if (contents.length === 0) problems.push("it has no content: set exactly one of text, blob (or legacy data)");
  if (contents.length > 1) problems.push(`it has ${contents.join(" and ")}: set exactly one`);
  if (rev.text !== undefined && !immutableString(rev.text))
    problems.push(`text is ${describe(rev.text)}, not an ImmutableString`);
  if (rev.blob !== undefined && !(immutableString(rev.blob) && SHA256_HEX.test(String(rev.blob))))
    problems.push(`blob is ${describe(rev.blob)}, not an ImmutableString of 64 lowercase hex digits`);
  if (rev.data !== undefined && !(rev.data instanceof Uint8Array))
    problems.push(`data is ${describe(rev.data)}, not bytes`);
  if (!immutableString(rev.sha256)) problems.push(`sha256 is ${describe(rev.sha256)}, not an ImmutableString`);
  else if (!SHA256_HEX.test(String(rev.sha256))) problems.push("sha256 is not 64 lowercase hex digits");
  else if (immutableString(rev.blob) && String(rev.blob) !== String(rev.sha256))
    problems.push("blob and sha256 differ (a blob is named by the SHA-256 of its bytes)");
  if (!(typeof rev.size === "number" && Number.isSafeInteger(rev.size) && rev.size >= 0))
    problems.push(`size is ${describe(rev.size)}, not a whole number of bytes`);
  if (!(typeof rev.mtime === "number" && Number.isFinite(rev.mtime)))
    problems.push(`mtime is ${describe(rev.mtime)}, not a time in ms`);
  if (!immutableString(rev.by)) problems.push(`by is ${describe(rev.by)}, not an ImmutableString`);
  return problems.length === 0 ? undefined : problems.join("; ");
}

/** Hex SHA-256; the agent passes Node's native one (this portable one is pure JS, for browsers). */
export type Digest = (bytes: Uint8Array) => string;

/**
 * For a structurally valid entry with inline content: whether `size` and `sha256` are those of the
 * content (a blob's bytes are checked by the blob fetcher when they arrive).
 */
export function contentProblem(rev: StoredRev, digest: Digest = sha256Hex): string | undefined {
  const bytes = rev.text !== undefined ? utf8Encode(String(rev.text)) : rev.blob === undefined ? rev.data : undefined;
  if (bytes === undefined) return undefined;
  const problems: string[] = [];
  if (rev.size !== bytes.length) problems.push(`size is ${rev.size} but the content has ${bytes.length} bytes`);
  if (digest(bytes) !== String(rev.sha256)) problems.push("sha256 is not the SHA-256 of the content");
  return problems.length === 0 ? undefined : problems.join("; ");
}

export interface InvalidEntry {
  path: string;
  bucket: string;
  problem: string;
}

/** Every problem of the entry, shape first and, when the shape is right, its content. */
export function fullProblem(
  bucket: string,
  path: string,
  entry: unknown,
  digest: Digest = sha256Hex,
): string | undefined {
  return entryProblem(bucket, path, entry) ?? contentProblem(entry as StoredRev, digest);
}

/**
 * The document's files split into valid ones (by path) and invalid entries. An entry in a wrong
 * bucket is invalid even when a valid entry for its path exists in the right one (that one counts).
 */
export function auditFiles(doc: Doc): { valid: Map<string, StoredRev>; invalid: InvalidEntry[] } {
  const valid = new Map<string, StoredRev>();
  const invalid: InvalidEntry[] = [];
  if (!isReady(doc)) return { valid, invalid };
  for (const [bucket, entries] of Object.entries(doc.files)) {
    if (entries === null || typeof entries !== "object") continue;
    for (const [path, entry] of Object.entries(entries)) {
      const problem = fullProblem(bucket, path, entry);
      if (problem === undefined) valid.set(path, entry);
      else invalid.push({ path, bucket, problem });
    }
  }
  invalid.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.bucket < b.bucket ? -1 : 1));
  return { valid, invalid };
}

/**
 * fullProblem, remembered per entry object: Automerge keeps an unchanged object identical between
 * views of the document, so listing files again hashes only the revisions that are new.
 */
export class EntryVerdicts {
  readonly #verdicts = new WeakMap<object, string | null>();
  readonly #digest: Digest;

  constructor(digest: Digest = sha256Hex) {
    this.#digest = digest;
  }

  problemOf(bucket: string, path: string, entry: unknown): string | undefined {
    if (entry === null || typeof entry !== "object") return fullProblem(bucket, path, entry, this.#digest);
    let verdict = this.#verdicts.get(entry);
    if (verdict === undefined) {
      verdict = fullProblem(bucket, path, entry, this.#digest) ?? null;
      this.#verdicts.set(entry, verdict);
    }
    return verdict ?? undefined;
  }
}
