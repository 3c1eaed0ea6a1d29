/**
 * What a notify service does with each request, independent of how it arrived (NATS or the web
 * inbox's socket): ingest a message, answer a signed read or admin request, accept a pairing token.
 * Every answer is an RpcReply; errors carry a name the CLI maps to a one-line message.
 */
import { decodeMessage, isAnswerTo, nameProblem, type NotifyMessage, type Signer, type VerifyFn } from "./model.js";
import { mayAdminister, mayRead, findByName, isActive, type DeviceRecord } from "./devices.js";
import { nameToken } from "../agent/nats/notify-subjects.js";
import { normaliseToken, type PairingBook } from "./pairing.js";
import { signAnswer, type RpcReply, type SignedRequest } from "./rpc.js";
import { NotifyInputError } from "./errors.js";
import type { NotifyStore } from "./store.js";
import type { Clock, Log } from "../agent/sync/ports.js";

export interface HandlerContext {
  store: NotifyStore;
  /** Per-sender token buckets for ingestMessage. */
  buckets: Map<string, { tokens: number; atMs: number }>;
  /** "wait-answer" long polls being held. */
  waits: { count: number };
  pairings: PairingBook;
  self: Signer & { name: string };
  set: string;
  clock: Clock;
  log: Log;
  verify: VerifyFn;
  /** What goes into pairing URLs. */
  pairingLink(token: string): { url: string; hub?: string; fp: string };
}

export interface PairAnswer extends Record<string, unknown> {
  device: DeviceRecord;
  set: string;
  creator: string;
  creatorName: string;
}

const READ_OPS = new Set(["whoami", "threads", "log", "get", "replies", "wait-answer", "devices"]);
const ADMIN_OPS = new Set(["pair", "unpair"]);
/** Longest a "wait-answer" long poll is held, and how many may be held at once (each is a timer and a listener). */
const WAIT_MS_MAX = 30_000;
const WAITS_MAX = 1_000;
/** Messages one `log` answer holds at most. */
const LOG_LIMIT_MAX = 500;
/** Threads one `threads` answer lists at most (newest first). */
const THREADS_MAX = 500;
/** A NATS reply must stay under max_payload (1 MB by default): lists are cut to this, keeping the newest. */
const REPLY_BYTES_MAX = 768 * 1024;
/** Per sending device: a burst of this many messages, refilled at MESSAGES_PER_SECOND (a runaway script must not flood every device). */
const MESSAGE_BURST = 100;
const MESSAGES_PER_SECOND = 10;

const fail = (name: string, message: string): RpcReply<never> => ({ ok: false, error: { name, message } });
const notPaired = () =>
  fail(
    "PairingError",
    "this device is not paired with notify (or was unpaired): pair it with `edgesync notify join URL` using a token from `edgesync notify pair`",
  );

/** A live message (from NATS or the inbox): validated, checked against its subject and sender, stored once. */
export async function ingestMessage(
  ctx: HandlerContext,
  bytes: Uint8Array,
  expect: { projectToken?: string; threadToken?: string; from?: string },
): Promise<RpcReply<{ id: string; stored: "stored" | "duplicate" }> & { message?: NotifyMessage }> {
  const decoded = decodeMessage(bytes, ctx.verify);
  if ("problem" in decoded) return fail("NotifyInputError", `message refused: ${decoded.problem}`);
  const m = decoded.message;
  if (
    expect.projectToken !== undefined &&
    (nameToken(m.project) !== expect.projectToken || nameToken(m.thread) !== expect.threadToken)
  ) {
    return fail("NotifyInputError", "message refused: its subject does not match its project and thread");
  }
  if (expect.from !== undefined && m.from !== expect.from)
    return fail("AuthorizationError", "message refused: signed by another device than this connection's");
  if (!mayRead(ctx.store.device(m.from))) return notPaired();
  if (ctx.store.has(m.id)) return { ok: true, result: { id: m.id, stored: "duplicate" }, message: m };
  if (!takeToken(ctx, m.from))
    return fail(
      "NotifyInputError",
      `too many messages from this device (more than ${MESSAGES_PER_SECOND} a second); slow down`,
    );
  const stored = await ctx.store.insert(m, new TextDecoder().decode(bytes));
  return { ok: true, result: { id: m.id, stored }, message: m };
}

