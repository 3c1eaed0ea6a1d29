/**
 * The notify store on one device: the synced notify document (DiskStore + SyncEngine, exactly as a
 * vault replica) plus an in-memory index of validated messages and devices, and listeners that hear
 * every new message or device change whether it was written here or arrived by sync.
 *
 * Everything read from the document is validated again (shape and signature): a full device could
 * write anything into it, and a bad entry must cost one log line, never a crash.
 */
import { join } from "node:path";
import { mkdir } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import * as A from "@automerge/automerge";
import { SyncEngine } from "../agent/sync/engine.js";
import { asPeerId, silentLog, type Clock, type DocStore, type Log, type Transport } from "../agent/sync/ports.js";
import type { Doc } from "../agent/vault/model/vault-doc.js";
import { DiskStore } from "../agent/vault/store/disk-store.js";
import { decodeMessage, type NotifyMessage, type VerifyFn } from "./model.js";
import { deviceProblem, isActive, type DeviceRecord } from "./devices.js";
import {
  hasMessage,
  loadNotifyDoc,
  putDevice,
  putMessage,
  storedDevices,
  storedMessageJson,
  storedMessages,
  touched,
  type NotifyDoc,
} from "./doc.js";
import { verifyEd25519 } from "./verify.js";
import { NotifyInputError } from "./errors.js";

export interface NotifyStoreConfig {
  /** Folder of this set's document (created 0700): `<homeDir>/notify/<set>`. */
  dir: string;
  set: string;
  /** This device's peer id. */
  self: string;
  transport: Transport;
  clock: Clock;
  log?: Log;
  verify?: VerifyFn;
  /** Storage other than a DiskStore in `dir` (tests). */
  docStore?: DocStore;
  /** Refuse sync from peers that are known notify-only or revoked devices (defence in depth beside NATS permissions). */
  guardSync?: boolean;
}

export interface ThreadSummary {
  project: string;
  thread: string;
  messages: number;
  lastAt: number;
  last: string;
  /** Messages with actions and no answer yet. */
  open: number;
}

/** A message id typed by a user may be a unique prefix of at least this many characters. */
const ID_PREFIX_CHARS_MIN = 6;

export class NotifyStore {
  readonly #log: Log;
  readonly #verify: VerifyFn;
  readonly #messages = new Map<string, NotifyMessage>();
  readonly #replies = new Map<string, Set<string>>();
  readonly #devices = new Map<string, DeviceRecord>();
  readonly #messageListeners = new Set<(m: NotifyMessage) => void>();
  readonly #deviceListeners = new Set<(d: DeviceRecord) => void>();
  readonly #docStore: DocStore;
  #engine!: SyncEngine;
  #rejected = 0;

  private constructor(config: NotifyStoreConfig, docStore: DocStore) {
    this.#log = config.log ?? silentLog;
    this.#verify = config.verify ?? verifyEd25519;
    this.#docStore = docStore;
  }

