/**
 * Notify inside a running agent: one service per notify set — `default`, each vault folder's and,
 * on a hub, each hosted vault's (one more when a vault is registered). In operator mode the hub
 * account admits exactly the notify devices each set lists, for that set only (nats-auth.ts).
 *
 * Notify signs synchronously with the key file; a key held by an ssh-agent leaves notify off (said
 * in the log), and `--inbox` is then refused.
 */
import { hostname } from "node:os";
import { Identity } from "../agent/auth/identity.js";
import { UsageError } from "../agent/errors.js";
import type { AgentPart, AgentPartContext } from "../agent/agent-part.js";
import { DEFAULT_SET } from "../agent/nats/notify-subjects.js";
import { startNotifyService, type NotifyService } from "./service.js";
import { followNotifyDevices, notifySigningKeys } from "./nats-auth.js";

export interface NotifyPartConfig {
  /** Serve the web inbox on HOST:PORT (loopback unless a TLS proxy fronts it). */
  inbox?: string;
  /** The inbox's address as browsers reach it (a TLS proxy's https URL): accepted as Host and put in pairing links. */
  inboxUrl?: string;
  /** The NATS URL put in pairing links (the hub's public client URL); default the agent's server. */
  notifyNatsUrl?: string;
  /** This device's name in notify (sender name, device list); default the host name. */
  notifyName?: string;
}

export class NotifyPart implements AgentPart {
  readonly name = "notify";
  readonly #cfg: NotifyPartConfig;
  /** Services by set, each started once. */
  readonly #services = new Map<string, Promise<NotifyService | undefined>>();
  readonly #follows: { stop(): void }[] = [];
  #context: AgentPartContext | undefined;
  /** The key file's key: notify signs synchronously. */
  #key: Identity | undefined;
  /** The set the web inbox serves: the first vault folder's, else `default`. */
  #primarySet = DEFAULT_SET;
  #stopped = false;

  constructor(config: NotifyPartConfig) {
    this.#cfg = config;
  }

  /** The service of `set` (default: the set the web inbox serves) once it runs. */
  service(set = this.#primarySet): Promise<NotifyService | undefined> {
    return this.#services.get(set) ?? Promise.resolve(undefined);
  }

  async start(context: AgentPartContext): Promise<void> {
    const device = context.device;
    if (!(device instanceof Identity)) {
      if (this.#cfg.inbox)
        throw new UsageError(
          "--inbox needs notify, which signs with the key file: drop --identity-agent (or EDGESYNC_IDENTITY_AGENT) or --inbox",
        );
      context.log.warn({}, "notify is off: it signs with the key file, and this device's key is in an ssh-agent");
      return;
    }
    this.#context = context;
    this.#key = device;
    this.#primarySet = context.folderVaultIds[0] ?? DEFAULT_SET;
    const sets = [...new Set([this.#primarySet, DEFAULT_SET, ...context.folderVaultIds, ...context.hostedVaultIds()])];
    // The inbox's set first: a busy inbox port must stop the agent before anything else starts.
    const primary = await this.#startSet(this.#primarySet, true);
    if (primary === undefined) throw new Error(`notify could not start for set ${this.#primarySet}`);
    for (const set of sets) await this.#startSet(set);
    if (context.folderVaultIds.length > 0) await this.#warnOldDefaultPairings();
  }

  vaultAdded(vaultId: string): void {
    void this.#startSet(vaultId);
  }

  async info(): Promise<Record<string, unknown>> {
    return { inboxUrl: (await this.service())?.inboxUrl, notifySets: [...this.#services.keys()] };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // Services still starting (a vault registered just now) are awaited, so their followers exist.
    // A set whose start failed was logged then (or failed the agent's start): nothing to stop.
    const services = await Promise.all([...this.#services.values()].map((service) => service.catch(() => undefined)));
    for (const follow of this.#follows) follow.stop();
    for (const service of services) await service?.stop();
  }

  /** Starts the service of `set` once (later calls get the same one); undefined when it failed (logged). */
  #startSet(set: string, withInbox = false): Promise<NotifyService | undefined> {
    const [context, key] = [this.#context, this.#key];
    const running = this.#services.get(set);
    if (running || !context || !key || this.#stopped) return running ?? Promise.resolve(undefined);
    const starting = startNotifyService({
      nc: context.nc,
      device: {
        peerId: key.nkeyPublic,
        publicKey: key.publicKey,
        sign: (bytes) => key.sign(bytes),
        name: this.#cfg.notifyName ?? hostname(),
      },
      homeDir: context.homeDir,
      log: context.log,
      set,
      inboxListen: withInbox ? this.#cfg.inbox : undefined,
      publicInboxUrl: this.#cfg.inboxUrl,
      publicNatsUrl: this.#cfg.notifyNatsUrl,
    }).then((service) => {
      const setKeys = context.setHubAccountKeys;
      if (setKeys)
        this.#follows.push(
          followNotifyDevices(
            service,
            (devices) =>
              setKeys(
                set,
                notifySigningKeys(
                  set,
                  devices.filter((d) => d.kind === "notify"),
                ),
              ),
            context.log,
          ),
        );
      return service;
    });
    // The inbox's failure (its port in use) stops the agent; any other set's is logged and skipped.
    const settled = withInbox
      ? starting
      : starting.catch((error: unknown) => {
          context.log.warn({ set, error: String(error) }, "notify: could not start this set's service");
          return undefined;
        });
    this.#services.set(set, settled);
    return settled;
  }

  /**
   * Devices paired before notify had a set per vault sit in `default`, which on a hub is the set of
   * the hub's own devices: questions asked in a vault folder do not reach them. Said once, with what
   * to do.
   */
  async #warnOldDefaultPairings(): Promise<void> {
    const old = (await this.#services.get(DEFAULT_SET))?.notifyKeys() ?? [];
    if (old.length === 0) return;
    this.#context?.log.warn(
      { devices: old.map((d) => d.name), set: DEFAULT_SET },
      `notify: ${old.length} device(s) are paired with the set "default", which on a hub holds only the hub and its admins; questions asked in a vault folder go to that vault's set: pair them again with \`edgesync notify pair\` run in the vault folder (a hub admin may also keep asking with \`--set default\`)`,
    );
  }
}