function takeToken(ctx: HandlerContext, peer: string): boolean {
  const now = ctx.clock.now();
  const bucket = ctx.buckets.get(peer) ?? { tokens: MESSAGE_BURST, atMs: now };
  bucket.tokens = Math.min(MESSAGE_BURST, bucket.tokens + ((now - bucket.atMs) * MESSAGES_PER_SECOND) / 1000);
  bucket.atMs = now;
  ctx.buckets.set(peer, bucket);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/** The newest items of `list` (oldest first) whose JSON fits in REPLY_BYTES_MAX. */
function newestThatFit<T>(list: T[]): T[] {
  let bytes = 0;
  let start = list.length;
  while (start > 0) {
    bytes += new TextEncoder().encode(JSON.stringify(list[start - 1])).length + 1;
    if (bytes > REPLY_BYTES_MAX) break;
    start--;
  }
  return list.slice(start);
}

/** A signed request already checked for shape, freshness, signature and replay. */
export async function answerRequest(ctx: HandlerContext, request: SignedRequest): Promise<RpcReply> {
  const sender = ctx.store.device(request.from);
  if (READ_OPS.has(request.op)) {
    if (!mayRead(sender)) return notPaired();
  } else if (ADMIN_OPS.has(request.op)) {
    if (!mayRead(sender)) return notPaired();
    if (!mayAdminister(sender))
      return fail(
        "AuthorizationError",
        `${request.op} needs a full device (an agent's own key); this device is paired for notify only`,
      );
  } else {
    return fail("UsageError", `unknown notify operation ${JSON.stringify(request.op)}`);
  }
  try {
    return { ok: true, result: await run(ctx, request, sender as DeviceRecord) };
  } catch (error) {
    const e = error as Error;
    return fail(e.name === "Error" ? "NotifyInputError" : e.name, e.message);
  }
}

const str = (args: Record<string, unknown>, key: string): string | undefined => {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new NotifyInputError(`${key} must be text`);
  return v;
};

async function run(ctx: HandlerContext, request: SignedRequest, sender: DeviceRecord): Promise<unknown> {
  const { store } = ctx;
  const a = request.args;
  switch (request.op) {
    case "whoami":
      return { device: sender, set: ctx.set, service: { peer: ctx.self.peerId, name: ctx.self.name } };
    case "threads":
      return newestThatFit(store.threads(str(a, "project")).slice(0, THREADS_MAX).reverse()).reverse();
    case "log": {
      const limit =
        typeof a.limit === "number" && Number.isSafeInteger(a.limit) && a.limit > 0
          ? Math.min(a.limit, LOG_LIMIT_MAX)
          : LOG_LIMIT_MAX;
      return newestThatFit(store.list({ project: str(a, "project"), thread: str(a, "thread"), limit }));
    }
    case "get":
      return store.resolve(str(a, "id") ?? "");
    case "replies":
      return newestThatFit(store.replies(store.resolve(str(a, "id") ?? "").id));
    case "wait-answer":
      return waitForAnswers(ctx, str(a, "id") ?? "", typeof a.waitMs === "number" ? a.waitMs : 0);
    case "devices":
      return store.devices();
    case "pair":
      return issueToken(ctx, str(a, "name") ?? "", typeof a.ttlMs === "number" ? a.ttlMs : undefined);
    case "unpair":
      return unpair(ctx, str(a, "name") ?? "");
  }
  throw new NotifyInputError(`unknown notify operation ${request.op}`);
}

/** Answers to `id` (isAnswerTo) as soon as there is one (now, or when one reaches the store), else [] after `waitMs`. */
async function waitForAnswers(ctx: HandlerContext, id: string, waitMs: number): Promise<NotifyMessage[]> {
  const { store, waits } = ctx;
  const question = store.resolve(id);
  const answers = () => newestThatFit(store.replies(question.id).filter((m) => isAnswerTo(m, question)));
  if (answers().length > 0 || !(waitMs > 0) || waits.count >= WAITS_MAX) return answers();
  waits.count++;
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(waitMs, WAIT_MS_MAX));
      const stop = store.onMessage((m) => {
        if (isAnswerTo(m, question)) done();
      });
      function done() {
        clearTimeout(timer);
        stop();
        resolve();
      }
    });
  } finally {
    waits.count--;
  }
  return answers();
}

