/**
 * The hub's pairing door: a device that holds no admitted key yet (a phone, a laptop without an
 * agent) connects as the door user its pairing link carries (agent/auth/pairing-door.ts), which
 * NATS lets publish only to `es.v1.hub.pair.<set>` and hear only its own inbox. The hub answers
 * those requests here:
 *
 *  - it finds the request's source from the server's connect event for the door user whose inbox
 *    the reply goes to (NATS says nothing about who published a message; a door user's inbox is
 *    named by its own key, which nobody else can hear), and refuses an unknown one;
 *  - it allows each source address PAIRING_DOOR_ATTEMPTS_MAX attempts per PAIRING_DOOR_WINDOW_MS;
 *  - it logs every attempt with its source and outcome;
 *  - it relays the signed request to the notify services (`es.v1.notify.pair.<set>.accept`, where
 *    only the service that issued the token answers, on `relaySubject`) and hands the answer back. A token nobody
 *    issued gets silence from every service, which becomes "unknown or expired" here.
 *
 * The token itself (single use, 10 minutes, hash only) stays the notify service's business
 * (notify/pairing.ts); the door adds no way to learn anything but that one answer.
 */
import { randomBytes } from "node:crypto";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { HUB_ACCOUNT_PUBLIC, PAIRING_DOOR_SUBJECT_PREFIX } from "../auth/accounts.js";
import { isSetId, pairRelaySubject, pairSubject } from "../nats/notify-subjects.js";
import type { Log } from "../sync/ports.js";

/** Attempts one source address may make per window: a person retyping a token never needs more. */
export const PAIRING_DOOR_ATTEMPTS_MAX = 10;
export const PAIRING_DOOR_WINDOW_MS = 60_000;
/** How long the hub waits for the issuing service's answer (a pairing is a file write away). */
export const PAIRING_DOOR_RELAY_MS = 2_000;
/** The connect event of a door user may trail its first request by a moment. */
const SOURCE_WAIT_MS = 1_000;
const SOURCE_POLL_MS = 20;
/** Door connections (and sources) remembered at once; the oldest are forgotten first. */
const DOOR_CONNECTIONS_MAX = 10_000;
/** Requests relayed at once, whatever their sources: the door never occupies the hub. */
const IN_FLIGHT_MAX = 32;

const DOOR_INBOX = /^_INBOX\.(U[A-Z2-7]{55})\./;

/**
 * Where the issuing service's answer comes back to the hub. Not an inbox: a leaf's link may publish
 * only its templates' subjects (replies to inboxes are not carried from a leaf), and the issuer is
 * often a leaf. Under the set's pairing subjects, which the agents of the set may publish; the
 * answer is signed by the issuer and checked by the joining device, so no one else can forge it.
 */
const relaySubject = (set: string) => pairRelaySubject(set, randomBytes(12).toString("hex"));
const encoder = new TextEncoder();

interface ConnectEvent {
  client?: { host?: string; user?: string; jwt?: string };
}

export interface PairingDoorConfig {
  /** The hub's own connection in the hub account (subscribes to the door, relays to notify). */
  hubAccount: NatsConnection;
  /** A system-account connection: the server's connect and disconnect events. */
  system: NatsConnection;
  /** The door's signing key (`A…`): a connect event whose JWT it issued is a door user's. */
  doorKey: string;
  log: Log;
  nowMs?: () => number;
}

type Reply = { ok: true; result: unknown } | { ok: false; error: { name: string; message: string } };

const refusal = (message: string): Reply => ({ ok: false, error: { name: "PairingError", message } });

/** The issuer (`iss`) of a user JWT, without trusting it for anything but telling door users apart. */
function jwtIssuer(jwt: string | undefined): string | undefined {
  try {
    return (JSON.parse(Buffer.from(jwt?.split(".")[1] ?? "", "base64url").toString("utf8")) as { iss?: string }).iss;
  } catch {
    return undefined;
  }
}

export class PairingDoor {
  readonly #cfg: Required<PairingDoorConfig>;
  readonly #doorIssuer: string;
  /** Door user key → the address it connected from. */
  readonly #sources = new Map<string, string>();
  /** Source address → times of its recent attempts. */
  readonly #attempts = new Map<string, number[]>();
  readonly #subs: Subscription[] = [];
  #inFlight = 0;

  constructor(config: PairingDoorConfig) {
    this.#cfg = { nowMs: () => Date.now(), ...config };
    this.#doorIssuer = config.doorKey;
  }

