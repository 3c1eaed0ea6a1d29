/**
 * The edge agent: `edgesync sync start`. Config → create → start → stop.
 *
 * Start-up order, and why:
 *  1. the device key (fails fast on a bad key, before any process is spawned);
 *  2. the vault configs (fails fast on a bad folder);
 *  3. a hub's authority (operator keys, TLS certificate, accounts: hub/hub-authority.ts), or a
 *     leaf's link to its hub (pinned certificate, one creds file per account: hub-link/leaf-link.ts);
 *  4. our nats-server child in its role — or the upstream server with --nats-upstream; a leaf's
 *     server dials the hub itself and keeps redialling, so the agent never handles hub outages. A
 *     leaf's or peer's client listener admits only a user made fresh here, its seed written (0600)
 *     before the server starts (agent/auth/local-credentials.ts): loopback is open to every local user;
 *  5. one client connection to that server (local, so it survives hub outages), as that user; a hub
 *     instead has one per account, since NATS isolates vaults by account;
 *  6. the vaults: folders (watch + sync) and, on a hub, replicas of every hosted vault; a leaf
 *     asks the hub to host vaults it does not know yet;
 *  7. the parts given in the config (agent-part.ts: notify's services, the bridge), in their order;
 *     which parts run is decided above this layer, in cmd/assemble-agent.ts;
 *  8. control sockets, agent.json, metrics.
 * stop() runs the same list backwards and is idempotent.
 */
import { mkdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Server } from "node:net";
import { edgesyncHome, type DeviceKey } from "./auth/identity.js";
import { deviceInboxPrefix } from "./auth/accounts.js";
import { loadDeviceKey } from "./auth/device-key.js";
import { loadVaultConfig } from "./vault/config.js";
import { NatsServerSupervisor } from "./nats/supervisor.js";
import { resolveServerConfig, type NatsRole, type NatsServerConfig, type RouteTls } from "./nats/server-config.js";
import { connectNats, drainOrClose } from "./nats/connect.js";
import { VaultHost } from "./vault-host.js";
import type { ReplicaMemory } from "./replica-memory.js";
import { writeFileAtomic } from "./fs/atomic-write.js";
import { HubAuthority } from "./hub/hub-authority.js";
import { loadOrCreateHubState, HUB_SERVER_DIR, type HubState } from "./hub/hub-state.js";
import * as A from "@automerge/automerge";
import { HubPlacement } from "./hub/hub-placement.js";
import { DEFAULT_REPLICAS } from "./hub/placement.js";
import { prepareLeafRemotes, registerVaults } from "./hub-link/leaf-link.js";
import type { TrustOptions } from "./hub-link/hub-client.js";
import { AUTHORIZED_KEYS } from "./fs/sync-filter.js";
import { readEntry, isReady } from "./vault/model/vault-doc.js";
import type { VaultConfig } from "./vault/config.js";
import { serveControl } from "./control.js";
import { Metrics, serveMetrics, parseListenAddress } from "./metrics.js";
import { registerReplicaMetrics } from "./replica-metrics.js";
import type { Log } from "./sync/ports.js";
import type { SyncEngine } from "./sync/engine.js";
import { PeerRoutes } from "./peer-routes.js";
import {
  HUB_CLUSTER_NAME,
  HubRouteExplainer,
  clusterSigningKey,
  loadOrCreateClusterKey,
  prepareHubRoutes,
} from "./hub/hub-routes.js";
import type { AgentPart, AgentPartContext } from "./agent-part.js";
import { createLocalCredentials, removeLocalCredentials, type LocalCredentials } from "./auth/local-credentials.js";
import { UsageError } from "./errors.js";
import { explainWebsocketMismatch, websocketMismatch, type WebsocketMismatch } from "./nats/websocket-hints.js";