async function issueToken(ctx: HandlerContext, name: string, ttlMs: number | undefined) {
  const problem = nameProblem("device name", name);
  if (problem) throw new NotifyInputError(`${problem}: pass --name, e.g. --name phone`);
  if (findByName(ctx.store.devices(), name) || ctx.pairings.ledger.outstandingNames().includes(name)) {
    throw new NotifyInputError(
      `a device called ${JSON.stringify(name)} is already paired or being paired; unpair it or choose another --name`,
    );
  }
  const { token, entry } = await ctx.pairings.issue(name, ttlMs);
  ctx.log.info({ name, expiresAt: entry.expiresAt }, "notify: pairing token issued");
  return { token, name, expiresAt: entry.expiresAt, creator: ctx.self.peerId, ...ctx.pairingLink(token) };
}

async function unpair(ctx: HandlerContext, nameOrKey: string) {
  const devices = ctx.store.devices().filter((d) => isActive(d) && d.kind === "notify");
  const matches = devices.filter(
    (d) => d.name === nameOrKey || (nameOrKey.length >= 8 && d.peer.startsWith(nameOrKey)),
  );
  if (matches.length === 0)
    throw new NotifyInputError(`no paired device ${JSON.stringify(nameOrKey)} (see \`edgesync notify devices\`)`);
  if (matches.length > 1)
    throw new NotifyInputError(
      `${matches.length} devices match ${JSON.stringify(nameOrKey)}; give the key instead (see \`edgesync notify devices\`)`,
    );
  const revoked: DeviceRecord = { ...matches[0], revokedAt: ctx.clock.now(), revokedBy: ctx.self.peerId };
  await ctx.store.putDevice(revoked);
  ctx.log.info({ name: revoked.name, peer: revoked.peer }, "notify: device unpaired");
  return revoked;
}

/**
 * A pairing request (every service hears it). Undefined means "not ours, stay silent": the token is
 * malformed or this service did not issue it. Only the issuer answers, so single use needs no lock.
 */
export async function acceptPairing(
  ctx: HandlerContext,
  rawToken: unknown,
  checked: { request: SignedRequest } | { problem: string },
): Promise<RpcReply<PairAnswer & { sig: string }> | undefined> {
  const token = typeof rawToken === "string" ? normaliseToken(rawToken) : undefined;
  if (token === undefined) return undefined;
  if (!ctx.pairings.ledger.knows(token)) {
    ctx.pairings.ledger.noteWrongGuess();
    return undefined;
  }
  if ("problem" in checked) return fail("PairingError", `pairing request refused: ${checked.problem}`);
  const { request } = checked;
  if (request.op !== "accept") return fail("PairingError", "pairing request refused: wrong operation");
  const existing = ctx.store.device(request.from);
  if (isActive(existing) && existing.kind === "full")
    return fail("PairingError", "this device is already a full device of this notify set; it needs no pairing");
  try {
    const entry = await ctx.pairings.redeem(token, request.from);
    const device: DeviceRecord = {
      v: 1,
      peer: request.from,
      name: entry.name,
      kind: "notify",
      addedAt: ctx.clock.now(),
      addedBy: ctx.self.peerId,
    };
    await ctx.store.putDevice(device);
    ctx.log.info({ name: device.name, peer: device.peer }, "notify: device paired");
    return {
      ok: true,
      result: signAnswer<PairAnswer>(
        { device, set: ctx.set, creator: ctx.self.peerId, creatorName: ctx.self.name },
        ctx.self,
      ),
    };
  } catch (error) {
    const e = error as Error;
    return fail(e.name, e.message);
  }
}