  start(): void {
    const events = `$SYS.ACCOUNT.${HUB_ACCOUNT_PUBLIC}`;
    this.#subs.push(
      this.#cfg.system.subscribe(`${events}.CONNECT`, {
        callback: (error, msg) => {
          if (!error) this.#connected(msg);
        },
      }),
    );
    this.#subs.push(
      this.#cfg.system.subscribe(`${events}.DISCONNECT`, {
        callback: (error, msg) => {
          if (!error) this.#disconnected(msg);
        },
      }),
    );
    this.#subs.push(
      this.#cfg.hubAccount.subscribe(`${PAIRING_DOOR_SUBJECT_PREFIX}.*`, {
        queue: "edgesync-hub",
        callback: (error, msg) => {
          if (!error) void this.#attempt(msg);
        },
      }),
    );
  }

  stop(): void {
    for (const sub of this.#subs.splice(0)) sub.unsubscribe();
  }

  #event(msg: Msg): ConnectEvent["client"] {
    try {
      return (JSON.parse(msg.string()) as ConnectEvent).client;
    } catch {
      return undefined;
    }
  }

  #connected(msg: Msg): void {
    const client = this.#event(msg);
    if (!client?.user || !client.host || jwtIssuer(client.jwt) !== this.#doorIssuer) return;
    if (this.#sources.size >= DOOR_CONNECTIONS_MAX) this.#sources.delete(this.#sources.keys().next().value as string);
    this.#sources.set(client.user, client.host);
  }

  #disconnected(msg: Msg): void {
    const user = this.#event(msg)?.user;
    // Kept a moment longer: a request published just before the disconnect is still answered.
    if (user) setTimeout(() => this.#sources.delete(user), SOURCE_WAIT_MS).unref();
  }

  async #sourceOf(user: string): Promise<string | undefined> {
    const deadline = this.#cfg.nowMs() + SOURCE_WAIT_MS;
    while (!this.#sources.has(user) && this.#cfg.nowMs() < deadline)
      await new Promise((r) => setTimeout(r, SOURCE_POLL_MS));
    return this.#sources.get(user);
  }

  /** Counts an attempt from `source`; false when it is over its allowance for the window. */
  #allow(source: string): boolean {
    const now = this.#cfg.nowMs();
    const recent = (this.#attempts.get(source) ?? []).filter((t) => now - t < PAIRING_DOOR_WINDOW_MS);
    if (recent.length >= PAIRING_DOOR_ATTEMPTS_MAX) {
      this.#attempts.set(source, recent);
      return false;
    }
    recent.push(now);
    this.#attempts.set(source, recent);
    if (this.#attempts.size > DOOR_CONNECTIONS_MAX) this.#forgetQuietSources(now);
    return true;
  }

  /** Sources with no attempt inside the window hold nothing worth keeping. */
  #forgetQuietSources(now: number): void {
    for (const [source, times] of this.#attempts)
      if (times.every((t) => now - t >= PAIRING_DOOR_WINDOW_MS)) this.#attempts.delete(source);
  }

  async #attempt(msg: Msg): Promise<void> {
    const set = msg.subject.slice(PAIRING_DOOR_SUBJECT_PREFIX.length + 1);
    const user = DOOR_INBOX.exec(msg.reply ?? "")?.[1];
    const log = (outcome: string, fields: Record<string, unknown> = {}) =>
      this.#cfg.log.info({ set, user, ...fields, outcome }, "pairing door: attempt");
    // Not a door user's inbox: the answer would go to someone who did not ask. Nobody hears a refusal.
    if (!user) return log("refused: the reply subject is not a door user's inbox");
    const source = await this.#sourceOf(user);
    const answer = (reply: Reply) => msg.respond(encoder.encode(JSON.stringify(reply)));
    if (!source) {
      log("refused: no door connection of that user");
      return void answer(refusal("this request did not come through the hub's pairing door"));
    }
    if (!this.#allow(source)) {
      this.#cfg.log.warn(
        { source, set, user, attemptsMax: PAIRING_DOOR_ATTEMPTS_MAX, windowMs: PAIRING_DOOR_WINDOW_MS },
        "pairing door: too many attempts from this source; refused",
      );
      return void answer(
        refusal(
          `too many pairing attempts from this address; wait ${PAIRING_DOOR_WINDOW_MS / 1000} s and check the token`,
        ),
      );
    }
    if (!isSetId(set)) {
      log("refused: bad notify set", { source });
      return void answer(refusal("no such notify set on this hub; paste the whole pairing link"));
    }
    if (this.#inFlight >= IN_FLIGHT_MAX) {
      log("refused: the door is busy", { source });
      return void answer(refusal("the hub's pairing door is busy; try again in a moment"));
    }
    this.#inFlight++;
    try {
      const reply = await this.#relay(set, msg.data);
      log(reply.ok ? "paired" : `refused: ${reply.error.message}`, { source });
      answer(reply);
    } finally {
      this.#inFlight--;
    }
  }

  async #relay(set: string, data: Uint8Array): Promise<Reply> {
    let text: string;
    try {
      const reply = relaySubject(set);
      text = (
        await this.#cfg.hubAccount.request(pairSubject(set), data, {
          timeout: PAIRING_DOOR_RELAY_MS,
          noMux: true,
          reply,
        })
      ).string();
    } catch {
      return refusal(
        "unknown or expired pairing token: no agent of this notify set issued it (run `edgesync notify pair` for a new one)",
      );
    }
    try {
      const reply = JSON.parse(text) as Reply;
      return typeof reply === "object" && reply !== null && typeof reply.ok === "boolean"
        ? reply
        : refusal("the notify service sent an unreadable answer");
    } catch {
      return refusal("the notify service sent an unreadable answer");
    }
  }
}
