/**
 * A vault's `authorized_keys`: the synced list of devices allowed on it, in sshd's format
 * (`[options] keytype base64 [comment]`, `#` comments). Parsing never throws on content: every
 * line that grants nothing says why in `problems`, by line number, once. Only `ssh-ed25519`
 * keys grant access, because a device key must map 1:1 onto a NATS nkey.
 *
 * sshd options restrict what an ssh session may do. Those that only switch off ssh features
 * edgesync does not have (`restrict`, `no-pty`, …) are accepted; those that would narrow *who*
 * or *when* (`from=`, `expiry-time=`, `command=`, `cert-authority`, …) cannot be enforced over
 * NATS, so such a line is refused rather than granted more than it says (fail closed).
 */
import { Prefix } from "@nats-io/nkeys";
import { nkeyPublic } from "./identity.js";
import { SshReader } from "./ssh-wire.js";
import {
  decodeBase64Strict,
  ED25519_KEY_TYPE,
  equalBytes,
  KeyFormatError,
  publicKeyFromBlob,
  sshFingerprint,
} from "./openssh-format.js";

/** A file far larger than any real device list is refused past this point (the rest grants nothing). */
export const AUTHORIZED_KEYS_BYTES_MAX = 1024 * 1024;
/** sshd's own bound on one public key line (SSH_MAX_PUBKEY_BYTES). */
export const AUTHORIZED_KEY_LINE_CHARS_MAX = 16 * 1024;

export interface AuthorizedKey {
  publicKey: Uint8Array;
  type: typeof ED25519_KEY_TYPE;
  comment: string;
  /** 1-based line number in the file. */
  line: number;
  /** `SHA256:…` as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** The key as a NATS user nkey (`U…`), the device's peer id. */
  nkeyPublic: string;
}

export const ProblemKind = {
  Unsupported: "unsupported-type",
  Malformed: "malformed",
  Duplicate: "duplicate",
  Option: "unenforceable-option",
  Conflict: "merge-conflict",
  TooLarge: "too-large",
} as const;
export type ProblemKind = (typeof ProblemKind)[keyof typeof ProblemKind];

export interface AuthorizedKeysProblem {
  line: number;
  kind: ProblemKind;
  message: string;
}

export interface ParsedAuthorizedKeys {
  keys: AuthorizedKey[];
  problems: AuthorizedKeysProblem[];
}

const KEY_TYPES_UNSUPPORTED =
  /^(ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ecdsa-sha2-nistp256@openssh\.com|sk-ssh-ed25519@openssh\.com|[a-z0-9-]+-cert-v01@openssh\.com|rsa-sha2-(256|512))$/;
/** Options that only turn off ssh features (ptys, forwarding, rc files); meaningless here. */
const OPTIONS_HARMLESS = new Set([
  "restrict",
  "no-pty",
  "no-port-forwarding",
  "no-agent-forwarding",
  "no-x11-forwarding",
  "no-user-rc",
  "pty",
  "port-forwarding",
  "agent-forwarding",
  "x11-forwarding",
  "user-rc",
  "permitopen",
  "permitlisten",
  "environment",
  "tunnel",
  "no-touch-required",
  "verify-required",
]);

/** Splits text into lines that keep their terminators, so joining them gives the text back. */
export const splitLinesKeepingEnds = (text: string): string[] => text.match(/[^\n]*\n|[^\n]+$/g) ?? [];

/** A known type name, or any `type base64` pair whose blob names the same type (future key types). */
function isKeyType(token: string, next?: string): boolean {
  if (token === ED25519_KEY_TYPE || KEY_TYPES_UNSUPPORTED.test(token)) return true;
  const blob = next === undefined ? undefined : decodeBase64Strict(next);
  if (blob === undefined || blob.length < 4) return false;
  try {
    return new SshReader(blob).string() === token;
  } catch {
    return false;
  }
}

/**
 * Splits the options prefix off a line: a comma-separated list without spaces except inside
 * double quotes (where `\"` is a quote). Returns undefined when the quotes do not close.
 */
