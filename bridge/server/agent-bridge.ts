/**
 * The bridge inside a running agent (`sync start --bridge HOST:PORT`): it serves every vault the
 * agent hosts — folders and, on a hub, replicas. It checks the peer's key against the
 * `authorized_keys` file *in the vault document*, as synced from the vault's devices (so a hub
 * without the folder still knows the keys; with no usable key there, only the agent's own key is
 * let in: authorized-keys.ts effectiveKeys). On a hub, NATS runs in operator mode and enforces
 * the same file again: each peer connects with the user JWT it signed for the vault's account.
 */
import { readFile, writeFile, mkdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Authenticator, ConnectionOptions } from "@nats-io/transport-node";
import { ensureHubTls } from "../../agent/auth/tls.js";
import { loadHubTls } from "../../agent/auth/tls.js";
import { tlsOptionsForPinned } from "../../agent/auth/pins.js";
import { vaultAccountPublic } from "../../agent/auth/accounts.js";
import { HUB_SERVER_DIR } from "../../agent/hub/hub-state.js";
import { effectiveKeys, parseAuthorizedKeys, AUTHORIZED_KEYS_BYTES_MAX } from "../../agent/auth/authorized-keys.js";
import { equalBytes } from "../../agent/auth/openssh-format.js";
import { AUTHORIZED_KEYS } from "../../agent/fs/sync-filter.js";
import { isReady, readEntry } from "../../agent/vault/model/vault-doc.js";
import type { SyncEngine } from "../../agent/sync/engine.js";
import type { Log } from "../../agent/sync/ports.js";
import { startBridge, type BridgeServer } from "./bridge-server.js";
import type { BridgeVault } from "./session.js";
import type { SigningKey } from "../client/handshake.js";
import { UsageError } from "../../agent/errors.js";
import type { CataloguedVault } from "../../agent/agent-part.js";

export interface AgentBridgeOptions {
  host: string;
  port: number;
  /** The certificate and key to serve; absent = plain ws:// (`--bridge-no-tls`). */
  tls?: { certPem: string; keyPem: string };
  /** The NATS server runs in operator mode (a hub): vault accounts are derived from vault ids. */
  operatorMode: boolean;
  natsOptions?: Partial<ConnectionOptions>;
  home: string;
  hubKey: SigningKey;
  natsUrl: string;
  engines: () => SyncEngine[];
  /** A vault's engine, loading a hub replica that was unloaded for being idle. */
  engineFor?: (vaultId: string) => Promise<SyncEngine | undefined>;
  /**
   * Hub: a vault with no engine here (in a cluster, its replica is on other hubs): served with the
   * keys NATS enforces for it, its sync traffic routed to the replicas like any device's.
   */
  catalogued?: (vaultId: string) => CataloguedVault | undefined;
  log: Log;
}

/**
 * The vault an engine holds, authorised by the authorized_keys in its document. Its id and name are
 * the engine's (the vault's config or the hub's registration), never the document's `meta`: a
 * member's change to that copy made the bridge refuse the real id for everyone.
 */
export function engineVault(
  engine: SyncEngine,
  hubKey: { publicKey: Uint8Array },
  operatorMode = false,
  /**
   * The vault's engine at each check: a hub replica unloaded for being idle is loaded again for
   * it, and runs a new engine. Undefined (the load failed): refused. Default: `engine` itself.
   */
  current?: () => Promise<SyncEngine | undefined>,
): BridgeVault | undefined {
  const vault = engine.vault;
  if (vault === undefined || !isReady(engine.doc)) return undefined;
  // Only the lookup is kept, not the engine: a session must not keep an unloaded replica's document alive.
  const latest =
    current ??
    (
      (held: SyncEngine) => async () =>
        held
    )(engine);
  return {
    id: vault.id,
    name: vault.name,
    account: operatorMode ? vaultAccountPublic(vault.id) : undefined,
    isAuthorised: async (publicKey) => {
      const doc = (await latest())?.doc;
      if (doc === undefined) return false;
      const entry = readEntry(doc, AUTHORIZED_KEYS);
      const text =
        entry?.bytes && entry.bytes.length <= AUTHORIZED_KEYS_BYTES_MAX ? new TextDecoder().decode(entry.bytes) : "";
      return effectiveKeys(parseAuthorizedKeys(text), hubKey).keys.some((k) => equalBytes(k.publicKey, publicKey));
    },
  };
}

