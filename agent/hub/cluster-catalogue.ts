/**
 * The vault catalogue and the live-hub view a cluster of hubs shares, over the system account
 * (only hubs hold its key; a server routed in without the cluster's route key gets no route at
 * all, hub-routes.ts). Every hub says hello each HELLO_INTERVAL_MS with a digest of its catalogue;
 * a hub whose digest differs asks for the other's versions, then for each entry it lacks or holds
 * older, and learns it (hub-authority.ts). The periodic hello is what lets a hub that was down, or
 * whose routes came up late, catch up without anybody keeping messages for it; a hub not heard for
 * HUB_SILENT_AFTER_MS drops out of the live set that vault placement is computed from.
 *
 * A starting hub is `settled` once it has caught up with the first hub it hears, or after SETTLE_MS
 * of hearing none (it is alone): until then it neither pushes account JWTs from its own, possibly
 * stale, vaults.json nor decides placement.
 */
import type { NatsConnection, Msg, Subscription } from "@nats-io/transport-node";
import { isVaultId } from "../nats/subjects.js";
import type { HostedVault } from "./hub-state.js";
import {
  catalogueDigest,
  entryVersion,
  isNewerVersion,
  parseCatalogueEntry,
  parseVersionText,
  versionText,
} from "./catalogue-entry.js";
import type { Log } from "../sync/ports.js";

export const CLUSTER_HELLO_SUBJECT = "es.v1.cluster.hello";
const versionsSubject = (hubId: string) => `es.v1.cluster.versions.${hubId}`;
const entriesSubject = (hubId: string) => `es.v1.cluster.entries.${hubId}`;

export const HELLO_INTERVAL_MS = 1_000;
/** Four hellos missed: a hub this quiet has crashed or lost its routes. */
export const HUB_SILENT_AFTER_MS = 4_000;
/** A starting hub that hears no other in this long acts on what it has. */
export const SETTLE_MS = 5_000;
const REQUEST_TIMEOUT_MS = 5_000;
/** Entries asked for per request: an entry may carry up to 1 MiB of authorized_keys. */
const ENTRIES_PER_REQUEST = 8;
/** Under nats-server's default 1 MiB max_payload, with room for the JSON around the entries. */
const REPLY_BYTES_MAX = 900 * 1024;
/** A hello naming more vaults than this is not one a hub of ours sent. */
const HELLO_BYTES_MAX = 4 * 1024;

export interface ClusterCatalogueConfig {
  system: NatsConnection;
  /** This hub's id in the cluster (its device key's nkey): what placement ranks. */
  hubId: string;
  vaults: () => ReadonlyMap<string, HostedVault>;
  /** An entry newer than ours (or a vault we did not know): take it (and call `changed`). */
  learn: (vaultId: string, entry: HostedVault) => Promise<void>;
  /** The set of live hubs (this one included) changed. */
  onLiveHubs: (hubIds: string[]) => void;
  log: Log;
  now?: () => number;
}

interface Hello {
  hub: string;
  digest: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parseHello(msg: Msg): Hello | undefined {
  if (msg.data.length > HELLO_BYTES_MAX) return undefined;
  try {
    const v = JSON.parse(decoder.decode(msg.data)) as Partial<Hello>;
    if (typeof v.hub !== "string" || !/^U[A-Z2-7]{55}$/.test(v.hub)) return undefined;
    if (typeof v.digest !== "string" || !/^[0-9a-f]{64}$/.test(v.digest)) return undefined;
    return { hub: v.hub, digest: v.digest };
  } catch {
    return undefined;
  }
}

export class ClusterCatalogue {
  readonly #cfg: ClusterCatalogueConfig;
  readonly #now: () => number;
  readonly #subs: Subscription[] = [];
  readonly #lastHeard = new Map<string, number>();
  /** Hubs we are catching up with now: one exchange per hub at a time. */
  readonly #syncing = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #settle: () => void = () => {};
  #isSettled = false;
  #startedAtMs = 0;
  /** The digest of the catalogue as it stands: hashing every entry per hello would cost a hub with many vaults. */
  #digest = "";
  readonly settled: Promise<void>;