function splitOptions(line: string): { options: string[]; rest: string } | undefined {
  const options: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === "\\" && line[i + 1] === '"') {
        current += '"';
        i++;
      } else if (c === '"') quoted = false;
      else current += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      options.push(current);
      current = "";
    } else if (c === " " || c === "\t") {
      options.push(current);
      return { options, rest: line.slice(i).trim() };
    } else current += c;
  }
  return undefined;
}

type LineResult = { key: Omit<AuthorizedKey, "line"> } | { problem: Omit<AuthorizedKeysProblem, "line"> } | undefined;

function parseLine(raw: string): LineResult {
  const line = raw
    .replace(/\r?\n$/, "")
    .replace(/\r$/, "")
    .trim();
  if (line === "" || line.startsWith("#")) return undefined;
  if (line.length > AUTHORIZED_KEY_LINE_CHARS_MAX)
    return {
      problem: {
        kind: ProblemKind.Malformed,
        message: `line is longer than ${AUTHORIZED_KEY_LINE_CHARS_MAX} characters`,
      },
    };
  if (/^(<{7}|={7}|>{7}|\|{7})( |$)/.test(line)) {
    return {
      problem: {
        kind: ProblemKind.Conflict,
        message: "unresolved merge conflict marker; keep the intended keys and delete the markers",
      },
    };
  }
  let body = line;
  const [first, second] = line.split(/[ \t]+/, 2);
  if (!isKeyType(first, second)) {
    const split = splitOptions(line);
    if (split === undefined)
      return {
        problem: { kind: ProblemKind.Malformed, message: "not a key line (expected `ssh-ed25519 AAAA… comment`)" },
      };
    const refused = split.options
      .map((o) => o.split("=", 1)[0].toLowerCase())
      .filter((name) => !OPTIONS_HARMLESS.has(name));
    const [type, blob] = split.rest.split(/[ \t]+/, 2);
    if (!isKeyType(type, blob))
      return {
        problem: { kind: ProblemKind.Malformed, message: "not a key line (expected `ssh-ed25519 AAAA… comment`)" },
      };
    if (refused.length > 0) {
      return {
        problem: {
          kind: ProblemKind.Option,
          message: `option ${refused.join(", ")} cannot be enforced by edgesync, so this key is not authorised; remove the option to authorise it`,
        },
      };
    }
    body = split.rest;
  }
  const [, type, base64 = "", comment = ""] = /^(\S+)(?:[ \t]+(\S+))?(?:[ \t]+(.*))?$/.exec(body) ?? [];
  if (type !== ED25519_KEY_TYPE)
    return {
      problem: {
        kind: ProblemKind.Unsupported,
        message: `${type} keys are not supported (edgesync needs ssh-ed25519: ssh-keygen -t ed25519); line ignored`,
      },
    };
  const blob = decodeBase64Strict(base64);
  if (blob === undefined) return { problem: { kind: ProblemKind.Malformed, message: "the key is not valid base64" } };
  let publicKey: Uint8Array;
  try {
    publicKey = publicKeyFromBlob(blob);
  } catch (error) {
    if (!(error instanceof KeyFormatError)) throw error;
    return { problem: { kind: ProblemKind.Malformed, message: error.message } };
  }
  return {
    key: {
      publicKey,
      type: ED25519_KEY_TYPE,
      comment,
      fingerprint: sshFingerprint(publicKey),
      nkeyPublic: nkeyPublic(publicKey, Prefix.User),
    },
  };
}