export interface AgentConfig {
  /** Vault folders to sync (may be empty on a hub: it replicates whatever is announced). */
  roots: string[];
  role: NatsRole;
  homeDir?: string;
  identityPath?: string;
  /** An ssh-agent socket that holds the device key (the key file may then be absent). */
  identityAgent?: string;
  /** Client listener `host:port` (-1 for ephemeral). Hub default 0.0.0.0:4222, others 127.0.0.1:-1. */
  natsListen?: string;
  /** Hub: leafnode listener, default 0.0.0.0:7422. */
  leafListen?: string;
  /** Hub: leafnode-over-websocket listener (wss:// with the hub's pair, or plain behind a TLS-terminating proxy). */
  leafWsListen?: string;
  /** Hub: the websocket listener speaks plain ws:// because a TLS-terminating proxy sits in front of it. */
  leafWsNoTls?: boolean;
  /** Leaf: the hub's leafnode URL. */
  hubUrl?: string;
  /** Leaf: other hubs of the same cluster, dialled when the link to one is lost. */
  moreHubUrls?: string[];
  /**
   * Peer: cluster listener (default 127.0.0.1:6222) and routes to other peers. Hub: either one
   * joins the hubs' cluster (routes authenticated by the cluster key, hub/hub-routes.ts).
   */
  clusterListen?: string;
  peers?: string[];
  /** Attach to this NATS server instead of starting one. */
  upstream?: string;
  /** Hub: folder for operator keys, TLS pair, admins and hosted vaults (default <home>/.edgesync-server). */
  serverDir?: string;
  /** Hub: names/addresses clients dial; peer: names/addresses other peers dial. Put in the certificate. */
  tlsHostnames?: string[];
  /** Hub: admins (authorized_keys text) merged on start, from EDGESYNC_AUTHORIZED_KEYS. */
  authorizedKeys?: string;
  /** Hub: plain listeners for a TLS-terminating proxy; leaf: the hub is reached through such a proxy. */
  noTls?: boolean;
  /** Called when the agent cannot go on (its nats-server died); the caller stops it and exits non-zero. */
  onFatal?: (error: Error) => void;
  /** Leaf: how the hub's certificate is trusted on first use. */
  trust?: TrustOptions;
  metrics?: string;
  allowMassDelete?: boolean;
  /** Hub: a replica idle this long is unloaded from memory (default REPLICA_IDLE_UNLOAD_MS, agent/replica.ts). */
  replicaIdleUnloadMs?: number;
  /** Hub in a cluster: replicas per vault (default DEFAULT_REPLICAS, agent/hub/placement.ts). */
  replicas?: number;
  /** Hub in a cluster: how long a replica placed elsewhere stays (default REPLICA_HANDOVER_MS). */
  replicaHandoverMs?: number;
  /** What runs beside the vaults (notify, a bridge), started in this order once the vaults run. */
  parts?: AgentPart[];
  log: Log;
}

export interface AgentStatus {
  role: NatsRole | "attached";
  natsUrl: string;
  connected: boolean;
  ports?: Record<string, number | undefined>;
  vaults: { id: string; root?: string; peers: number; converged: number; replica?: ReplicaMemory }[];
  /** Hub in a cluster: the hubs it hears (this one included) and the replicas each vault gets. */
  cluster?: { self: string; liveHubs: string[]; replicasPerVault: number };
  /** The whole process, as `process.memoryUsage()` reads it now (per replica: `vaults[].replica`). */
  memory: { rssBytes: number; heapUsedBytes: number };
  startedAt: number;
}

const withDefault = (value: string | undefined, fallback: string) => value ?? fallback;

export class Agent {
  readonly #cfg: AgentConfig;
  readonly #home: string;
  #identity: DeviceKey | undefined;
  #server: NatsServerSupervisor | undefined;
  #hubState: HubState | undefined;
  #authority: HubAuthority | undefined;
  #placement: HubPlacement | undefined;
  #peerRoutes: PeerRoutes | undefined;
  #hubRoutes: HubRouteExplainer | undefined;
  #localCredentials: LocalCredentials | undefined;
  #nc: NatsConnection | undefined;
  #host: VaultHost | undefined;
  readonly #parts: AgentPart[];
  #controls: Server[] = [];
  #metricsServer: { server: import("node:http").Server; port: number } | undefined;
  #connected = false;
  #stopped = false;
  readonly #websocketHints = new Set<WebsocketMismatch>();
  readonly metrics = new Metrics();
  readonly startedAt = Date.now();

  constructor(config: AgentConfig) {
    this.#cfg = config;
    this.#home = config.homeDir ?? edgesyncHome();
    this.#parts = config.parts ?? [];
  }

  get natsUrl(): string {
    return this.#cfg.upstream ?? this.#server?.clientUrl ?? "";
  }

