/**
 * The hub's authority over NATS (operator mode, full resolver): it writes the accounts into the
 * server config, keeps them current with `$SYS.REQ.CLAIMS.UPDATE` when a vault's synced
 * authorized_keys changes, and answers the signed control requests on the hub account:
 * discovery (which of my vaults may this key clone?) and registration of a new vault by an admin.
 *
 * Every push goes through one queue: account JWTs carry their issue time in seconds, and two
 * updates racing each other must reach the server in the order they were decided.
 */
import type { NatsConnection, Msg, Subscription } from "@nats-io/transport-node";
import type { SigningKey } from "@nats-io/jwt";
import { jwtAuthenticator } from "@nats-io/transport-node";
import { Prefix } from "@nats-io/nkeys";
import { join } from "node:path";
import { createOperatorSetup, issueAccountUser, operatorModeConfig, pushAccountJwt } from "../auth/nats-jwt.js";
import {
  deviceInboxPrefix,
  encodeHubAccount,
  encodeVaultAccountJwt,
  HUB_ACCOUNT_PUBLIC,
  HUB_DOOR_SUBJECT,
  HUB_REGISTER_SUBJECT,
  pairingDoorKey,
  vaultAccountPublic,
  type HubAccountKey,
} from "../auth/accounts.js";
import { issueDoorUser, type DoorUser } from "../auth/pairing-door.js";
import { isSetId } from "../nats/notify-subjects.js";
import { accountAuthenticator } from "../auth/account-user.js";
import {
  AUTHORIZED_KEYS_BYTES_MAX,
  effectiveKeys,
  parseAuthorizedKeys,
  type AuthorizedKey,
} from "../auth/authorized-keys.js";
import { verifyRequest, SignedRequestError } from "../auth/signed-request.js";
import { tlsOptionsForPinned } from "../auth/pins.js";
import { equalBytes, sshFingerprint } from "../auth/openssh-format.js";
import { nkeyPublic, type DeviceKey } from "../auth/identity.js";
import { connectNats, drainOrClose } from "../nats/connect.js";
import { HUB_VAULTS_SUBJECT, isVaultId, vaultPeerSubject } from "../nats/subjects.js";
import { saveVaults, type HostedVault, type HubState } from "./hub-state.js";
import { PairingDoor } from "./pairing-door.js";
import { ClusterCatalogue } from "./cluster-catalogue.js";
import { nextUpdatedAtMs } from "./catalogue-entry.js";
import {
  VAULT_NAME_CHARS_MAX,
  HUB_SERVER_HEADER,
  type CatalogueReply,
  type DoorRequestBody,
  type HubReply,
  type RegisterBody,
} from "./hub-protocol.js";
import type { Log } from "../sync/ports.js";

export interface HubAuthorityConfig {
  state: HubState;
  /** The hub's own device key: its replicas' peer id and reply inboxes. */
  hub: DeviceKey;
  /**
   * In a cluster, the key every hub signs its own users with (hub-routes.ts clusterSigningKey): it,
   * not the device key, is then the hub's signing key in every account, the same on every hub.
   */
  clusterSigner?: DeviceKey;
  /** In a cluster: the live hubs changed (this hub included), for vault placement. */
  onLiveHubs?: (hubIds: string[]) => void;
  log: Log;
  /** The hub's leafnode URL as a client that reached us at `host` should dial it. */
  leafUrl: (host: string) => string | undefined;
  /** A vault was registered here, or learned from another hub of the cluster (host it if placed here). */
  onVaultAdded: (vaultId: string) => void;
}

const encoder = new TextEncoder();

/**
 * A signed request is answered only on the signer's own inboxes, which only connections issued by
 * that key (or a leaf link it issued) may hear: a request captured and replayed from any other
 * connection gets its answer where the replayer cannot read it, or a refusal.
 */
function checkReplyBinding(reply: string | undefined, signer: Uint8Array): void {
  const prefix = `${deviceInboxPrefix(nkeyPublic(signer, Prefix.User))}.`;
  if (!reply?.startsWith(prefix)) {
    throw new SignedRequestError(
      `the request's reply subject is not an inbox of the key that signed it (${sshFingerprint(signer)}): update edgesync on this device (it must ask with inbox prefix ${prefix.slice(0, -1)})`,
    );
  }
}
/** The hub's own notify set (its admins'); agent/nats/notify-subjects.ts DEFAULT_SET. */
export const HUB_NOTIFY_SET = "default";
const keyId = (k: { publicKey: Uint8Array }) => Buffer.from(k.publicKey).toString("hex");

