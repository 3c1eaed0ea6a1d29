/**
 * The notify client the CLI (or any program) uses over a NATS connection: send a message and get
 * the storing service's acknowledgement, ask and wait for the answer to that very message, watch
 * live messages, and make signed requests (threads, log, devices, pair, unpair, join).
 *
 * Everything happens in one notify set (`set`, default `default`): its subjects, its services, its
 * devices. `ask` never trusts one delivery: it subscribes to the thread before publishing, takes a
 * live answer as soon as its signature checks out and its sender is an active device of the set, and
 * also polls the store, so an answer that arrived while the live path was not yet in place (or was
 * lost) still counts — with the same sender check: an answer signed by a key outside the set, even
 * one relayed by a member, never ends an ask.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  decodeMessage,
  encodeMessage,
  isAnswerTo,
  newMessage,
  type Draft,
  type NotifyMessage,
  type Signer,
} from "./model.js";
import { signRequest, answerSignedBy, type RpcReply } from "./rpc.js";
import {
  DEFAULT_SET,
  liveWildcard,
  notifySubject,
  pairSubject,
  projectWildcard,
  rpcSubject,
} from "../agent/nats/notify-subjects.js";
import { isActive, type DeviceRecord } from "./devices.js";
import { verifyEd25519 } from "./verify.js";
import { AuthorizationError, NoAnswerError, NotifyInputError, PairingError, TimeoutError } from "./errors.js";
import { UsageError, type UserError } from "../agent/errors.js";
import { normaliseToken } from "./pairing.js";
import type { PairAnswer } from "./handlers.js";
import type { ThreadSummary } from "./store.js";

export interface NotifyClientConfig {
  nc: NatsConnection;
  signer: Signer;
  /** Shown as the sender of messages. */
  name: string;
  set?: string;
  requestTimeoutMs?: number;
  nowMs?: () => number;
  /** Where `join` presents its token, and how long it waits: default the set's pairing subject (a hub's pairing door relays instead). */
  pairVia?: { subject: string; timeoutMs: number };
}

export interface IssuedToken {
  token: string;
  name: string;
  expiresAt: number;
  creator: string;
  url: string;
  hub?: string;
  fp: string;
}

const REQUEST_TIMEOUT_MS = 5_000;
/** Only the issuing service answers a pairing request (an unknown token gets silence), so this is how long "unknown" takes. */
const PAIR_TIMEOUT_MS = 3_000;
/**
 * `ask` also long-polls its notify service ("wait-answer"): the service answers as soon as an answer
 * reaches its store (by sync, typically milliseconds after it was sent), or after this long.
 */
const ASK_LONG_POLL_MS = 20_000;
/** setTimeout's largest delay. */
const TIMER_MS_MAX = 2 ** 31 - 1;
/** Pause before polling again after a failed poll (no service reachable, connection down). */
const ASK_RETRY_MS = 1_000;
/** The device list is fetched again at most this often when an unknown sender shows up. */
const DEVICES_REFRESH_MS = 1_000;
/** Message ids `watch` remembers to show a message delivered twice once. */
const SEEN_IDS_MAX = 10_000;
const ERRORS: Record<string, new (message: string) => UserError> = {
  PairingError,
  AuthorizationError,
  NotifyInputError,
  TimeoutError,
  UsageError,
};

/**
 * The notify service's refusal as this side's typed error. Every refusal is the user's to read (the
 * service words them so), so one it names but this side does not know is still an AuthorizationError.
 */
export function errorFromReply(error: { name: string; message: string }): UserError {
  const Known = Object.hasOwn(ERRORS, error.name) ? ERRORS[error.name] : AuthorizationError;
  return new Known(error.message);
}

export class NotifyClient {
  readonly #cfg: Required<Omit<NotifyClientConfig, "nowMs" | "pairVia">> &
    Pick<NotifyClientConfig, "pairVia"> & { nowMs: () => number };
  #devices: Map<string, DeviceRecord> | undefined;
  #devicesAt = 0;

  constructor(config: NotifyClientConfig) {
    this.#cfg = { set: DEFAULT_SET, requestTimeoutMs: REQUEST_TIMEOUT_MS, nowMs: () => Date.now(), ...config };
  }

  get nc(): NatsConnection {
    return this.#cfg.nc;
  }

