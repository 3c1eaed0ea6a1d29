/**
 * The notify message: shape, limits, validation, signing bytes. Shared by the agent, the CLI and
 * the browser bundle, so nothing here imports Node.
 *
 * Every message is signed by its sender's device key (`from` is that key as a `U…` nkey), so a
 * message read from the synced store or a live subject proves who wrote it; validation is strict
 * (known fields only, ids of the right shape, sizes capped) because both sources are untrusted.
 */
import { NotifyInputError } from "./errors.js";
import { base64urlDecode, base64urlEncode, canonicalJson, isPeerId, utf8, utf8Bytes } from "./encoding.js";

export const PRIORITIES = ["info", "action_required", "urgent"] as const;
export type Priority = (typeof PRIORITIES)[number];

export const NOTIFY_LIMITS = {
  /** A question or an answer, not a document: send a link (media) for anything bigger. */
  bodyBytesMax: 16 * 1024,
  /** Project, thread and sender names. */
  nameCharsMax: 64,
  actionsMax: 8,
  actionLabelCharsMax: 64,
  mediaMax: 4,
  urlCharsMax: 2048,
  /** The whole JSON on the wire; anything bigger is dropped before parsing. */
  messageBytesMax: 48 * 1024,
} as const;

export interface NotifyAction {
  /** What `ask` prints when this button is chosen: [A-Za-z0-9][A-Za-z0-9_.-]{0,31}. */
  id: string;
  label: string;
}

/** A link shown with the message (no bytes travel in a message). */
export interface NotifyMedia {
  url: string;
  mime?: string;
  name?: string;
}

export interface NotifyMessage {
  v: 1;
  /** 20 characters of lowercase Crockford base32 (100 random bits). */
  id: string;
  project: string;
  thread: string;
  /** The sender's device key as a NATS user nkey (`U…`); `sig` is by this key. */
  from: string;
  fromName: string;
  /** ms since the epoch, the sender's clock. */
  timestamp: number;
  body: string;
  priority: Priority;
  actions: NotifyAction[];
  /** The message this answers. */
  replyTo?: string;
  /** The id of the action chosen on `replyTo` (an action response always has `replyTo`). */
  actionResponse?: string;
  media?: NotifyMedia[];
  /** base64url ed25519 signature over signingBytes(message). */
  sig: string;
}

export type UnsignedMessage = Omit<NotifyMessage, "sig">;

export interface Signer {
  /** The `U…` nkey of the signing key. */
  peerId: string;
  sign(bytes: Uint8Array): Uint8Array;
}

/** Verifies an ed25519 signature (node:crypto in the agent, noble in a browser). */
export type VerifyFn = (signature: Uint8Array, bytes: Uint8Array, peerId: string) => boolean;

/** What a user (CLI flags, the inbox's reply box) asks to send. */
export interface Draft {
  project: string;
  thread: string;
  body: string;
  priority?: string;
  actions?: NotifyAction[];
  replyTo?: string;
  actionResponse?: string;
  media?: NotifyMedia[];
}

const ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
export const MESSAGE_ID = /^[0-9a-hjkmnp-tv-z]{20}$/;
const ACTION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const MIME = /^[a-z0-9][a-z0-9.+-]*\/[a-z0-9][a-z0-9.+-]*$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const FIELDS = new Set([
  "v",
  "id",
  "project",
  "thread",
  "from",
  "fromName",
  "timestamp",
  "body",
  "priority",
  "actions",
  "replyTo",
  "actionResponse",
  "media",
  "sig",
]);
/** Domain separation: a message signature can never be replayed as another kind of signed object. */
const MESSAGE_DOMAIN = "edgesync-notify-message-v1\n";

export function newMessageId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  let id = "";
  for (const b of bytes) id += ID_ALPHABET[b & 31]; // 256 is a multiple of 32: uniform
  return id;
}

export const isMessageId = (id: unknown): id is string => typeof id === "string" && MESSAGE_ID.test(id);
export const isPriority = (p: unknown): p is Priority =>
  typeof p === "string" && (PRIORITIES as readonly string[]).includes(p);

/** Why `name` cannot be a project/thread/sender name, or undefined when it can. */
export function nameProblem(kind: string, name: unknown): string | undefined {
  if (typeof name !== "string" || name.trim().length === 0) return `${kind} is empty`;
  if (name !== name.trim()) return `${kind} ${JSON.stringify(name)} starts or ends with spaces`;
  if ([...name].length > NOTIFY_LIMITS.nameCharsMax)
    return `${kind} is longer than ${NOTIFY_LIMITS.nameCharsMax} characters`;
  if (CONTROL.test(name)) return `${kind} contains control characters`;
  return undefined;
}