export async function startAgentBridge(
  options: AgentBridgeOptions,
): Promise<{ bridge: BridgeServer; stop: () => Promise<void> }> {
  const bridge = await startBridge({
    host: options.host,
    port: options.port,
    tls: options.tls,
    hubKey: options.hubKey,
    natsServers: options.natsUrl,
    natsOptions: options.natsOptions,
    log: options.log,
    operatorMode: options.operatorMode,
    vault: async (id) => {
      const running = () => options.engines().find((engine) => engine.vault?.id === id);
      const engineFor = options.engineFor;
      const current = engineFor ? async () => running() ?? (await engineFor(id)) : undefined;
      const engine = running() ?? (await engineFor?.(id));
      if (engine) return engineVault(engine, options.hubKey, options.operatorMode, current);
      const entry = options.operatorMode ? options.catalogued?.(id) : undefined;
      return entry && { id, name: entry.name, account: vaultAccountPublic(id), isAuthorised: entry.isMember };
    },
  });
  const infoPath = join(options.home, "bridge.json");
  await mkdir(options.home, { recursive: true, mode: 0o700 });
  await writeFile(
    infoPath,
    JSON.stringify(
      {
        pid: process.pid,
        port: bridge.port,
        origin: bridge.origin,
        certFingerprint: bridge.certFingerprint,
        hubPublicKey: Buffer.from(options.hubKey.publicKey).toString("base64"),
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  options.log.info(
    { origin: bridge.origin, certFingerprint: bridge.certFingerprint },
    "bridge serving the agent's vaults on /v1/<vault id> and /automerge",
  );
  return {
    bridge,
    stop: async () => {
      await bridge.close();
      await unlink(infoPath).catch(() => {});
    },
  };
}

export interface BridgeTlsPlan {
  /** What the bridge serves (absent: --no-tls). */
  tls?: { certPem: string; keyPem: string };
  operatorMode: boolean;
  natsOptions?: Partial<ConnectionOptions>;
}

/**
 * Where a bridge beside an agent gets its certificate and how it reaches NATS: beside a hub, the
 * hub's own certificate (`.edgesync-server/tls.crt`, the one devices already pin) for WSS, pinned
 * TLS towards the hub's NATS, and operator mode; beside a leaf or peer, a certificate of its own
 * under EDGESYNC_HOME/tls and the local NATS server, signed in to as the agent's local user
 * (`localNatsAuthenticator`; absent in attach mode, whose server is the user's own).
 */
export async function planBridgeTls(options: {
  role: string;
  home: string;
  serverDir?: string;
  host: string;
  noTls: boolean;
  natsNoTls?: boolean;
  localNatsAuthenticator?: Authenticator;
}): Promise<BridgeTlsPlan> {
  if (options.role === "hub") {
    const files = await loadHubTls(options.serverDir ?? join(options.home, HUB_SERVER_DIR));
    if (!files)
      throw new UsageError(
        "the hub has no TLS certificate yet: start the hub (`edgesync sync start --nats-role hub`) first",
      );
    return {
      tls: options.noTls ? undefined : { certPem: files.certPem, keyPem: await readFile(files.keyFile, "utf8") },
      operatorMode: true,
      natsOptions: options.natsNoTls ? undefined : { tls: tlsOptionsForPinned(files.certPem, "this hub") },
    };
  }
  const natsOptions = options.localNatsAuthenticator
    ? { natsOptions: { authenticator: options.localNatsAuthenticator } }
    : {};
  if (options.noTls) return { operatorMode: false, ...natsOptions };
  const files = await ensureHubTls(join(options.home, "tls"), {
    hostnames: options.host === "0.0.0.0" || options.host === "::" ? [] : [options.host],
  });
  return {
    tls: { certPem: files.certPem, keyPem: await readFile(files.keyFile, "utf8") },
    operatorMode: false,
    ...natsOptions,
  };
}