  constructor(config: ClusterCatalogueConfig) {
    this.#cfg = config;
    this.#now = config.now ?? Date.now;
    this.settled = new Promise((resolve) => (this.#settle = resolve));
  }

  get isSettled(): boolean {
    return this.#isSettled;
  }

  /**
   * Settled, and long enough after the start to have heard every live hub's hello (as long as a
   * silent one takes to drop out): placement decided sooner would see only the first hub that
   * answered, and host vaults it must hand over moments later.
   */
  async placementReady(): Promise<void> {
    await this.settled;
    const waitMs = this.#startedAtMs + HUB_SILENT_AFTER_MS - this.#now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }

  /** This hub and every hub heard from recently, sorted. */
  liveHubs(): string[] {
    const now = this.#now();
    const live = [...this.#lastHeard].filter(([, at]) => now - at < HUB_SILENT_AFTER_MS).map(([id]) => id);
    return [...new Set([this.#cfg.hubId, ...live])].sort();
  }

  start(): void {
    const { system, hubId } = this.#cfg;
    this.#startedAtMs = this.#now();
    this.#digest = catalogueDigest(this.#cfg.vaults());
    const subscribe = (subject: string, handle: (msg: Msg) => void) =>
      this.#subs.push(
        system.subscribe(subject, {
          callback: (error, msg) => {
            if (!error) handle(msg);
          },
        }),
      );
    subscribe(CLUSTER_HELLO_SUBJECT, (msg) => this.#onHello(msg));
    subscribe(versionsSubject(hubId), (msg) => this.#reply(msg, this.#versions()));
    subscribe(entriesSubject(hubId), (msg) => this.#reply(msg, this.#entries(msg)));
    this.#settleTimer = setTimeout(() => this.#markSettled("no other hub heard"), SETTLE_MS);
    this.#settleTimer.unref();
    this.#timer = setInterval(() => this.#tick(), HELLO_INTERVAL_MS);
    this.#timer.unref();
    this.#announce();
  }

  /** The catalogue changed here: the digest is taken again and the others hear it without waiting a round. */
  changed(): void {
    this.#digest = catalogueDigest(this.#cfg.vaults());
    this.#announce();
  }

  #announce(): void {
    if (this.#cfg.system.isClosed()) return;
    const hello: Hello = { hub: this.#cfg.hubId, digest: this.#digest };
    this.#cfg.system.publish(CLUSTER_HELLO_SUBJECT, encoder.encode(JSON.stringify(hello)));
  }

  #tick(): void {
    let silent = false;
    for (const [id, at] of this.#lastHeard)
      if (this.#now() - at >= HUB_SILENT_AFTER_MS) {
        this.#lastHeard.delete(id);
        silent = true;
        this.#cfg.log.info({ hub: id }, "hub cluster: a hub went silent; placing its vaults elsewhere");
      }
    if (silent) this.#cfg.onLiveHubs(this.liveHubs());
    this.#announce();
  }

  #markSettled(why: string): void {
    if (this.#isSettled) return;
    this.#isSettled = true;
    clearTimeout(this.#settleTimer);
    this.#cfg.log.info({ hubs: this.liveHubs().length, why }, "hub cluster: catalogue settled");
    this.#settle();
  }

  #onHello(msg: Msg): void {
    const hello = parseHello(msg);
    if (!hello || hello.hub === this.#cfg.hubId) return;
    const known = this.#lastHeard.has(hello.hub);
    this.#lastHeard.set(hello.hub, this.#now());
    if (!known) {
      this.#cfg.log.info({ hub: hello.hub }, "hub cluster: a hub joined");
      this.#cfg.onLiveHubs(this.liveHubs());
    }
    if (hello.digest === this.#digest) return this.#markSettled("in step with the cluster");
    if (this.#syncing.has(hello.hub)) return;
    this.#syncing.add(hello.hub);
    void this.#catchUp(hello.hub).finally(() => this.#syncing.delete(hello.hub));
  }

  /** Asks `hubId` for its versions, then for the entries it holds newer than ours. */
  async #catchUp(hubId: string): Promise<void> {
    try {
      const theirs = await this.#request(versionsSubject(hubId), {});
      if (typeof theirs !== "object" || theirs === null) throw new Error("versions: not an object");
      const ours = this.#cfg.vaults();
      const wanted: string[] = [];
      for (const [id, text] of Object.entries(theirs as Record<string, unknown>)) {
        const version = parseVersionText(text);
        const mine = ours.get(id);
        if (isVaultId(id) && version && isNewerVersion(version, mine && entryVersion(mine))) wanted.push(id);
      }
      for (let i = 0; i < wanted.length; i += ENTRIES_PER_REQUEST) {
        const batch = wanted.slice(i, i + ENTRIES_PER_REQUEST);
        const entries = await this.#request(entriesSubject(hubId), { ids: batch });
        for (const id of batch) await this.#learnFrom(hubId, id, (entries as Record<string, unknown>)?.[id]);
      }
      this.#markSettled("caught up with another hub");
    } catch (error) {
      this.#cfg.log.debug(
        { hub: hubId, error: String(error) },
        "hub cluster: catching up failed (again at its next hello)",
      );
    }
  }

  async #learnFrom(hubId: string, vaultId: string, value: unknown): Promise<void> {
    if (value === undefined) return; // too large for one reply, or gone meanwhile
    const entry = parseCatalogueEntry(value);
    if (!entry) return this.#cfg.log.warn({ hub: hubId, vault: vaultId }, "hub cluster: a malformed entry; ignored");
    const mine = this.#cfg.vaults().get(vaultId);
    if (isNewerVersion(entryVersion(entry), mine && entryVersion(mine))) await this.#cfg.learn(vaultId, entry);
  }

  async #request(subject: string, body: unknown): Promise<unknown> {
    const reply = await this.#cfg.system.request(subject, encoder.encode(JSON.stringify(body)), {
      timeout: REQUEST_TIMEOUT_MS,
    });
    return JSON.parse(reply.string()) as unknown;
  }

  #reply(msg: Msg, value: unknown): void {
    if (msg.reply) msg.respond(encoder.encode(JSON.stringify(value)));
  }

  #versions(): Record<string, string> {
    const versions: Record<string, string> = {};
    for (const [id, entry] of this.#cfg.vaults()) versions[id] = versionText(entryVersion(entry));
    return versions;
  }

  #entries(msg: Msg): Record<string, HostedVault> {
    const out: Record<string, HostedVault> = {};
    let ids: unknown;
    try {
      ids = (JSON.parse(decoder.decode(msg.data)) as { ids?: unknown }).ids;
    } catch {
      return out;
    }
    if (!Array.isArray(ids)) return out;
    let bytes = 0;
    for (const id of ids.slice(0, ENTRIES_PER_REQUEST)) {
      const entry = typeof id === "string" ? this.#cfg.vaults().get(id) : undefined;
      if (!entry) continue;
      const size = JSON.stringify(entry).length;
      if (bytes + size > REPLY_BYTES_MAX) continue; // asked again, alone, at the next catch-up
      bytes += size;
      out[id as string] = entry;
    }
    return out;
  }

  stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#settleTimer);
    for (const sub of this.#subs) sub.unsubscribe();
  }
}
