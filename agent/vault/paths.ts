/**
 * Vault-relative paths. Every path that enters the vault — from a local scan or inside a document
 * from another device — goes through `normaliseVaultPath`, so nothing can name a place outside the
 * vault root, collide with another spelling of itself, or land in our own state folder.
 */
import { UserError } from "../errors.js";

export class UnsafePathError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnsafePathError";
  }
}

/** Bytes in one path segment: ext4/APFS/NTFS all stop at 255. */
export const SEGMENT_BYTES_MAX = 255;
/** Bytes in a whole relative path (Linux PATH_MAX is 4096 including the root). */
export const PATH_BYTES_MAX = 3072;
/** Our state folder never syncs and can never be written into from a document. */
export const STATE_DIR = ".edgesync";

// Names Windows refuses; a vault shared with a Windows device must not carry them.
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
// Control characters and the characters Windows forbids in names.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f<>:"|?*\\]/;

const utf8 = new TextEncoder();

/** Returns the canonical form (NFC, `/` separators) or throws UnsafePathError naming the problem. */
export function normaliseVaultPath(raw: string): string {
  if (typeof raw !== "string" || raw.length === 0) throw new UnsafePathError("empty path");
  if (raw.includes("\u0000")) throw new UnsafePathError(`path contains NUL: ${JSON.stringify(raw)}`);
  if (raw.includes("\\")) throw new UnsafePathError(`path contains a backslash: ${JSON.stringify(raw)}`);
  if (raw.startsWith("/")) throw new UnsafePathError(`absolute path: ${JSON.stringify(raw)}`);
  const path = raw.normalize("NFC");
  if (longerThanUtf8Bytes(path, PATH_BYTES_MAX)) throw new UnsafePathError(`path longer than ${PATH_BYTES_MAX} bytes`);
  const segments = path.split("/");
  for (const segment of segments) checkSegment(segment, raw);
  if (segments[0] === STATE_DIR) throw new UnsafePathError(`path inside ${STATE_DIR}/: ${JSON.stringify(raw)}`);
  return path;
}

function checkSegment(segment: string, raw: string): void {
  const shown = () => JSON.stringify(raw); // only on failure: every path of a 10,000-file pass comes here
  if (segment === "") throw new UnsafePathError(`empty segment in ${shown()}`);
  if (segment === "." || segment === "..") throw new UnsafePathError(`path climbs with "${segment}": ${shown()}`);
  if (FORBIDDEN_CHARS.test(segment)) throw new UnsafePathError(`forbidden character in ${shown()}`);
  if (longerThanUtf8Bytes(segment, SEGMENT_BYTES_MAX))
    throw new UnsafePathError(`name longer than ${SEGMENT_BYTES_MAX} bytes in ${shown()}`);
  if (WINDOWS_RESERVED.test(segment)) throw new UnsafePathError(`reserved name "${segment}" in ${shown()}`);
  if (segment.endsWith(" ") || segment.endsWith("."))
    throw new UnsafePathError(`name ends with a space or dot in ${shown()}`);
}

/** More than `max` bytes in UTF-8; encoded only when the bound (3 bytes per UTF-16 unit) cannot decide. */
function longerThanUtf8Bytes(text: string, max: number): boolean {
  return text.length * 3 > max && utf8.encode(text).length > max;
}

/** True when `normaliseVaultPath` would accept `raw` unchanged. */
export function isCanonicalVaultPath(raw: string): boolean {
  try {
    return normaliseVaultPath(raw) === raw;
  } catch {
    return false;
  }
}