  /** A signed request to one notify service (the nearest: queue groups prefer the local server). */
  async rpc<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = this.#cfg.requestTimeoutMs): Promise<T> {
    const request = signRequest(op, args, this.#cfg.signer, this.#cfg.nowMs());
    const reply = await this.#request<T>(
      rpcSubject(this.#cfg.set, op),
      new TextEncoder().encode(JSON.stringify(request)),
      timeoutMs,
    );
    if (!reply.ok) throw errorFromReply(reply.error);
    return reply.result;
  }

  async #request<T>(subject: string, data: Uint8Array, timeoutMs = this.#cfg.requestTimeoutMs): Promise<RpcReply<T>> {
    let bytes: Uint8Array;
    try {
      bytes = (await this.#cfg.nc.request(subject, data, { timeout: timeoutMs })).data;
    } catch (error) {
      throw new TimeoutError(
        `no notify service of set ${this.#cfg.set} answered within ${timeoutMs / 1000} s: is the agent running (\`edgesync sync start\`), does it sync that vault, and is this device paired?`,
        { cause: error },
      );
    }
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as RpcReply<T>;
    } catch (error) {
      throw new AuthorizationError("the notify service sent an unreadable answer", { cause: error });
    }
  }

  /** Builds and signs a message (throws NotifyInputError for bad input) without sending it. */
  compose(draft: Draft): NotifyMessage {
    return newMessage(draft, this.#cfg.signer, this.#cfg.name, this.#cfg.nowMs());
  }

  /** Publishes a message and waits until a notify service has stored it. */
  async publish(message: NotifyMessage): Promise<NotifyMessage> {
    const reply = await this.#request<{ id: string }>(
      notifySubject(this.#cfg.set, message.project, message.thread),
      encodeMessage(message),
    );
    if (!reply.ok) throw errorFromReply(reply.error);
    return message;
  }

  send(draft: Draft): Promise<NotifyMessage> {
    return this.publish(this.compose(draft));
  }

  /** Sends `draft` and resolves with the first answer to it; rejects with NoAnswerError after `timeoutMs`. */
  async ask(
    draft: Draft,
    options: { timeoutMs?: number; onSent?: (question: NotifyMessage) => void } = {},
  ): Promise<{ question: NotifyMessage; answer: NotifyMessage }> {
    const question = this.compose(draft);
    const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : this.#cfg.nowMs() + options.timeoutMs;
    const live: NotifyMessage[] = [];
    let wake: () => void = () => {};
    const sub = this.#cfg.nc.subscribe(notifySubject(this.#cfg.set, question.project, question.thread), {
      callback: (error, msg) => {
        if (error) return;
        const decoded = decodeMessage(msg.data, verifyEd25519);
        if ("message" in decoded && isAnswerTo(decoded.message, question)) {
          live.push(decoded.message);
          wake();
        }
      },
    });
    try {
      await this.#cfg.nc.flush(); // our interest is registered before the question goes out
      await this.publish(question);
      options.onSent?.(question);
      let poll: Promise<NotifyMessage[]> | undefined;
      for (;;) {
        for (const candidate of live.splice(0)) {
          if (await this.#isMember(candidate.from)) return { question, answer: candidate };
        }
        const left = deadline - this.#cfg.nowMs();
        if (left <= 0) throw new NoAnswerError(question.id);
        // One poll outstanding at a time; a live answer may win the race against it.
        if (poll === undefined) {
          const waitMs = Math.min(left, ASK_LONG_POLL_MS);
          poll = this.rpc<NotifyMessage[]>(
            "wait-answer",
            { id: question.id, waitMs },
            waitMs + this.#cfg.requestTimeoutMs,
          ).catch(
            () => new Promise<NotifyMessage[]>((r) => setTimeout(() => r([]), Math.min(ASK_RETRY_MS, left)).unref()),
          );
        }
        let timer: NodeJS.Timeout | undefined;
        const woke = new Promise<undefined>((resolve) => {
          wake = () => resolve(undefined);
          if (Number.isFinite(left)) timer = setTimeout(wake, Math.min(left, TIMER_MS_MAX));
        });
        let stored: NotifyMessage[] | undefined;
        try {
          stored = await Promise.race([poll, woke]);
        } finally {
          clearTimeout(timer);
        }
        if (stored === undefined) continue; // live candidate(s) or the deadline: checked at the top
        poll = undefined;
        for (const answer of stored.filter((m) => isAnswerTo(m, question))) {
          if (await this.#isMember(answer.from)) return { question, answer };
        }
      }
    } finally {
      sub.unsubscribe();
    }
  }

  /** Live messages (verified, from paired devices, each id once) until the returned stop() is called. */
  watch(
    filter: { project?: string; thread?: string },
    onMessage: (m: NotifyMessage) => void,
  ): { stop(): void; closed: Promise<void> } {
    if (filter.thread !== undefined && filter.project === undefined)
      throw new NotifyInputError("--thread needs --project (thread names are per project)");
    const set = this.#cfg.set;
    const subject =
      filter.project === undefined
        ? liveWildcard(set)
        : filter.thread === undefined
          ? projectWildcard(set, filter.project)
          : notifySubject(set, filter.project, filter.thread);
    const seen = new Set<string>();
    let chain = Promise.resolve();
    const sub: Subscription = this.#cfg.nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) return;
        const decoded = decodeMessage(msg.data, verifyEd25519);
        if (!("message" in decoded) || seen.has(decoded.message.id)) return;
        const m = decoded.message;
        seen.add(m.id);
        if (seen.size > SEEN_IDS_MAX) seen.delete(seen.values().next().value as string);
        chain = chain.then(async () => {
          if (await this.#isMember(m.from)) onMessage(m);
        });
      },
    });
    return { stop: () => sub.unsubscribe(), closed: sub.closed.then(() => undefined) };
  }

  threads(project?: string): Promise<ThreadSummary[]> {
    return this.rpc("threads", project === undefined ? {} : { project });
  }

  log(filter: { project?: string; thread?: string; limit?: number }): Promise<NotifyMessage[]> {
    return this.rpc("log", { ...filter });
  }

  get(id: string): Promise<NotifyMessage> {
    return this.rpc("get", { id });
  }

  devices(): Promise<DeviceRecord[]> {
    return this.rpc("devices");
  }

  whoami(): Promise<{ device: DeviceRecord; set: string; service: { peer: string; name: string } }> {
    return this.rpc("whoami");
  }

  pair(name: string, ttlMs?: number): Promise<IssuedToken> {
    return this.rpc("pair", { name, ...(ttlMs !== undefined ? { ttlMs } : {}) });
  }

  unpair(nameOrKey: string): Promise<DeviceRecord> {
    return this.rpc("unpair", { name: nameOrKey });
  }

  /**
   * Presents a pairing token with this device's key. `fingerprint` (from the pairing URL) must match
   * the key that signed the answer, so a rogue server cannot pretend to have paired us.
   */
  async join(
    rawToken: string,
    fingerprintOf: (peer: string) => string,
    expectFingerprint?: string,
  ): Promise<PairAnswer> {
    const token = normaliseToken(rawToken);
    if (token === undefined)
      throw new NotifyInputError(
        "malformed pairing token: it is 12 letters and digits (dashes optional), as printed by `edgesync notify pair`",
      );
    const request = signRequest("accept", { token, name: this.#cfg.name }, this.#cfg.signer, this.#cfg.nowMs());
    let reply: RpcReply<PairAnswer & { sig: string }>;
    try {
      const via = this.#cfg.pairVia ?? {
        subject: pairSubject(this.#cfg.set),
        timeoutMs: Math.min(PAIR_TIMEOUT_MS, this.#cfg.requestTimeoutMs),
      };
      reply = await this.#request(via.subject, new TextEncoder().encode(JSON.stringify(request)), via.timeoutMs);
    } catch (error) {
      if (error instanceof TimeoutError)
        throw new PairingError(
          "unknown or expired pairing token: no agent of this notify set issued it (run `edgesync notify pair` for a new one)",
          { cause: error },
        );
      throw error;
    }
    if (!reply.ok) throw errorFromReply(reply.error);
    const answer = reply.result;
    if (!answerSignedBy(answer, answer.creator, verifyEd25519))
      throw new PairingError("the pairing answer is not signed by the device that issued the token; not trusting it");
    if (expectFingerprint !== undefined && fingerprintOf(answer.creator) !== expectFingerprint) {
      throw new PairingError(
        `the pairing answer came from key ${fingerprintOf(answer.creator)}, not ${expectFingerprint} as the pairing URL says; not trusting it`,
      );
    }
    return answer;
  }

  async #isMember(peer: string): Promise<boolean> {
    const known = this.#devices?.get(peer);
    if (isActive(known)) return true;
    if (this.#devices !== undefined && this.#cfg.nowMs() - this.#devicesAt < DEVICES_REFRESH_MS) return false;
    this.#devicesAt = this.#cfg.nowMs();
    const list = await this.devices().catch(() => undefined);
    if (list) this.#devices = new Map(list.map((d) => [d.peer, d]));
    return isActive(this.#devices?.get(peer));
  }
}
