/**
 * Hosts vaults on one NATS connection: vault folders given on the command line (with their folder
 * binding), and — on a hub — a headless replica of every other vault it hears announced, so a leaf
 * that was offline catches up from the hub and clones download from it.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import * as A from "@automerge/automerge";
import { NatsTransport } from "./nats/nats-transport.js";
import { HUB_VAULTS_SUBJECT, parseAnnounceSubject } from "./nats/subjects.js";
import { openLocalVault, systemClock, type LocalVault } from "./local-vault/local-vault.js";
import { loadVaultConfig } from "./vault/config.js";
import { Replica, replicaDir } from "./replica.js";
import { isReady } from "./vault/model/vault-doc.js";
import { asPeerId, type Log } from "./sync/ports.js";
import type { SyncEngine, ChangeEvent } from "./sync/engine.js";
import type { Metrics } from "./metrics.js";
import type { ReplicaMemory } from "./replica-memory.js";

export interface VaultHostConfig {
  /** The agent's connection: vault traffic too, unless `connectionFor` gives each vault its own. */
  nc: NatsConnection;
  /** A hub in operator mode: each vault lives in its own NATS account, so its own connection. */
  connectionFor?: (vaultId: string) => Promise<NatsConnection>;
  /** After every change to a vault's document (the hub enforces its authorized_keys from here). */
  onVaultChange?: (vaultId: string, engine: SyncEngine) => void;
  peerId: string;
  homeDir: string;
  log: Log;
  metrics?: Metrics;
  /** The name a hosted vault was registered with (the hub's state); a replica knows nothing else. */
  registeredName?: (vaultId: string) => string | undefined;
  /** Replicate every announced vault (the hub). */
  replicateAll: boolean;
  /** This agent is the hub: its engines say so, and leaves then sync with it alone (SyncEngineConfig.hub). */
  hub?: boolean;
  /** Answer clone discovery requests (hub and peer roles). */
  answerDiscovery: boolean;
  allowMassDelete?: boolean;
  /** Leafnode URL advertised to clones (hub). */
  leafUrl?: (host: string) => string | undefined;
  /** A replica idle this long is unloaded from memory (replica.ts; default REPLICA_IDLE_UNLOAD_MS). */
  replicaIdleUnloadMs?: number;
  /** A replica was released (placed on other hubs): its vault connection may go. */
  onReplicaReleased?: (vaultId: string) => Promise<void>;
}

export interface HubCatalogue {
  vaults: { id: string; name: string }[];
  /** The hub's leafnode URL, for `sync start --nats-role leaf`. */
  leafUrl?: string;
}

/** Replicas a hub keeps at most; beyond this new vaults are ignored with a warning. */
const REPLICAS_MAX = 1000;

export class VaultHost {
  readonly #cfg: VaultHostConfig;
  readonly folders = new Map<string, LocalVault>();
  readonly replicas = new Map<string, Replica>();
  readonly #opening = new Map<string, Promise<void>>();
  readonly #subs: Subscription[] = [];
  readonly #transports = new Set<NatsTransport>();
  readonly #replicaTransports = new Map<string, NatsTransport>();
  #tickTimer: NodeJS.Timeout | undefined;
  /** Replica loads run one after another: a burst of wake-ups then never holds every document at once mid-load. */
  #loads: Promise<void> = Promise.resolve();

  constructor(config: VaultHostConfig) {
    this.#cfg = config;
  }

  /** The engines running now: every folder's, and those of the replicas loaded at this moment. */
  engines(): SyncEngine[] {
    const replicaEngines = [...this.replicas.values()].flatMap((r) => (r.engine ? [r.engine] : []));
    return [...[...this.folders.values()].map((v) => v.engine), ...replicaEngines];
  }