/** Parses a CLI action spec `ID:LABEL`. */
export function parseActionSpec(spec: string): NotifyAction {
  const colon = spec.indexOf(":");
  const id = colon < 0 ? "" : spec.slice(0, colon);
  const label = colon < 0 ? "" : spec.slice(colon + 1).trim();
  if (colon < 0 || !ACTION_ID.test(id) || label.length === 0) {
    throw new NotifyInputError(
      `malformed action ${JSON.stringify(spec)}: write ID:LABEL, e.g. --action yes:Merge (ID is letters, digits, _ . - up to 32)`,
    );
  }
  const problem = actionProblem({ id, label });
  if (problem) throw new NotifyInputError(`malformed action ${JSON.stringify(spec)}: ${problem}`);
  return { id, label };
}

function actionProblem(action: unknown): string | undefined {
  if (action === null || typeof action !== "object") return "an action is not an object";
  const { id, label, ...rest } = action as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return `unknown action field ${Object.keys(rest)[0]}`;
  if (typeof id !== "string" || !ACTION_ID.test(id)) return `bad action id ${JSON.stringify(id)}`;
  if (typeof label !== "string" || label.trim().length === 0) return `action ${id} has no label`;
  if ([...label].length > NOTIFY_LIMITS.actionLabelCharsMax)
    return `action ${id}'s label is longer than ${NOTIFY_LIMITS.actionLabelCharsMax} characters`;
  if (CONTROL.test(label)) return `action ${id}'s label contains control characters`;
  return undefined;
}

function mediaProblem(media: unknown): string | undefined {
  if (media === null || typeof media !== "object") return "a media entry is not an object";
  const { url, mime, name, ...rest } = media as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return `unknown media field ${Object.keys(rest)[0]}`;
  if (typeof url !== "string" || url.length > NOTIFY_LIMITS.urlCharsMax || !/^https?:\/\/[^\s]+$/.test(url))
    return `media url must be an http(s) URL of at most ${NOTIFY_LIMITS.urlCharsMax} characters`;
  if (mime !== undefined && (typeof mime !== "string" || mime.length > 100 || !MIME.test(mime)))
    return "bad media mime type";
  if (name !== undefined) return nameProblem("media name", name);
  return undefined;
}

/** The first thing wrong with `value` as a message (shape, sizes, ids), or undefined. Does not check `sig`. */
export function messageProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "not an object";
  const m = value as Record<string, unknown>;
  const unknown = Object.keys(m).find((k) => !FIELDS.has(k));
  if (unknown !== undefined) return `unknown field ${JSON.stringify(unknown).slice(0, 40)}`;
  if (m.v !== 1) return `unsupported version ${JSON.stringify(m.v)}`;
  if (!isMessageId(m.id)) return "bad message id";
  const named =
    nameProblem("project", m.project) ?? nameProblem("thread", m.thread) ?? nameProblem("sender name", m.fromName);
  if (named) return named;
  if (typeof m.from !== "string" || !isPeerId(m.from)) return "sender is not a device key (U… nkey)";
  if (typeof m.timestamp !== "number" || !Number.isSafeInteger(m.timestamp) || m.timestamp <= 0) return "bad timestamp";
  if (typeof m.body !== "string") return "body is not text";
  if (utf8Bytes(m.body) > NOTIFY_LIMITS.bodyBytesMax)
    return `body is ${utf8Bytes(m.body)} bytes; the limit is ${NOTIFY_LIMITS.bodyBytesMax}`;
  if (!isPriority(m.priority)) return `unknown priority ${JSON.stringify(m.priority)}: use ${PRIORITIES.join(", ")}`;
  if (!Array.isArray(m.actions)) return "actions is not a list";
  if (m.actions.length > NOTIFY_LIMITS.actionsMax) return `more than ${NOTIFY_LIMITS.actionsMax} actions`;
  for (const action of m.actions) {
    const problem = actionProblem(action);
    if (problem) return problem;
  }
  const ids = m.actions.map((a) => (a as NotifyAction).id);
  if (new Set(ids).size !== ids.length) return "two actions share an id";
  if (m.replyTo !== undefined && !isMessageId(m.replyTo)) return "bad replyTo id";
  if (m.replyTo === m.id) return "a message cannot reply to itself";
  if (m.actionResponse !== undefined) {
    if (typeof m.actionResponse !== "string" || !ACTION_ID.test(m.actionResponse)) return "bad action response id";
    if (m.replyTo === undefined) return "an action response needs replyTo";
  }
  if (m.media !== undefined) {
    if (!Array.isArray(m.media) || m.media.length > NOTIFY_LIMITS.mediaMax)
      return `media must be a list of at most ${NOTIFY_LIMITS.mediaMax}`;
    for (const media of m.media) {
      const problem = mediaProblem(media);
      if (problem) return problem;
    }
  }
  if (typeof m.sig !== "string" || base64urlDecode(m.sig)?.length !== 64) return "missing or malformed signature";
  return undefined;
}