  static async open(config: NotifyStoreConfig): Promise<NotifyStore> {
    if (!config.docStore) await mkdir(config.dir, { recursive: true, mode: 0o700 });
    const docStore = config.docStore ?? new DiskStore(join(config.dir, "doc"));
    const store = new NotifyStore(config, docStore);
    const { doc, fresh } = loadNotifyDoc(await docStore.load(), config.set, randomBytes(16).toString("hex"));
    if (fresh) await docStore.replace(A.save(doc));
    for (const [id, json] of storedMessages(doc)) store.#indexMessage(id, json, false);
    for (const [peer, json] of storedDevices(doc)) store.#indexDevice(peer, json, false);
    store.#engine = new SyncEngine({
      self: asPeerId(config.self),
      doc: doc as unknown as Doc,
      store: docStore,
      storedHeads: A.getHeads(doc), // loaded from the store, or just written to it whole
      transport: config.transport,
      clock: config.clock,
      log: store.#log,
      isPeerAllowed: config.guardSync ? (peer) => store.#maySync(peer) : undefined,
      onChange: (event) => store.#onDocChange(event.before),
    });
    return store;
  }

  get doc(): NotifyDoc {
    return this.#engine.doc as unknown as NotifyDoc;
  }

  get engine(): SyncEngine {
    return this.#engine;
  }

  get stats() {
    return {
      messages: this.#messages.size,
      devices: this.#devices.size,
      rejected: this.#rejected,
      sync: this.#engine.stats,
    };
  }

  start(): Promise<void> {
    return this.#engine.start();
  }

  /** Stores a validated message; "duplicate" when its id is already stored (delivered twice). */
  async insert(message: NotifyMessage, json: string): Promise<"stored" | "duplicate"> {
    let stored = false;
    await this.#engine.update((doc, nowMs) => {
      const notifyDoc = doc as unknown as NotifyDoc;
      if (hasMessage(notifyDoc, message.id)) return doc;
      stored = true;
      return putMessage(notifyDoc, message, json, nowMs) as unknown as Doc;
    });
    return stored ? "stored" : "duplicate";
  }

  async putDevice(record: DeviceRecord): Promise<void> {
    await this.#engine.update((doc, nowMs) => putDevice(doc as unknown as NotifyDoc, record, nowMs) as unknown as Doc);
  }

  has(id: string): boolean {
    return this.#messages.has(id) || hasMessage(this.doc, id);
  }

  get(id: string): NotifyMessage | undefined {
    return this.#messages.get(id);
  }

  /** The stored message a user means by `idOrPrefix`; throws NotifyInputError when none or several match. */
  resolve(idOrPrefix: string): NotifyMessage {
    const exact = this.#messages.get(idOrPrefix);
    if (exact) return exact;
    if (idOrPrefix.length < ID_PREFIX_CHARS_MIN || !/^[0-9a-z]+$/.test(idOrPrefix))
      throw new NotifyInputError(
        `no message ${JSON.stringify(idOrPrefix)}: give its id (at least ${ID_PREFIX_CHARS_MIN} characters; see \`edgesync notify log THREAD\`)`,
      );
    const matches = [...this.#messages.keys()].filter((id) => id.startsWith(idOrPrefix));
    if (matches.length === 0)
      throw new NotifyInputError(
        `no message ${JSON.stringify(idOrPrefix)} (see \`edgesync notify log THREAD\` for ids)`,
      );
    if (matches.length > 1)
      throw new NotifyInputError(
        `${JSON.stringify(idOrPrefix)} matches ${matches.length} messages; give more of the id`,
      );
    return this.#messages.get(matches[0]) as NotifyMessage;
  }

  /** Messages oldest first, optionally of one project and/or thread, the newest `limit`. */
  list(filter: { project?: string; thread?: string; limit?: number } = {}): NotifyMessage[] {
    const out = [...this.#messages.values()].filter(
      (m) =>
        (filter.project === undefined || m.project === filter.project) &&
        (filter.thread === undefined || m.thread === filter.thread),
    );
    out.sort(byTime);
    return filter.limit !== undefined ? out.slice(-filter.limit) : out;
  }

  replies(id: string): NotifyMessage[] {
    return [...(this.#replies.get(id) ?? [])].map((r) => this.#messages.get(r) as NotifyMessage).sort(byTime);
  }

  threads(project?: string): ThreadSummary[] {
    const byThread = new Map<string, NotifyMessage[]>();
    for (const m of this.#messages.values()) {
      if (project !== undefined && m.project !== project) continue;
      const key = JSON.stringify([m.project, m.thread]);
      const list = byThread.get(key) ?? [];
      list.push(m);
      byThread.set(key, list);
    }
    const out: ThreadSummary[] = [];
    for (const list of byThread.values()) {
      list.sort(byTime);
      const last = list[list.length - 1];
      const open = list.filter((m) => m.actions.length > 0 && !this.#replies.get(m.id)?.size).length;
      out.push({
        project: last.project,
        thread: last.thread,
        messages: list.length,
        lastAt: last.timestamp,
        last: last.body.slice(0, 120),
        open,
      });
    }
    return out.sort((a, b) => b.lastAt - a.lastAt);
  }

  devices(): DeviceRecord[] {
    return [...this.#devices.values()].sort((a, b) => a.addedAt - b.addedAt || (a.peer < b.peer ? -1 : 1));
  }

  device(peer: string): DeviceRecord | undefined {
    return this.#devices.get(peer);
  }

  onMessage(listener: (m: NotifyMessage) => void): () => void {
    this.#messageListeners.add(listener);
    return () => this.#messageListeners.delete(listener);
  }

  onDevice(listener: (d: DeviceRecord) => void): () => void {
    this.#deviceListeners.add(listener);
    return () => this.#deviceListeners.delete(listener);
  }

  tick(): Promise<void> {
    return this.#engine.tick();
  }

  flush(): Promise<void> {
    return this.#engine.flush();
  }

  async close(): Promise<void> {
    await this.#engine.stop();
    if (this.#docStore instanceof DiskStore) await this.#docStore.close();
  }

  #maySync(peer: string): boolean {
    const d = this.#devices.get(peer);
    return d === undefined || (isActive(d) && d.kind === "full");
  }

  #onDocChange(before: A.Heads): void {
    const { messageIds, devicePeers } = touched(this.doc, before);
    for (const peer of devicePeers) {
      const json = this.doc.devices[peer];
      if (json !== undefined) this.#indexDevice(peer, String(json), true);
    }
    for (const id of messageIds) {
      const json = storedMessageJson(this.doc, id);
      if (json !== undefined && !this.#messages.has(id)) this.#indexMessage(id, json, true);
    }
  }

  #indexMessage(id: string, json: string, announce: boolean): void {
    const decoded = decodeMessage(json, this.#verify);
    if ("problem" in decoded || decoded.message.id !== id) {
      this.#rejected++;
      this.#log.warn(
        { id, problem: "problem" in decoded ? decoded.problem : "id does not match its key" },
        "notify: ignoring a bad stored message",
      );
      return;
    }
    const message = decoded.message;
    this.#messages.set(id, message);
    if (message.replyTo !== undefined) {
      const set = this.#replies.get(message.replyTo) ?? new Set<string>();
      set.add(id);
      this.#replies.set(message.replyTo, set);
    }
    if (announce) for (const listener of this.#messageListeners) listener(message);
  }

  #indexDevice(peer: string, json: string, announce: boolean): void {
    let record: unknown;
    try {
      record = JSON.parse(json);
    } catch {
      record = undefined;
    }
    const problem = deviceProblem(record);
    if (problem || (record as DeviceRecord).peer !== peer) {
      this.#log.warn(
        { peer, problem: problem ?? "key does not match its record" },
        "notify: ignoring a bad device record",
      );
      return;
    }
    this.#devices.set(peer, record as DeviceRecord);
    if (announce) for (const listener of this.#deviceListeners) listener(record as DeviceRecord);
  }
}

const byTime = (a: NotifyMessage, b: NotifyMessage) => a.timestamp - b.timestamp || (a.id < b.id ? -1 : 1);