  /** Signs in to this agent's own leaf or peer server (the bridge beside it uses it); none on a hub or attached. */
  get localAuthenticator(): LocalCredentials["authenticator"] | undefined {
    return this.#localCredentials?.authenticator;
  }

  get host(): VaultHost | undefined {
    return this.#host;
  }

  async start(): Promise<void> {
    const log = this.#cfg.log;
    const { key: identity, created } = await loadDeviceKey({
      identityPath: this.#cfg.identityPath,
      agentSocket: this.#cfg.identityAgent,
      create: true,
    });
    this.#identity = identity;
    if (created)
      log.info({ fingerprint: identity.fingerprint, publicKey: identity.sshPublicLine() }, "created this device's key");
    const configs = await Promise.all(this.#cfg.roots.map((root) => loadVaultConfig(root)));
    if (this.#cfg.role === "leaf" && !this.#cfg.hubUrl && !this.#cfg.upstream) {
      throw new UsageError(
        "the leaf role needs the hub's address: pass --hub nats-leaf://HOST:7422 (or set [hub] leaf_url in the vault config)",
      );
    }
    const serverConfig = this.#cfg.upstream ? undefined : await this.#prepareRole(configs);
    if (serverConfig) {
      this.#server = new NatsServerSupervisor(serverConfig, {
        onLink: (event) => {
          log.info(
            { link: event.kind, remote: event.remote, id: event.id },
            event.state === "up" ? "link up" : "link down",
          );
          if (event.state === "up") this.#host?.linkUp();
        },
        onLine: (line) => {
          this.#peerRoutes?.explain(line);
          this.#hubRoutes?.explain(line);
          this.#explainWebsocketLink(line);
        },
        onUnexpectedExit: (exit, logTail) => {
          log.warn(
            { code: exit.code, signal: exit.signal, log: logTail.slice(-2000) },
            "nats-server exited on its own; stopping the agent so a supervisor can restart it",
          );
          this.#cfg.onFatal?.(new Error(`nats-server exited (code ${exit.code}, signal ${exit.signal})`));
        },
      });
      const ports = await this.#server.start();
      log.info(
        {
          role: this.#cfg.role,
          ports,
          binary: this.#server.binary?.path,
          version: this.#server.binary?.version,
          tls: this.#hubState ? this.#hubState.tls.fingerprint : undefined,
        },
        "nats-server started",
      );
    }
    const onStatus = (kind: string) => {
      this.#connected = kind === "connected";
    };
    if (this.#authority) {
      await this.#authority.start(this.natsUrl, onStatus);
      this.#nc = this.#authority.hubAccountConnection as NatsConnection;
      this.#connected = true;
    } else {
      // On a leaf, answers from the hub cross the link, whose user this device's key issued: they reach only its inboxes.
      const inboxPrefix = deviceInboxPrefix(this.#identity.nkeyPublic);
      const authenticator = this.#localCredentials?.authenticator;
      this.#nc = await connectNats({
        servers: this.natsUrl,
        name: `edgesync-${this.#cfg.role}-${hostname()}`,
        log,
        waitOnFirstConnect: true,
        onStatus,
        inboxPrefix,
        ...(authenticator ? { authenticator } : {}),
      });
    }
    const authority = this.#authority;
    this.#host = new VaultHost({
      nc: this.#nc,
      peerId: this.#identity.nkeyPublic,
      homeDir: this.#home,
      log,
      metrics: this.metrics,
      // In operator mode the hub hosts what was registered; without it, whatever is announced.
      replicateAll: this.#cfg.role === "hub" && !authority,
      hub: this.#cfg.role === "hub",
      registeredName: (vaultId) => this.#hubState?.vaults.get(vaultId)?.name,
      answerDiscovery: this.#cfg.role !== "leaf" && !authority,
      onReplicaReleased: authority ? (vaultId) => authority.releaseVaultConnection(vaultId) : undefined,
      allowMassDelete: this.#cfg.allowMassDelete,
      leafUrl: (host) => this.#leafUrl(host),
      replicaIdleUnloadMs: this.#cfg.replicaIdleUnloadMs,
      ...(authority
        ? {
            connectionFor: (vaultId: string) => authority.vaultConnection(vaultId),
            onVaultChange: (vaultId: string, engine: SyncEngine) => {
              if (!isReady(engine.doc)) return;
              const entry = readEntry(engine.doc, AUTHORIZED_KEYS);
              // Not text (a binary blob): never read as "no keys", which would cut every device off.
              if (entry?.bytes === undefined && entry !== undefined)
                return log.warn({ vault: vaultId }, "authorized_keys is not text; keeping the keys in force");
              void authority
                .applyAuthorizedKeys(vaultId, entry && new TextDecoder().decode(entry.bytes), {
                  heads: A.getHeads(engine.doc),
                  hasHeads: (heads) => A.hasHeads(engine.doc, heads),
                })
                .catch((error: unknown) =>
                  log.warn({ vault: vaultId, error: String(error) }, "cannot apply authorized_keys"),
                );
            },
          }
        : this.#peerRoutes
          ? {
              onVaultChange: (vaultId: string, engine: SyncEngine) => this.#applyPeerKeys(vaultId, engine),
            }
          : {}),
    });
    await this.#host.start();
    if (authority && this.#hubState) {
      for (const config of configs) await authority.hostLocal(config.vault.id, config.vault.name);
      this.#placement = this.#server?.config.cluster
        ? this.#hubPlacement(authority, this.#hubState, configs)
        : undefined;
      const placement = this.#placement;
      if (placement) void authority.placementReady().then(() => placement.start());
      else
        for (const id of this.#hubState.vaults.keys())
          if (!configs.some((c) => c.vault.id === id)) this.#host.addReplica(id);
    }
    for (const [i, root] of this.#cfg.roots.entries()) {
      const vault = await this.#host.addFolder(root, `edgesync agent (${this.#cfg.role})`);
      this.#controls.push(await serveControl(vault, { agentInfo: async () => this.status() }));
      log.info({ vault: configs[i].vault.id, name: configs[i].vault.name }, "syncing");
    }
    const context = this.#partContext(configs);
    for (const part of this.#parts) await part.start(context);
    if (this.#cfg.role === "leaf" && !this.#cfg.upstream) this.#registerWithHub(configs);
    this.#registerMetrics();
    if (this.#cfg.metrics) {
      const { host, port } = parseListenAddress(this.#cfg.metrics, "--metrics");
      this.#metricsServer = await serveMetrics(this.metrics, host, port, () => ({
        ok: this.#connected,
        detail: this.status(),
      }));
      log.info({ port: this.#metricsServer.port }, "metrics on /metrics, health on /healthz");
    }
    await this.#writeAgentJson(this.#identity);
  }

  /** A hub in a cluster hosts the vaults placed on it (hub-placement.ts), not every vault it knows. */
  #hubPlacement(authority: HubAuthority, state: HubState, configs: VaultConfig[]): HubPlacement {
    const host = this.#host as VaultHost;
    return new HubPlacement({
      selfId: (this.#identity as DeviceKey).nkeyPublic,
      replicas: this.#cfg.replicas ?? DEFAULT_REPLICAS,
      vaultIds: () => state.vaults.keys(),
      liveHubs: () => authority.liveHubs(),
      pinned: (vaultId) => configs.some((c) => c.vault.id === vaultId),
      hosted: () => host.replicas.keys(),
      host: (vaultId) => host.addReplica(vaultId),
      release: (vaultId) => host.removeReplica(vaultId),
      handoverMs: this.#cfg.replicaHandoverMs,
      log: this.#cfg.log,
    });
  }

  /** Atomic: the CLI and tests read it while the agent starts. The parts add their fields (notify: inboxUrl, notifySets). */
  async #writeAgentJson(identity: DeviceKey): Promise<void> {
    const partInfo = await Promise.all(this.#parts.map((part) => part.info?.() ?? {}));
    const info = {
      pid: process.pid,
      natsPid: this.#server?.pid,
      natsUrl: this.natsUrl,
      natsCredentials: this.#localCredentials?.path,
      ports: this.#server?.ports,
      role: this.#cfg.role,
      roots: this.#cfg.roots,
      ...Object.assign({}, ...partInfo),
      inboxPrefix: deviceInboxPrefix(identity.nkeyPublic),
      tlsFingerprint: this.#hubState && !this.#cfg.noTls ? this.#hubState.tls.fingerprint : undefined,
    };
    await mkdir(this.#home, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.#home, "agent.json"), JSON.stringify(info, null, 2), { mode: 0o600 });
  }

  #partContext(configs: VaultConfig[]): AgentPartContext {
    const authority = this.#authority;
    return {
      role: this.#cfg.role,
      nc: this.#nc as NatsConnection,
      natsUrl: this.natsUrl,
      localAuthenticator: this.localAuthenticator,
      device: this.#identity as DeviceKey,
      homeDir: this.#home,
      serverDir: this.#cfg.serverDir,
      folderVaultIds: configs.map((c) => c.vault.id),
      hostedVaultIds: () => [...(this.#hubState?.vaults.keys() ?? [])],
      engines: () => this.#host?.engines() ?? [],
      engineFor: async (vaultId) => this.#host?.engineFor(vaultId),
      catalogued: authority ? (vaultId) => authority.catalogued(vaultId) : undefined,
      setHubAccountKeys: authority ? (set, keys) => authority.setNotifyKeys(set, keys) : undefined,
      log: this.#cfg.log,
    };
  }

  #leafUrl(host: string): string | undefined {
    return this.#server?.ports.leafnode
      ? `nats-leaf://${host || "127.0.0.1"}:${this.#server.ports.leafnode}`
      : undefined;
  }

  /** Hub: operator mode and TLS; leaf: the pinned, authenticated link; leaf and peer: the local user. Returns the server config. */
  async #prepareRole(configs: VaultConfig[]): Promise<NatsServerConfig> {
    const config = this.#serverConfig();
    const identity = this.#identity as DeviceKey;
    if (this.#cfg.role !== "hub") {
      this.#localCredentials = await createLocalCredentials(this.#home, this.#cfg.role);
      config.clientNkeys = [this.#localCredentials.publicKey];
    }
    if (this.#cfg.role === "hub") {
      const dir = this.#cfg.serverDir ?? join(this.#home, HUB_SERVER_DIR);
      this.#hubState = await loadOrCreateHubState(dir, {
        hostnames: this.#cfg.tlsHostnames,
        extraAdmins: this.#cfg.authorizedKeys,
      });
      if (this.#hubState.tlsCreated)
        this.#cfg.log.info(
          { fingerprint: this.#hubState.tls.fingerprint, dir },
          "created the hub's TLS certificate; clients pin this fingerprint",
        );
      const cluster = config.cluster ? await loadOrCreateClusterKey(dir) : undefined;
      this.#authority = new HubAuthority({
        state: this.#hubState,
        hub: identity,
        ...(cluster
          ? { clusterSigner: clusterSigningKey(cluster.key), onLiveHubs: () => this.#placement?.update() }
          : {}),
        log: this.#cfg.log,
        leafUrl: (host) => this.#leafUrl(host),
        onVaultAdded: (vaultId) => {
          if (this.#placement) this.#placement.update();
          else if (!this.#server?.config.cluster) this.#host?.addReplica(vaultId);
          for (const part of this.#parts) part.vaultAdded?.(vaultId);
        },
        noTls: this.#cfg.noTls,
      });
      if (!this.#cfg.noTls) config.tls = { certFile: this.#hubState.tls.certFile, keyFile: this.#hubState.tls.keyFile };
      config.authConfig = await this.#authority.serverAuthConfig();
      if (config.cluster && cluster) {
        config.cluster.tls = await prepareHubRoutes(cluster, config.stateDir, this.#cfg.tlsHostnames, this.#cfg.log);
        this.#hubRoutes = new HubRouteExplainer(this.#cfg.log);
      }
    } else if (this.#cfg.role === "leaf") {
      config.remotes = await prepareLeafRemotes({
        hubUrls: [this.#cfg.hubUrl as string, ...(this.#cfg.moreHubUrls ?? [])],
        device: identity,
        vaultIds: configs.map((c) => c.vault.id),
        stateDir: config.stateDir,
        noTls: this.#cfg.noTls,
        trust: this.#cfg.trust ?? {},
      });
    } else if (config.cluster) {
      const routes = new PeerRoutes({
        stateDir: config.stateDir,
        device: identity,
        vaults: configs.map((c, i) => ({ id: c.vault.id, root: this.#cfg.roots[i] })),
        hostnames: this.#cfg.tlsHostnames,
        reload: (tls) => this.#reloadRoutes(tls),
        log: this.#cfg.log,
      });
      config.cluster.tls = await routes.prepare();
      this.#peerRoutes = routes;
    }
    return config;
  }

  /** Leaf over ws://: one line, once per kind, when the link cannot work as dialled (websocket-hints.ts). */
  #explainWebsocketLink(line: string): void {
    const hubUrl = this.#cfg.role === "leaf" ? this.#cfg.hubUrl : undefined;
    const kind = hubUrl && websocketMismatch(line, hubUrl);
    if (!hubUrl || !kind || this.#websocketHints.has(kind)) return;
    this.#websocketHints.add(kind);
    this.#cfg.log.warn({ hub: hubUrl }, explainWebsocketMismatch(kind, hubUrl));
  }

  /** Peer: the vault's authorized_keys decides which servers may route to ours (peer-routes.ts). */
  #applyPeerKeys(vaultId: string, engine: SyncEngine): void {
    if (!isReady(engine.doc)) return;
    const entry = readEntry(engine.doc, AUTHORIZED_KEYS);
    // Not text (a binary blob): never read as "no keys", which would cut every route.
    if (entry?.bytes === undefined && entry !== undefined)
      return this.#cfg.log.warn({ vault: vaultId }, "authorized_keys is not text; keeping the route keys in force");
    const text = entry?.bytes && new TextDecoder().decode(entry.bytes);
    void this.#peerRoutes
      ?.update(vaultId, text)
      .catch((error: unknown) =>
        this.#cfg.log.warn({ vault: vaultId, error: String(error) }, "cannot apply authorized_keys to the peer routes"),
      );
  }

  #registerWithHub(configs: VaultConfig[]): void {
    const vaults = configs.map((c) => ({
      id: c.vault.id,
      name: c.vault.name,
      authorizedKeys: () => {
        const engine = this.#host?.folders.get(c.vault.id)?.engine;
        const entry = engine && readEntry(engine.doc, AUTHORIZED_KEYS);
        return entry ? new TextDecoder().decode(entry.bytes) : "";
      },
    }));
    registerVaults(this.#nc as NatsConnection, this.#identity as DeviceKey, vaults, this.#cfg.log, () => this.#stopped);
  }

  async #reloadRoutes(tls: RouteTls): Promise<void> {
    const server = this.#server;
    const cluster = server?.config.cluster;
    if (!server || !cluster) return;
    await server.reload({ ...server.config, cluster: { ...cluster, tls } });
  }

  #serverConfig(): NatsServerConfig {
    const role = this.#cfg.role;
    const listen = (value: string, flag: string) => {
      const address = parseListenAddress(value, flag);
      // Node reads port 0 as "any free port", nats-server as "my default port": say which to use.
      if (address.port === 0)
        throw new UsageError(
          `${flag} ${JSON.stringify(value)}: nats-server takes port 0 as its default port, not a free one; give a port, or -1 for any free port`,
        );
      return address;
    };
    const config: NatsServerConfig = {
      role,
      stateDir: join(this.#home, "nats", role),
      serverName: `edgesync-${role}-${hostname()}-${process.pid}`,
      client: listen(
        withDefault(this.#cfg.natsListen, role === "hub" ? "0.0.0.0:4222" : "127.0.0.1:-1"),
        "--nats-listen",
      ),
    };
    if (role === "hub") {
      config.leafnode = listen(withDefault(this.#cfg.leafListen, "0.0.0.0:7422"), "--leaf-listen");
      if (this.#cfg.clusterListen !== undefined || (this.#cfg.peers ?? []).length > 0) {
        config.cluster = {
          ...listen(withDefault(this.#cfg.clusterListen, "127.0.0.1:6222"), "--cluster-listen"),
          routes: this.#cfg.peers ?? [],
        };
        config.clusterName = HUB_CLUSTER_NAME;
      }
      if (this.#cfg.leafWsListen)
        config.leafnodeWebsocket = {
          ...listen(this.#cfg.leafWsListen, "--leaf-ws-listen"),
          noTls: this.#cfg.leafWsNoTls === true,
        };
      else if (this.#cfg.leafWsNoTls)
        throw new UsageError("--leaf-ws-no-tls needs --leaf-ws-listen HOST:PORT, the listener the proxy forwards to");
    } else if (role === "leaf") {
      config.remotes = [{ url: this.#cfg.hubUrl as string, moreUrls: this.#cfg.moreHubUrls }];
    } else {
      // Loopback unless asked: other machines reach a peer only when the user opens it to them.
      config.cluster = {
        ...listen(withDefault(this.#cfg.clusterListen, "127.0.0.1:6222"), "--cluster-listen"),
        routes: this.#cfg.peers ?? [],
      };
    }
    // Check the user's listeners and URLs now, before the role writes keys, certificates and logs:
    // a bad flag is then the only line printed. The supervisor checks the finished config again.
    resolveServerConfig(config);
    return config;
  }

  #registerMetrics(): void {
    const engines = () => this.#host?.engines() ?? [];
    const sum = (pick: (s: SyncEngine["stats"]) => number) => engines().reduce((n, e) => n + pick(e.stats), 0);
    this.metrics.gauge("edgesync_peers", "Peers heard from, over all vaults", () => sum((s) => s.peers));
    this.metrics.gauge("edgesync_bytes_in_total", "Sync bytes received", () => sum((s) => s.bytesIn));
    this.metrics.gauge("edgesync_bytes_out_total", "Sync bytes sent", () => sum((s) => s.bytesOut));
    this.metrics.gauge("edgesync_messages_in_total", "Sync messages received", () => sum((s) => s.messagesIn));
    this.metrics.gauge("edgesync_messages_out_total", "Sync messages sent", () => sum((s) => s.messagesOut));
    this.metrics.gauge("edgesync_conflicts_total", "Concurrent edits resolved", () => sum((s) => s.merges));
    this.metrics.gauge("edgesync_dropped_messages_total", "Malformed or unauthorised messages dropped", () =>
      sum((s) => s.dropped),
    );
    this.metrics.gauge(
      "edgesync_vaults",
      "Vaults hosted (folders and replicas, loaded or not)",
      () => (this.#host?.folders.size ?? 0) + (this.#host?.replicas.size ?? 0),
    );
    registerReplicaMetrics(this.metrics, () => this.#host?.replicaMemory() ?? []);
    this.metrics.gauge("edgesync_nats_connected", "1 when connected to NATS", () => (this.#connected ? 1 : 0));
  }

  status(): AgentStatus {
    const vaults: AgentStatus["vaults"] = [];
    for (const [id, vault] of this.#host?.folders ?? []) {
      const info = vault.engine.peerInfo();
      vaults.push({ id, root: vault.root, peers: info.length, converged: info.filter((p) => p.converged).length });
    }
    for (const [id, replica] of this.#host?.replicas ?? []) {
      // Unloaded, a replica keeps no peers: the devices it served are counted again once it loads.
      const info = replica.engine?.peerInfo() ?? [];
      const memory = replica.memory();
      vaults.push({ id, peers: info.length, converged: info.filter((p) => p.converged).length, replica: memory });
    }
    const usage = process.memoryUsage();
    return {
      role: this.#cfg.upstream ? "attached" : this.#cfg.role,
      natsUrl: this.natsUrl,
      connected: this.#connected,
      ports: this.#server ? { ...this.#server.ports } : undefined,
      vaults,
      ...(this.#placement && this.#authority
        ? {
            cluster: {
              self: (this.#identity as DeviceKey).nkeyPublic,
              liveHubs: this.#authority.liveHubs(),
              replicasPerVault: this.#cfg.replicas ?? DEFAULT_REPLICAS,
            },
          }
        : {}),
      memory: { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed },
      startedAt: this.startedAt,
    };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#metricsServer?.server.close();
    for (const control of this.#controls) control.close();
    for (const part of [...this.#parts].reverse()) {
      // One part failing to stop must not keep the vaults and the server running: logged, and on.
      await part
        .stop()
        .catch((error: unknown) =>
          this.#cfg.log.warn({ part: part.name, error: String(error) }, "a part did not stop cleanly"),
        );
    }
    this.#placement?.stop();
    await this.#host?.stop();
    await drainOrClose(this.#nc);
    await this.#authority?.stop();
    await this.#server?.stop();
    if (this.#localCredentials) await removeLocalCredentials(this.#localCredentials);
    await unlink(join(this.#home, "agent.json")).catch(() => {});
  }
}
