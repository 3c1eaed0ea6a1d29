/**
 * A part that runs beside the agent's vaults (notify's services, the WSS bridge). The agent knows
 * this interface and nothing of what implements it: the parts are chosen and built above `agent/`
 * (cmd/assemble-agent.ts), so a lower layer never imports a higher one.
 *
 * Contract: the agent calls `start` once its vaults run, in the order the parts were given, before
 * it writes agent.json (so a CLI that finds agent.json finds the parts running); a part that throws
 * stops the agent's start. `stop` runs in the reverse order, before the vaults stop, even for a part
 * whose `start` failed or never ran, and must be safe to call twice.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { SigningKey } from "@nats-io/jwt";
import type { DeviceKey } from "./auth/identity.js";
import type { LocalCredentials } from "./auth/local-credentials.js";
import type { NatsRole } from "./nats/server-config.js";
import type { SyncEngine } from "./sync/engine.js";
import type { Log } from "./sync/ports.js";

/** What the running agent offers its parts. */
export interface CataloguedVault {
  name: string;
  isMember: (publicKey: Uint8Array) => boolean;
}

export interface AgentPartContext {
  role: NatsRole;
  /** The agent's connection: on a hub the hub account's, elsewhere the local server's. */
  nc: NatsConnection;
  /** The URL of the NATS server the agent uses (its own child, or the upstream it attached to). */
  natsUrl: string;
  /** Signs in to the agent's own leaf or peer server; absent on a hub or when attached. */
  localAuthenticator: LocalCredentials["authenticator"] | undefined;
  device: DeviceKey;
  homeDir: string;
  /** Hub: the folder of operator keys, TLS pair and hosted vaults. */
  serverDir: string | undefined;
  /** The vault ids of the folders, in the order given (the first is the agent's primary vault). */
  folderVaultIds: string[];
  /** Hub: the vaults it hosts now (more arrive through `AgentPart.vaultAdded`). */
  hostedVaultIds: () => string[];
  /** Every engine the agent runs now, folders and the replicas loaded at this moment. */
  engines: () => SyncEngine[];
  /** A vault's engine, loading its replica when the hub unloaded it for being idle. */
  engineFor: (vaultId: string) => Promise<SyncEngine | undefined>;
  /**
   * Hub: a vault of the catalogue, hosted here or not (in a cluster its replica may be on other
   * hubs): its registered name and whether a key is among those NATS enforces for it now.
   */
  catalogued?: (vaultId: string) => CataloguedVault | undefined;
  /** Hub in operator mode: puts `set`'s extra signing keys into the hub account (agent/hub/hub-authority.ts). */
  setHubAccountKeys: ((set: string, keys: SigningKey[]) => Promise<void>) | undefined;
  log: Log;
}

export interface AgentPart {
  /** For logs and errors. */
  readonly name: string;
  start(context: AgentPartContext): Promise<void>;
  /** Hub: a vault was registered while the agent runs (may arrive before `start`; then `start` sees it in hostedVaultIds). */
  vaultAdded?(vaultId: string): void;
  /** Fields this part adds to agent.json, read after `start`. */
  info?(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}