/** The bytes a message's signature covers. */
export function signingBytes(message: UnsignedMessage | NotifyMessage): Uint8Array {
  const { sig: _sig, ...unsigned } = message as NotifyMessage;
  return utf8(MESSAGE_DOMAIN + canonicalJson(unsigned));
}

/** Builds and signs a message from user input; throws NotifyInputError naming the problem and the fix. */
export function newMessage(
  draft: Draft,
  signer: Signer,
  fromName: string,
  nowMs: number,
  id = newMessageId(),
): NotifyMessage {
  if (draft.project === undefined || draft.project === "")
    throw new NotifyInputError("missing project: pass --project NAME (or set EDGESYNC_NOTIFY_PROJECT)");
  const priority = draft.priority ?? (draft.actions && draft.actions.length > 0 ? "action_required" : "info");
  if (!isPriority(priority))
    throw new NotifyInputError(`unknown priority ${JSON.stringify(priority)}: use ${PRIORITIES.join(", ")}`);
  const bodyBytes = utf8Bytes(draft.body);
  if (bodyBytes > NOTIFY_LIMITS.bodyBytesMax)
    throw new NotifyInputError(
      `message body is ${bodyBytes} bytes; the limit is ${NOTIFY_LIMITS.bodyBytesMax} (send a link instead)`,
    );
  const unsigned: UnsignedMessage = {
    v: 1,
    id,
    project: draft.project,
    thread: draft.thread,
    from: signer.peerId,
    fromName,
    timestamp: nowMs,
    body: draft.body,
    priority,
    actions: draft.actions ?? [],
    ...(draft.replyTo !== undefined ? { replyTo: draft.replyTo } : {}),
    ...(draft.actionResponse !== undefined ? { actionResponse: draft.actionResponse } : {}),
    ...(draft.media !== undefined && draft.media.length > 0 ? { media: draft.media } : {}),
  };
  const message: NotifyMessage = { ...unsigned, sig: base64urlEncode(signer.sign(signingBytes(unsigned))) };
  const problem = messageProblem(message);
  if (problem) throw new NotifyInputError(`cannot send: ${problem}`);
  return message;
}

/** Parses and validates wire or stored bytes; `verify` checks the signature. */
export function decodeMessage(
  bytes: Uint8Array | string,
  verify: VerifyFn,
): { message: NotifyMessage } | { problem: string } {
  const size = typeof bytes === "string" ? utf8Bytes(bytes) : bytes.length;
  if (size > NOTIFY_LIMITS.messageBytesMax)
    return { problem: `message of ${size} bytes exceeds ${NOTIFY_LIMITS.messageBytesMax}` };
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === "string" ? bytes : new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { problem: "not JSON" };
  }
  const problem = messageProblem(value);
  if (problem) return { problem };
  const message = value as NotifyMessage;
  if (!verify(base64urlDecode(message.sig) as Uint8Array, signingBytes(message), message.from))
    return { problem: "signature does not match the sender" };
  return { message };
}

export const encodeMessage = (message: NotifyMessage): Uint8Array => utf8(JSON.stringify(message));

/** True when `reply` answers `question`: a reply to it, or one of its actions chosen. */
export function isAnswerTo(reply: NotifyMessage, question: NotifyMessage): boolean {
  if (reply.replyTo !== question.id || reply.id === question.id) return false;
  if (reply.actionResponse !== undefined) return question.actions.some((a) => a.id === reply.actionResponse);
  return true;
}

/** One line for terminals: `time [priority] project/thread name: body (id)`. */
export function formatLine(m: NotifyMessage): string {
  const time = new Date(m.timestamp).toISOString().replace("T", " ").slice(0, 19);
  const tag = m.priority === "info" ? "" : ` [${m.priority}]`;
  const what =
    m.actionResponse !== undefined
      ? `chose ${m.actionResponse}${m.body ? ` (${m.body})` : ""}`
      : m.body.replace(/\s+/g, " ");
  const actions = m.actions.length > 0 ? `  {${m.actions.map((a) => `${a.id}:${a.label}`).join(" | ")}}` : "";
  const reply = m.replyTo ? ` ↩${m.replyTo.slice(0, 8)}` : "";
  return `${time}${tag} ${m.project}/${m.thread} ${m.fromName}:${reply} ${what}${actions}  (${m.id})`;
}
