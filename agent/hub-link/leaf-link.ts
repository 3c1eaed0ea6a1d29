/**
 * A leaf's link to its hub in operator mode: one leafnode remote into the hub account and one
 * into each vault's account (a leafnode connection binds exactly one account; on nats-server 2.9.10
 * several remotes from the leaf's one local account to different hub accounts work side by side).
 * Each remote has a creds file (self-issued JWT + ephemeral seed, 0600) and trusts only the
 * pinned hub certificate. Registration asks the hub to host a vault it does not know yet.
 */
import { mkdir, chmod } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { accountCredsFile } from "../auth/account-user.js";
import { HUB_ACCOUNT_PUBLIC, vaultAccountPublic } from "../auth/accounts.js";
import type { DeviceKey } from "../auth/identity.js";
import type { LeafRemote } from "../nats/server-config.js";
import { HubError, requestRegister, trustHub, type TrustOptions } from "./hub-client.js";
import { ProbeError } from "../auth/tls-probe.js";
import type { Log } from "../sync/ports.js";

export interface LeafLinkOptions {
  /** The hubs of one cluster, first the preferred one; they share one certificate (the bundle's). */
  hubUrls: string[];
  device: DeviceKey;
  vaultIds: string[];
  /** The leaf server's state folder: creds and the pinned certificate go under it. */
  stateDir: string;
  /**
   * No pin: `ws://` is plain, and `wss://` goes through a TLS-terminating proxy whose certificate is
   * checked against the system's CAs. Without it a `wss://` link pins the certificate presented there.
   */
  noTls?: boolean;
  trust: TrustOptions;
}

export async function prepareLeafRemotes(options: LeafLinkOptions): Promise<LeafRemote[]> {
  const dir = join(options.stateDir, "hub-link");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const [hubUrl, ...moreUrls] = options.hubUrls;
  let caFile: string | undefined;
  if (!options.noTls && !hubUrl.startsWith("ws:")) {
    caFile = join(dir, "hub-ca.pem");
    await writeFileAtomic(caFile, await trustedClusterCert(options.hubUrls, options.trust), { mode: 0o644 });
  }
  const remote = async (label: string, account: string): Promise<LeafRemote> => {
    const credentialsFile = join(dir, `${label}.creds`);
    await writeFileAtomic(
      credentialsFile,
      await accountCredsFile(options.device, account, `leaf ${options.device.fingerprint}`),
      { mode: 0o600 },
    );
    return {
      url: hubUrl,
      ...(moreUrls.length > 0 ? { moreUrls } : {}),
      credentialsFile,
      ...(caFile ? { caFile } : {}),
    };
  };
  return [
    await remote("hub", HUB_ACCOUNT_PUBLIC),
    ...(await Promise.all(options.vaultIds.map((id) => remote(`vault-${id}`, vaultAccountPublic(id))))),
  ];
}

/**
 * The one certificate the hubs present (a cluster's hubs share the bundle's TLS pair), pinned on
 * first use at every hub reachable now. A hub that is down is still dialled later: the link then
 * trusts only this certificate. Two hubs presenting different certificates are not one cluster.
 */
async function trustedClusterCert(hubUrls: string[], trust: TrustOptions): Promise<string> {
  let certPem: string | undefined;
  let lastError: unknown;
  for (const url of hubUrls) {
    let trusted: Awaited<ReturnType<typeof trustHub>>;
    try {
      trusted = await trustHub(url, trust);
    } catch (error) {
      // A refused or changed pin is a decision, never skipped; an unreachable hub is.
      if (!(error instanceof ProbeError) || hubUrls.length === 1) throw error;
      lastError = error;
      continue;
    }
    if (certPem !== undefined && trusted.certPem !== certPem) {
      throw new HubError(
        `the hubs ${hubUrls.join(", ")} present different certificates: hubs of one cluster share the certificate of \`edgesync hub export\`; give only hubs of one cluster`,
      );
    }
    certPem = trusted.certPem;
  }
  if (certPem === undefined)
    throw new HubError(
      `no hub answered (${hubUrls.join(", ")}) to pin its certificate: start one, or check the addresses`,
      { cause: lastError },
    );
  return certPem;
}

export interface VaultToRegister {
  id: string;
  name: string;
  authorizedKeys: () => string;
}

const REGISTER_RETRY_MS = 2_000;

/**
 * Asks the hub, until it answers, to host each vault (a no-op for vaults it already has). A
 * refusal is logged once with its reason and not retried; silence (hub offline) is retried.
 */
export function registerVaults(
  nc: NatsConnection,
  device: DeviceKey,
  vaults: VaultToRegister[],
  log: Log,
  isStopped: () => boolean,
): void {
  const attempt = async (vault: VaultToRegister): Promise<void> => {
    while (!isStopped() && !nc.isClosed()) {
      try {
        const { created } = await requestRegister(nc, device, {
          vaultId: vault.id,
          name: vault.name,
          authorizedKeys: vault.authorizedKeys(),
        });
        log.info({ vault: vault.id, created }, created ? "the hub now hosts this vault" : "the hub hosts this vault");
        return;
      } catch (error) {
        if (error instanceof HubError && /refused/.test(error.message)) {
          log.warn({ vault: vault.id, error: error.message }, "the hub will not host this vault");
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, REGISTER_RETRY_MS).unref());
    }
  };
  for (const vault of vaults) void attempt(vault);
}