/** Parses the file's text; a missing file (undefined) is an empty list. Never throws on content. */
export function parseAuthorizedKeys(text: string | undefined): ParsedAuthorizedKeys {
  const keys: AuthorizedKey[] = [];
  const problems: AuthorizedKeysProblem[] = [];
  const firstLineOf = new Map<string, number>();
  let bytes = 0;
  const lines = splitLinesKeepingEnds((text ?? "").replace(/^\uFEFF/, ""));
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    bytes += Buffer.byteLength(lines[i]);
    if (bytes > AUTHORIZED_KEYS_BYTES_MAX) {
      problems.push({
        line,
        kind: ProblemKind.TooLarge,
        message: `the file is larger than ${AUTHORIZED_KEYS_BYTES_MAX} bytes; this line and the rest are ignored`,
      });
      break;
    }
    const result = parseLine(lines[i]);
    if (result === undefined) continue;
    if ("problem" in result) {
      problems.push({ line, ...result.problem });
      continue;
    }
    const seen = firstLineOf.get(result.key.fingerprint);
    if (seen !== undefined) {
      problems.push({ line, kind: ProblemKind.Duplicate, message: `duplicate of the key on line ${seen}; ignored` });
      continue;
    }
    firstLineOf.set(result.key.fingerprint, line);
    keys.push({ ...result.key, line });
  }
  return { keys, problems };
}

/** The file's own line ending, so an added line matches its neighbours. */
const lineEnding = (text: string) => (/\r\n/.test(text) ? "\r\n" : "\n");

/**
 * Appends a key line, leaving every other byte as it was. The line must be one usable
 * `ssh-ed25519` key; a key already present leaves the text unchanged.
 */
export function addKey(text: string, keyLine: string): string {
  const trimmed = keyLine.trim();
  if (/[\r\n]/.test(trimmed)) throw new KeyFormatError("give exactly one key line");
  const parsed = parseLine(trimmed);
  if (parsed === undefined) throw new KeyFormatError("the key line is empty or a comment");
  if ("problem" in parsed) throw new KeyFormatError(`cannot add this key: ${parsed.problem.message}`);
  if (parseAuthorizedKeys(text).keys.some((k) => equalBytes(k.publicKey, parsed.key.publicKey))) return text;
  const eol = lineEnding(text);
  const separator = text === "" || text.endsWith("\n") ? "" : eol;
  return `${text}${separator}${trimmed}${eol}`;
}

/** Matches a key by `SHA256:` fingerprint, `U…` nkey, or its 32 bytes. */
export type KeySelector = string | Uint8Array;

function matches(key: Omit<AuthorizedKey, "line">, selector: KeySelector): boolean {
  if (typeof selector !== "string") return equalBytes(key.publicKey, selector);
  return key.fingerprint === selector || key.nkeyPublic === selector;
}

/** Removes every line holding the key (duplicates too), leaving every other byte as it was. */
export function removeKey(text: string, selector: KeySelector): string {
  return splitLinesKeepingEnds(text)
    .filter((line) => {
      const parsed = parseLine(line);
      return !(parsed !== undefined && "key" in parsed && matches(parsed.key, selector));
    })
    .join("");
}

export interface EffectiveKeys {
  keys: AuthorizedKey[];
  /** Set when the hub's key was kept because the file grants nobody; say it in the log. */
  reason?: string;
}

/**
 * The keys to enforce. A vault must never lock everyone out (a deleted or emptied file, every
 * line broken): with no usable key, the hub's own key stays authorised and `reason` says why.
 */
export function effectiveKeys(
  parsed: ParsedAuthorizedKeys,
  hubKey: { publicKey: Uint8Array; comment?: string },
): EffectiveKeys {
  if (parsed.keys.length > 0) return { keys: parsed.keys };
  const publicKey = new Uint8Array(hubKey.publicKey);
  const comment = hubKey.comment ?? "hub";
  const problemNote =
    parsed.problems.length > 0
      ? ` (${parsed.problems.length} line${parsed.problems.length === 1 ? "" : "s"} with problems)`
      : "";
  return {
    keys: [
      {
        publicKey,
        type: ED25519_KEY_TYPE,
        comment,
        line: 0,
        fingerprint: sshFingerprint(publicKey),
        nkeyPublic: nkeyPublic(publicKey, Prefix.User),
      },
    ],
    reason: `authorized_keys has no usable ssh-ed25519 key${problemNote}; keeping the hub's key ${sshFingerprint(publicKey)} (${comment}) so the vault stays reachable`,
  };
}
