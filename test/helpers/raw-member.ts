/**
 * A hostile member written by hand: it connects to the hub's NATS with a member's key (its own
 * credentials, as any member has), speaks the vault bus's documented framing itself —
 *   subject  es.v1.vault.<vault>.p.<to>.<from>, announcements on es.v1.vault.<vault>.announce.<from>
 *   frame    [u8 1][u8 0] whole message, or [u8 1][u8 1][u32 id][u16 index][u16 count][u32 total] part
 *   message  [u8 1][u8 2] Automerge sync message
 * — and runs Automerge's sync protocol with the hub's replica on a document it changed by hand.
 * None of the agent's checks run on its side.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import * as A from "@automerge/automerge";
import { randomBytes } from "node:crypto";

export interface RawMemberOptions {
  nc: NatsConnection;
  vaultId: string;
  /** The member's peer token (its user nkey, `U…`). */
  self: string;
}

/** Below the server's 1 MB max_payload. */
const FRAME_BODY_BYTES = 512 * 1024;
const CHUNK_HEADER_BYTES = 14;
let nextMessageId = 1;
/** How often an unanswered exchange is started afresh (each restart resends what the hub lacks). */
const NUDGE_MS = 2_000;

function framesOf(sync: Uint8Array): Uint8Array[] {
  const message = new Uint8Array(2 + sync.length);
  message.set([1, 2]);
  message.set(sync, 2);
  if (message.length <= FRAME_BODY_BYTES) return [new Uint8Array([1, 0, ...message])];
  const count = Math.ceil(message.length / FRAME_BODY_BYTES);
  const id = nextMessageId++;
  return Array.from({ length: count }, (_, index) => {
    const part = message.subarray(index * FRAME_BODY_BYTES, (index + 1) * FRAME_BODY_BYTES);
    const frame = new Uint8Array(CHUNK_HEADER_BYTES + part.length);
    const view = new DataView(frame.buffer);
    frame.set([1, 1]);
    view.setUint32(2, id);
    view.setUint16(6, index);
    view.setUint16(8, count);
    view.setUint32(10, message.length);
    frame.set(part, CHUNK_HEADER_BYTES);
    return frame;
  });
}

/** A sync message (type 2) or a snapshot (type 5, a full save) inside a whole frame; else undefined. */
function payloadOf(frame: Uint8Array): { kind: "sync" | "snapshot"; bytes: Uint8Array } | undefined {
  if (frame[0] !== 1 || frame[1] !== 0 || frame[2] !== 1) return undefined;
  if (frame[3] === 2) return { kind: "sync", bytes: frame.subarray(4) };
  if (frame[3] === 5) return { kind: "snapshot", bytes: frame.subarray(4) };
  return undefined;
}

export class RawMember {
  readonly #o: RawMemberOptions;
  doc: A.Doc<Record<string, Record<string, unknown>>>;
  #state = A.initSyncState();
  #hub: string | undefined;

  constructor(options: RawMemberOptions) {
    this.#o = options;
    this.doc = A.init({ actor: randomBytes(16).toString("hex") as A.ActorId });
  }

  /** Learns the hub's peer id from its announcements and pulls the whole vault from it. */
  async start(timeoutMs = 20_000): Promise<void> {
    const prefix = `es.v1.vault.${this.#o.vaultId}`;
    const gotHub = new Promise<void>((resolve) => {
      this.#o.nc.subscribe(`${prefix}.announce.*`, {
        callback: (_e, msg) => {
          // Announce flags: bit 2 marks a hub's replica.
          if (
            msg.data[0] === 1 &&
            msg.data[1] === 0 &&
            msg.data[2] === 1 &&
            msg.data[3] === 1 &&
            (msg.data[4] & 2) !== 0
          ) {
            this.#hub ??= msg.subject.split(".").pop();
            resolve();
          }
        },
      });
    });
    this.#o.nc.subscribe(`${prefix}.p.${this.#o.self}.*`, {
      callback: (_e, msg) => {
        const payload = payloadOf(msg.data);
        if (payload === undefined) return;
        if (payload.kind === "snapshot") {
          if (A.getHeads(this.doc).length > 0) return;
          this.doc = A.load(payload.bytes, { actor: A.getActorId(this.doc) as A.ActorId });
          this.#state = A.initSyncState();
        } else {
          [this.doc, this.#state] = A.receiveSyncMessage(this.doc, this.#state, payload.bytes);
        }
        this.#offer();
      },
    });
    await withTimeout(gotHub, timeoutMs, "no hub announcement");
    this.#offer();
    await this.#until(() => this.doc.files !== undefined, timeoutMs, "the vault never arrived");
  }

  /** Makes a change by hand and syncs until the hub says it holds it (accepted), or the time is up. */
  async push(
    mutate: (doc: Record<string, Record<string, unknown>>) => void,
    timeoutMs = 20_000,
  ): Promise<{ hash: string; accepted: boolean }> {
    this.doc = A.change(this.doc, { time: Date.now(), message: "hand-made" }, mutate);
    const hash = A.decodeChange(A.getLastLocalChange(this.doc)!).hash!;
    this.#offer();
    const accepted = await this.#until(
      () => (this.#state.theirHeads ?? []).includes(hash) || (this.#state.sharedHeads ?? []).includes(hash),
      timeoutMs,
    ).then(
      () => true,
      () => false,
    );
    return { hash, accepted };
  }

  #offer(): void {
    if (this.#hub === undefined) return;
    const [state, message] = A.generateSyncMessage(this.doc, this.#state);
    this.#state = state;
    if (message === null) return;
    for (const frame of framesOf(message))
      this.#o.nc.publish(`es.v1.vault.${this.#o.vaultId}.p.${this.#hub}.${this.#o.self}`, frame);
  }

  async #until(done: () => boolean, timeoutMs: number, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let nextNudge = Date.now() + NUDGE_MS;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      // The bus is at-most-once: start the exchange afresh now and then, as the agents do.
      if (Date.now() > nextNudge) {
        this.#state = A.decodeSyncState(A.encodeSyncState(this.#state));
        this.#offer();
        nextNudge = Date.now() + NUDGE_MS;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref()),
  ]);
}

/** A NATS connection for the raw member (the caller brings the member's authenticator and TLS). */
export const connectRaw = (servers: string, options: Omit<Parameters<typeof connect>[0] & object, "servers">) =>
  connect({ servers, reconnect: false, timeout: 5_000, ...options });