  async start(): Promise<void> {
    const { nc } = this.#cfg;
    if (this.#cfg.replicateAll) {
      this.#subs.push(
        nc.subscribe("es.v1.vault.*.announce.*", {
          callback: (error, msg) => {
            if (!error) this.#onAnnounce(msg.subject);
          },
        }),
      );
    }
    // Hubs and peers answer discovery for what they host (a peer mesh can be cloned from too);
    // leaves do not, so a clone through the hub always hears the hub.
    if (this.#cfg.answerDiscovery) {
      const reply = (host: string) => new TextEncoder().encode(JSON.stringify(this.#catalogue(host)));
      this.#subs.push(
        nc.subscribe(HUB_VAULTS_SUBJECT, {
          queue: "edgesync-discovery",
          callback: (error, msg) => {
            if (!error) msg.respond(reply(msg.headers?.get("es-host") ?? ""));
          },
        }),
      );
    }
    this.#tickTimer = setInterval(() => {
      for (const vault of this.folders.values()) void vault.engine.tick();
      for (const replica of this.replicas.values()) replica.tick();
    }, 500);
    this.#tickTimer.unref();
  }

  /** Opens a vault folder with live sync over NATS. */
  async addFolder(root: string, holder: string): Promise<LocalVault> {
    let vault: LocalVault | undefined = undefined;
    let bindingStarted = false;
    const probe = await loadVaultConfig(root);
    const nc = await this.#connection(probe.vault.id);
    const transport = this.#track(
      new NatsTransport({ nc, vaultId: probe.vault.id, self: asPeerId(this.#cfg.peerId), log: this.#cfg.log }),
    );
    vault = await openLocalVault({
      root,
      peerId: this.#cfg.peerId,
      hub: this.#cfg.hub,
      transport,
      log: this.#cfg.log,
      watch: true,
      allowMassDelete: this.#cfg.allowMassDelete,
      holder,
      onChange: (event) => {
        this.#observe(probe.vault.id, vault?.engine, event);
        // A clone that just received its first sync starts watching its folder now.
        if (!bindingStarted && vault && isReady(vault.engine.doc)) {
          bindingStarted = true;
          void vault.binding
            .start()
            .catch((error: unknown) => this.#cfg.log.warn({ error: String(error) }, "folder binding failed to start"));
        }
      },
    });
    await vault.start();
    bindingStarted = isReady(vault.engine.doc);
    this.folders.set(probe.vault.id, vault);
    this.#cfg.onVaultChange?.(probe.vault.id, vault.engine);
    this.#cfg.log.info({ vault: probe.vault.id, name: probe.vault.name, root }, "vault folder online");
    return vault;
  }

  #track(transport: NatsTransport): NatsTransport {
    this.#transports.add(transport);
    return transport;
  }

  /**
   * Our server's link to the hub or to another peer came back. The agent's own connection never
   * dropped (it is local), so without this nothing would tell the engines to resynchronise until
   * the next periodic announcement.
   */
  linkUp(): void {
    for (const transport of this.#transports) transport.linkUp();
  }

  #connection(vaultId: string): Promise<NatsConnection> {
    return this.#cfg.connectionFor ? this.#cfg.connectionFor(vaultId) : Promise.resolve(this.#cfg.nc);
  }

  /** Keeps a headless replica of a vault (a hub); no-op when already hosted. */
  addReplica(vaultId: string): void {
    if (this.folders.has(vaultId) || this.replicas.has(vaultId) || this.#opening.has(vaultId)) return;
    if (this.replicas.size >= REPLICAS_MAX)
      return this.#cfg.log.warn({ vault: vaultId }, "replica limit reached; not replicating");
    this.#opening.set(
      vaultId,
      this.#openReplica(vaultId).finally(() => this.#opening.delete(vaultId)),
    );
  }

  /**
   * Stops hosting a vault's replica (placed on other hubs now): its engine saves and closes, its
   * subscriptions go; its files stay, so hosting it again later starts from them.
   */
  async removeReplica(vaultId: string): Promise<void> {
    await this.#opening.get(vaultId);
    const replica = this.replicas.get(vaultId);
    if (!replica) return;
    this.replicas.delete(vaultId);
    await replica.close();
    const transport = this.#replicaTransports.get(vaultId);
    if (transport) this.#transports.delete(transport);
    this.#replicaTransports.delete(vaultId);
    await this.#cfg.onReplicaReleased?.(vaultId);
    this.#cfg.log.info({ vault: vaultId }, "stopped replicating vault");
  }

  #onAnnounce(subject: string): void {
    const parsed = parseAnnounceSubject(subject);
    if (parsed) this.addReplica(parsed.vaultId);
  }

  async #openReplica(vaultId: string): Promise<void> {
    try {
      const transport = this.#track(
        new NatsTransport({
          nc: await this.#connection(vaultId),
          vaultId,
          self: asPeerId(this.#cfg.peerId),
          log: this.#cfg.log,
        }),
      );
      this.#replicaTransports.set(vaultId, transport);
      const replica = await Replica.open({
        dir: replicaDir(this.#cfg.homeDir, vaultId),
        vault: { id: vaultId, name: this.#cfg.registeredName?.(vaultId) ?? "" },
        peerId: this.#cfg.peerId,
        hub: this.#cfg.hub,
        transport,
        clock: systemClock,
        log: this.#cfg.log,
        idleUnloadMs: this.#cfg.replicaIdleUnloadMs,
        loadGate: (load) => this.#gateLoad(load),
        onChange: (event, engine) => this.#observe(vaultId, engine, event),
        // Loaded again after an unload: the hub re-reads what it enforces from the document.
        onLoaded: (engine) => this.#cfg.onVaultChange?.(vaultId, engine),
      });
      this.replicas.set(vaultId, replica);
      this.#cfg.log.info({ vault: vaultId }, "replicating vault");
    } catch (error) {
      this.#replicaTransports.delete(vaultId);
      this.#cfg.log.warn({ vault: vaultId, error: String(error) }, "cannot open a replica");
    }
  }

  #gateLoad(load: () => Promise<void>): Promise<void> {
    const run = this.#loads.then(load);
    this.#loads = run.catch(() => {}); // the load's caller gets its error; the next load runs regardless
    return run;
  }

  /** A vault's running engine; an unloaded replica is loaded for it (the bridge beside a hub asks). */
  async engineFor(vaultId: string): Promise<SyncEngine | undefined> {
    return this.folders.get(vaultId)?.engine ?? (await this.replicas.get(vaultId)?.loadedEngine());
  }

  /** Memory of each hosted replica, loaded or not (replica-memory.ts says how it is measured). */
  replicaMemory(): ({ id: string } & ReplicaMemory)[] {
    return [...this.replicas].map(([id, replica]) => ({ id, ...replica.memory() }));
  }

  /** What the hub replicates, for clones; `host` is how the asking client reached us. */
  #catalogue(host: string): HubCatalogue {
    const vaults: HubCatalogue["vaults"] = [];
    // By the identity each vault was opened or hosted with, never the document's `meta`.
    for (const vault of this.folders.values())
      if (vault.engine.vault && isReady(vault.engine.doc))
        vaults.push({ id: vault.engine.vault.id, name: vault.engine.vault.name });
    // An unloaded replica is listed too: the clone's first message loads it.
    for (const replica of this.replicas.values())
      if (replica.ready) vaults.push({ id: replica.vault.id, name: replica.vault.name });
    return { vaults, leafUrl: this.#cfg.leafUrl?.(host) };
  }

  #observe(vaultId: string, engine: SyncEngine | undefined, event: ChangeEvent): void {
    if (engine) this.#cfg.onVaultChange?.(vaultId, engine);
    const metrics = this.#cfg.metrics;
    if (!metrics || !engine || event.origin !== "remote") return;
    const metas = A.getChangesMetaSince(engine.doc, event.before);
    const newest = Math.max(...metas.map((m) => m.time));
    if (Number.isFinite(newest)) metrics.observeSyncLatency((Date.now() - newest) / 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.#tickTimer);
    for (const sub of this.#subs) sub.unsubscribe();
    for (const vault of this.folders.values()) await vault.close().catch(() => {});
    for (const replica of this.replicas.values()) await replica.close().catch(() => {});
  }
}