/**
 * How long a replica whose document lacks the heads another replica applied keys at waits before
 * applying its own text anyway: far longer than replicas take to sync, short enough that a vault
 * whose history was rewritten (and whose old heads never arrive) does not keep stale keys.
 */
const HEADS_GUARD_MS = 60_000;

/** What applyAuthorizedKeys reads of the replica's document: where it stands and what it holds. */
export interface EnforcedDocView {
  heads: string[];
  hasHeads: (heads: string[]) => boolean;
}

export class HubAuthority {
  readonly #cfg: HubAuthorityConfig;
  readonly #tls: ReturnType<typeof tlsOptionsForPinned> | undefined;
  readonly #warnedDeleted = new Set<string>();
  readonly #relays = new Map<string, { nc: NatsConnection; subs: Map<string, Subscription> }>();
  #serverUrl = "";
  #system: NatsConnection | undefined;
  #hubAccount: NatsConnection | undefined;
  readonly #vaultConnections = new Map<string, NatsConnection>();
  #cluster: ClusterCatalogue | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #door: PairingDoor | undefined;
  /** Notify-only devices (paired phones, browsers, CLIs) per notify set: hub-account signing keys with notify's template. */
  readonly #notifyKeys = new Map<string, SigningKey[]>();

  constructor(config: HubAuthorityConfig & { noTls?: boolean }) {
    this.#cfg = config;
    this.#tls = config.noTls ? undefined : tlsOptionsForPinned(config.state.tls.certPem, "this hub");
  }

  get #state(): HubState {
    return this.#cfg.state;
  }

  /** The key that signs this hub's own connections and is listed in every account as the hub's. */
  get #signer(): DeviceKey {
    return this.#cfg.clusterSigner ?? this.#cfg.hub;
  }

  /** The keys a vault's account admits: its authorized keys (never none) plus the hub. */
  vaultKeys(vaultId: string): AuthorizedKey[] {
    const text = this.#state.vaults.get(vaultId)?.authorizedKeys;
    return [...effectiveKeys(parseAuthorizedKeys(text), this.#signer).keys, this.#hubKey()];
  }

  #hubKey(): AuthorizedKey & { cluster: boolean } {
    const hub = this.#signer;
    return {
      publicKey: hub.publicKey,
      type: "ssh-ed25519",
      comment: hub.comment,
      line: 0,
      fingerprint: hub.fingerprint,
      nkeyPublic: hub.nkeyPublic,
      cluster: this.#cfg.clusterSigner !== undefined,
    };
  }

  /** Admins speak the hub's own notify set; each vault's members speak that vault's set. */
  #hubAccountKeys(): HubAccountKey[] {
    const admins = this.#state.admins.map((k) => ({ publicKey: k.publicKey, notifySets: [HUB_NOTIFY_SET] }));
    return [
      ...admins,
      ...[...this.#state.vaults.keys()].flatMap((id) =>
        this.vaultKeys(id).map((k) => ({ publicKey: k.publicKey, notifySets: [id] })),
      ),
    ];
  }

  /** The operator-mode block for the server config, with every known account preloaded. */
  async serverAuthConfig(): Promise<string> {
    const { operator, system } = this.#state;
    const setup = await createOperatorSetup("edgesync", { operator, system });
    const preload: Record<string, string> = {
      [system.getPublicKey()]: setup.systemAccountJwt,
      [HUB_ACCOUNT_PUBLIC]: await this.#hubAccountJwt(),
    };
    for (const id of this.#state.vaults.keys()) preload[vaultAccountPublic(id)] = await this.#vaultAccountJwt(id);
    return operatorModeConfig({
      operatorJwt: setup.operatorJwt,
      systemAccount: system.getPublicKey(),
      dir: join(this.#state.dir, "jwt"),
      preload,
    });
  }

  #connect(
    name: string,
    authenticator: Parameters<typeof connectNats>[0]["authenticator"],
    onStatus?: (kind: string) => void,
  ): Promise<NatsConnection> {
    const inboxPrefix = deviceInboxPrefix(this.#cfg.hub.nkeyPublic);
    return connectNats({
      servers: this.#serverUrl,
      name,
      log: this.#cfg.log,
      waitOnFirstConnect: true,
      tls: this.#tls,
      authenticator,
      onStatus,
      inboxPrefix,
    });
  }

  /** The hub's connection in the hub account (discovery, registration, notify). */
  get hubAccountConnection(): NatsConnection | undefined {
    return this.#hubAccount;
  }

  /** Connects to the hub's own server, brings every account up to date and answers requests. */
  async start(serverUrl: string, onStatus?: (kind: string) => void): Promise<void> {
    this.#serverUrl = serverUrl;
    const sys = await issueAccountUser(this.#state.system, "edgesync-hub-system");
    this.#system = await this.#connect("edgesync-hub-system", jwtAuthenticator(sys.jwt, sys.seed));
    // The full resolver keeps JWTs from an earlier run and ignores preload edits: push the current
    // ones. In a cluster, only once caught up with the others: this hub's vaults.json may be older
    // than the cluster's (it was down when a key was removed), and a push now would carry the
    // removed key back onto every hub, since the resolver keeps the most recently issued JWT.
    if (this.#cfg.clusterSigner) this.#startCatalogue(this.#system);
    else await this.#pushAll();
    this.#hubAccount = await this.#connect(
      "edgesync-hub",
      await accountAuthenticator(this.#signer, HUB_ACCOUNT_PUBLIC, "edgesync hub"),
      onStatus,
    );
    // A catalogue names the answering hub (its key, pinned by the client, and its leafnode URL), so
    // in a cluster the hub on the server the request entered by answers it: every hub hears it and
    // the others stay quiet. A request from an older client names no server; one hub of the queue
    // group answers that, as before.
    const ownServer = this.#hubAccount.info?.server_id;
    const answerCatalogue = (msg: Msg) => this.#answer(msg, "catalogue", (key) => this.#catalogue(key, msg));
    this.#hubAccount.subscribe(HUB_VAULTS_SUBJECT, {
      callback: (error, msg) => {
        if (!error && ownServer && msg.headers?.get(HUB_SERVER_HEADER) === ownServer) answerCatalogue(msg);
      },
    });
    this.#hubAccount.subscribe(HUB_VAULTS_SUBJECT, {
      queue: "edgesync-hub",
      callback: (error, msg) => {
        if (!error && !msg.headers?.get(HUB_SERVER_HEADER)) answerCatalogue(msg);
      },
    });
    this.#hubAccount.subscribe(HUB_REGISTER_SUBJECT, {
      queue: "edgesync-hub",
      callback: (error, msg) => {
        if (!error) this.#answer(msg, "register", (key, body) => this.#register(key, body as RegisterBody));
      },
    });
    this.#hubAccount.subscribe(HUB_DOOR_SUBJECT, {
      queue: "edgesync-hub",
      callback: (error, msg) => {
        if (!error) this.#answer(msg, "door", (key, body) => this.#doorUser(key, body as DoorRequestBody));
      },
    });
    this.#door = new PairingDoor({
      hubAccount: this.#hubAccount,
      system: this.#system,
      log: this.#cfg.log,
      doorKey: pairingDoorKey(this.#state.operator).getPublicKey(),
    });
    this.#door.start();
    await Promise.all([this.#system.flush(), this.#hubAccount.flush()]);
  }

  #startCatalogue(system: NatsConnection): void {
    this.#cluster = new ClusterCatalogue({
      system,
      hubId: this.#cfg.hub.nkeyPublic,
      vaults: () => this.#state.vaults,
      learn: (vaultId, entry) => this.#learn(vaultId, entry),
      onLiveHubs: (hubIds) => this.#cfg.onLiveHubs?.(hubIds),
      log: this.#cfg.log,
    });
    this.#cluster.start();
    void this.#cluster.settled.then(() =>
      this.#pushAll().catch((error: unknown) =>
        this.#cfg.log.warn({ error: String(error) }, "cannot push the accounts after catching up with the cluster"),
      ),
    );
  }

  /** When placement may be decided: at once alone; in a cluster, once caught up and every hub heard. */
  placementReady(): Promise<void> {
    return this.#cluster?.placementReady() ?? Promise.resolve();
  }

  /** In a cluster, this hub and every hub it hears; alone, just this one. */
  liveHubs(): string[] {
    return this.#cluster?.liveHubs() ?? [this.#cfg.hub.nkeyPublic];
  }

  /**
   * A newer entry from another hub of the cluster (a registration there, keys applied by a replica
   * there): enforced here too (pushed once this hub has caught up, #push).
   */
  async #learn(vaultId: string, entry: HostedVault): Promise<void> {
    const added = await this.#enqueue(async () => {
      const added = !this.#state.vaults.has(vaultId);
      this.#state.vaults.set(vaultId, entry);
      this.#cluster?.changed();
      this.#refreshRelay(vaultId);
      await saveVaults(this.#state);
      await this.#push(await this.#vaultAccountJwt(vaultId));
      await this.#push(await this.#hubAccountJwt());
      return added;
    });
    this.#cfg.log.info(
      { vault: vaultId, name: entry.name },
      added
        ? "vault registered on another hub of the cluster"
        : "authorized_keys applied on another hub of the cluster",
    );
    if (added) this.#cfg.onVaultAdded(vaultId);
  }

  /** A connection of the hub itself inside a vault's account (for its replica). */
  async vaultConnection(vaultId: string): Promise<NatsConnection> {
    const nc = await this.#connect(
      `edgesync-hub-${vaultId}`,
      await accountAuthenticator(this.#signer, vaultAccountPublic(vaultId), "edgesync hub"),
    );
    const earlier = this.#vaultConnections.get(vaultId);
    if (earlier) void drainOrClose(earlier);
    this.#vaultConnections.set(vaultId, nc);
    this.#relays.set(vaultId, { nc, subs: new Map() });
    this.#refreshRelay(vaultId);
    return nc;
  }

  /** The vault's replica left this hub (placed elsewhere): its connection and relay interest go. */
  async releaseVaultConnection(vaultId: string): Promise<void> {
    const nc = this.#vaultConnections.get(vaultId);
    this.#vaultConnections.delete(vaultId);
    this.#relays.delete(vaultId);
    if (nc) await drainOrClose(nc);
  }

  /**
   * Interest in `p.<hub>.<member>` for every member, with no handler (the replica's transport
   * receives the messages). Across a leafnode link the hub forwards only interest that the leaf's
   * user may publish into, and (nats-server 2.9.10) the replica's wildcard `p.<hub>.*` is not
   * matched against a member's `p.*.<member>` allowance, so without these literal subjects a
   * member's messages to the hub would never leave its leaf.
   */
  #refreshRelay(vaultId: string): void {
    const relay = this.#relays.get(vaultId);
    if (!relay) return;
    const wanted = new Set(this.vaultKeys(vaultId).map((k) => k.nkeyPublic));
    for (const [member, sub] of relay.subs) {
      if (wanted.has(member)) continue;
      sub.unsubscribe();
      relay.subs.delete(member);
    }
    for (const member of wanted) {
      if (!relay.subs.has(member))
        relay.subs.set(
          member,
          relay.nc.subscribe(vaultPeerSubject(vaultId, this.#cfg.hub.nkeyPublic, member), { callback: () => {} }),
        );
    }
  }

  /** The hub account as it stands now: the hub, admins, every member of every vault, notify devices. */
  #hubAccountJwt(): Promise<string> {
    return encodeHubAccount(
      this.#state.operator,
      this.#hubKey(),
      this.#hubAccountKeys(),
      [...this.#notifyKeys.values()].flat(),
    );
  }

  /** A vault's account as it stands now: its authorized keys plus the hub's. */
  #vaultAccountJwt(vaultId: string): Promise<string> {
    return encodeVaultAccountJwt(this.#state.operator, vaultId, this.#hubKey(), this.vaultKeys(vaultId));
  }

  /** The hub account and every vault account, signed now and pushed in order. */
  #pushAll(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#push(await this.#hubAccountJwt());
      for (const id of this.#state.vaults.keys()) await this.#push(await this.#vaultAccountJwt(id));
    });
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #push(jwt: string): Promise<void> {
    if (!this.#system) return; // before start: the preload carries it
    // Before catching up with the cluster, this hub's state may be older than the others': the
    // push once caught up (#startCatalogue) carries every account as it stands then.
    if (this.#cluster && !this.#cluster.isSettled) return;
    await pushAccountJwt(this.#system, jwt, this.#state.operator.getPublicKey());
  }

  /**
   * A vault's synced authorized_keys changed (or arrived). A deleted file changes nothing — an
   * accidental delete must not lock anyone out; an emptied one leaves the hub's key, said in the log.
   */
  applyAuthorizedKeys(vaultId: string, text: string | undefined, doc?: EnforcedDocView): Promise<void> {
    return this.#enqueue(async () => {
      const hosted = this.#state.vaults.get(vaultId);
      if (!hosted || text === hosted.authorizedKeys) return;
      // Keys another replica applied from a later document than ours: ours is behind, and enforcing
      // its older text would re-admit a removed key until it catches up (it applies again then).
      if (doc && hosted.heads && !doc.hasHeads(hosted.heads) && !this.#enforcedLongAgo(hosted)) return;
      if (text === undefined) {
        if (this.#warnedDeleted.has(vaultId)) return;
        this.#warnedDeleted.add(vaultId);
        this.#cfg.log.warn(
          { vault: vaultId },
          "authorized_keys was deleted; keeping the keys last enforced (restore the file to change who has access)",
        );
        return;
      }
      this.#warnedDeleted.delete(vaultId);
      const before = this.vaultKeys(vaultId);
      hosted.authorizedKeys = text;
      hosted.updatedAtMs = nextUpdatedAtMs(Date.now(), hosted);
      if (doc) hosted.heads = doc.heads;
      else delete hosted.heads;
      const parsed = parseAuthorizedKeys(text);
      const effective = effectiveKeys(parsed, this.#signer);
      if (effective.reason) this.#cfg.log.warn({ vault: vaultId }, effective.reason);
      for (const problem of parsed.problems)
        this.#cfg.log.warn(
          { vault: vaultId, line: problem.line, kind: problem.kind },
          `authorized_keys: ${problem.message}`,
        );
      const after = this.vaultKeys(vaultId);
      this.#refreshRelay(vaultId);
      await saveVaults(this.#state);
      await this.#push(await this.#vaultAccountJwt(vaultId));
      await this.#push(await this.#hubAccountJwt());
      this.#cluster?.changed();
      const ids = (keys: AuthorizedKey[]) => new Map(keys.map((k) => [keyId(k), k]));
      const [was, now] = [ids(before), ids(after)];
      for (const [id, key] of was)
        if (!now.has(id))
          this.#cfg.log.info({ vault: vaultId, fingerprint: key.fingerprint, comment: key.comment }, "peer removed");
      for (const [id, key] of now)
        if (!was.has(id))
          this.#cfg.log.info({ vault: vaultId, fingerprint: key.fingerprint, comment: key.comment }, "peer added");
    });
  }

  /**
   * The notify-only devices of `set` changed (a pairing or unpairing, here or arriving by sync): the
   * hub account is re-issued with exactly these extra signing keys for the set, so an unpaired
   * device's connections drop.
   */
  setNotifyKeys(set: string, keys: SigningKey[]): Promise<void> {
    return this.#enqueue(async () => {
      const before = new Set((this.#notifyKeys.get(set) ?? []).map((k) => k.key));
      this.#notifyKeys.set(set, keys);
      if (keys.length === before.size && keys.every((k) => before.has(k.key))) return;
      await this.#push(await this.#hubAccountJwt());
      this.#cfg.log.info({ set, notifyDevices: keys.length }, "notify devices applied to the hub account");
    });
  }

  /** A vault folder on the hub itself: hosted from the start (its keys follow from its document). */
  async hostLocal(vaultId: string, name: string): Promise<void> {
    if (this.#state.vaults.has(vaultId)) return;
    this.#state.vaults.set(vaultId, { name, authorizedKeys: "", registeredAtMs: Date.now() });
    this.#cluster?.changed();
    await this.#enqueue(async () => {
      await saveVaults(this.#state);
      // Before catching up, #push holds this back: another hub may know the vault with its members,
      // and an account admitting nobody would cut them off.
      await this.#push(await this.#vaultAccountJwt(vaultId));
    });
  }

  #answer(msg: Msg, op: string, handle: (key: Uint8Array, body: unknown) => Promise<unknown>): void {
    const reply = (value: HubReply<unknown>) => {
      if (msg.reply) msg.respond(encoder.encode(JSON.stringify(value)));
    };
    let verified: { publicKey: Uint8Array; body: unknown };
    try {
      verified = verifyRequest(msg.data, op);
      checkReplyBinding(msg.reply, verified.publicKey);
    } catch (error) {
      this.#cfg.log.warn({ op, error: String(error) }, "refused a hub request");
      return reply({ ok: false, error: error instanceof SignedRequestError ? error.message : "bad request" });
    }
    handle(verified.publicKey, verified.body).then(
      (value) => reply({ ok: true, value }),
      (error: unknown) => reply({ ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  }

  /** A vault of the catalogue (hosted here or on other hubs of the cluster) as the bridge needs it. */
  catalogued(vaultId: string): { name: string; isMember: (key: Uint8Array) => boolean } | undefined {
    const entry = this.#state.vaults.get(vaultId);
    return entry && { name: entry.name, isMember: (key) => this.#isMember(vaultId, key) };
  }

  #isMember(vaultId: string, key: Uint8Array): boolean {
    return this.vaultKeys(vaultId).some((k) => equalBytes(k.publicKey, key));
  }

  async #catalogue(key: Uint8Array, msg: Msg): Promise<CatalogueReply> {
    const vaults = [...this.#state.vaults]
      .filter(([id]) => this.#isMember(id, key))
      .map(([id, v]) => ({ id, name: v.name }));
    return {
      vaults,
      leafUrl: this.#cfg.leafUrl(msg.headers?.get("es-host") ?? ""),
      hubKey: this.#cfg.hub.sshPublicLine(),
    };
  }

  async #register(key: Uint8Array, body: RegisterBody): Promise<{ created: boolean }> {
    if (typeof body !== "object" || body === null || typeof body.vaultId !== "string" || !isVaultId(body.vaultId))
      throw new SignedRequestError("register: bad vault id");
    if (this.#state.vaults.has(body.vaultId)) {
      if (!this.#isMember(body.vaultId, key))
        throw new SignedRequestError(
          `vault ${body.vaultId} is on this hub and its authorized_keys does not list ${sshFingerprint(key)}`,
        );
      return { created: false };
    }
    if (typeof body.name !== "string" || body.name.length === 0 || body.name.length > VAULT_NAME_CHARS_MAX)
      throw new SignedRequestError("register: bad vault name");
    if (typeof body.authorizedKeys !== "string" || body.authorizedKeys.length > AUTHORIZED_KEYS_BYTES_MAX)
      throw new SignedRequestError("register: bad authorized_keys");
    if (!this.#state.admins.some((k) => equalBytes(k.publicKey, key)) && !equalBytes(key, this.#cfg.hub.publicKey)) {
      throw new SignedRequestError(
        `the key ${sshFingerprint(key)} may not add vaults to this hub: add it to ${join(this.#state.dir, "authorized_keys")} (or EDGESYNC_AUTHORIZED_KEYS) on the hub`,
      );
    }
    if (!parseAuthorizedKeys(body.authorizedKeys).keys.some((k) => equalBytes(k.publicKey, key)))
      throw new SignedRequestError("register: the vault's authorized_keys must list the registering key");
    this.#state.vaults.set(body.vaultId, {
      name: body.name,
      authorizedKeys: body.authorizedKeys,
      registeredAtMs: Date.now(),
      updatedAtMs: Date.now(),
    });
    await this.#enqueue(async () => {
      await saveVaults(this.#state);
      await this.#push(await this.#vaultAccountJwt(body.vaultId));
      await this.#push(await this.#hubAccountJwt());
    });
    this.#cfg.log.info({ vault: body.vaultId, name: body.name, by: sshFingerprint(key) }, "vault registered");
    this.#cluster?.changed();
    this.#cfg.onVaultAdded(body.vaultId);
    return { created: true };
  }

  /** Door credentials for a pairing link: asked by a key the hub account admits (a member, an admin, the hub). */
  async #doorUser(key: Uint8Array, body: DoorRequestBody): Promise<DoorUser> {
    if (typeof body !== "object" || body === null || typeof body.set !== "string" || !isSetId(body.set))
      throw new SignedRequestError("door: bad notify set");
    const admitted =
      equalBytes(key, this.#cfg.hub.publicKey) || this.#hubAccountKeys().some((k) => equalBytes(k.publicKey, key));
    if (!admitted)
      throw new SignedRequestError(`the key ${sshFingerprint(key)} is not a member of any vault on this hub`);
    const door = await issueDoorUser(this.#state.operator, body.set);
    this.#cfg.log.info(
      { set: body.set, by: sshFingerprint(key), expiresAt: door.expiresAt },
      "pairing door: credentials issued for a pairing link",
    );
    return door;
  }

  /** Heads from a document this replica may never see (its history was rewritten): not held back forever. */
  #enforcedLongAgo(hosted: HostedVault): boolean {
    return Date.now() - (hosted.updatedAtMs ?? 0) > HEADS_GUARD_MS;
  }

  async stop(): Promise<void> {
    this.#door?.stop();
    this.#cluster?.stop();
    await this.#queue;
    await Promise.all(
      [this.#hubAccount, ...this.#vaultConnections.values(), this.#system].map((nc) => drainOrClose(nc)),
    );
  }
}
