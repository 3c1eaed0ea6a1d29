/**
 * How a notify command reaches NATS: `--nats URL`, else $EDGESYNC_NATS_URL, else the running
 * agent's local client URL (`<homeDir>/agent.json`), else the hub this device joined
 * (`<homeDir>/notify/joined.json`).
 *
 * This device's own agent is reached plainly (its loopback server, as the user in the credentials file
 * agent.json names: agent/nats/local-connect.ts) — unless it is a hub, whose
 * certificate agent.json names (pinned without asking) and whose hub account admits its key. Anything else is treated like
 * a hub: its TLS certificate is pinned on first use (agent/hub-link/hub-client.ts trustHub, as `clone` does) and the
 * connection enters the hub account with a user JWT the device issues itself — which the hub admits
 * only while the device is a vault member, an admin, or a paired notify device. A server that offers
 * no TLS (a peer's, or an agent's loopback server) is reached plainly.
 */
import { readFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConnectError, NatsAuthRefusedError } from "../agent/nats/connect.js";
import { connectPlainNats } from "../agent/nats/local-connect.js";
import { silentLog } from "../agent/sync/ports.js";
import { writeFileAtomic } from "../agent/fs/atomic-write.js";
import { ProbeError } from "../agent/auth/tls-probe.js";
import { connectToHubAccount, trustHub, type TrustOptions } from "../agent/hub-link/hub-client.js";
import { deviceInboxPrefix } from "../agent/auth/accounts.js";
import type { DeviceKey } from "../agent/auth/identity.js";
import { loadVaultConfig, NotAVaultError } from "../agent/vault/config.js";
import { AuthorizationError, NotifyInputError } from "./errors.js";
import { DEFAULT_SET, isSetId } from "../agent/nats/notify-subjects.js";

export interface JoinedHub {
  hub: string;
  set: string;
  name: string;
  creator: string;
  fp?: string;
  joinedAt: number;
}

export const joinedPath = (homeDir: string) => join(homeDir, "notify", "joined.json");

export async function readJoined(homeDir: string): Promise<JoinedHub | undefined> {
  const text = await readFile(joinedPath(homeDir), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as JoinedHub;
    return typeof parsed.hub === "string" ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export async function writeJoined(homeDir: string, joined: JoinedHub): Promise<void> {
  await mkdir(join(homeDir, "notify"), { recursive: true, mode: 0o700 });
  await writeFileAtomic(joinedPath(homeDir), `${JSON.stringify(joined, null, 2)}\n`, { mode: 0o600 });
}

/**
 * The notify set a command speaks in: `given` (--set or $EDGESYNC_NOTIFY_SET), else the vault the
 * folder `cwd` lies in (an agent asking from its project), else the set this device joined, else
 * `default`.
 */
export async function resolveNotifySet(homeDir: string, given: string | undefined, cwd: string): Promise<string> {
  if (given) {
    if (!isSetId(given))
      throw new NotifyInputError(
        `--set ${JSON.stringify(given)} is not a notify set: give a vault id (see \`edgesync status\`) or default`,
      );
    return given;
  }
  const vault = await vaultAround(cwd);
  if (vault) return vault;
  const joined = await readJoined(homeDir);
  return joined && isSetId(joined.set) ? joined.set : DEFAULT_SET;
}

/** The id of the vault whose folder holds `dir`, if any. */
async function vaultAround(dir: string): Promise<string | undefined> {
  for (let at = dir; ; at = dirname(at)) {
    // Only "no vault here" moves up: a broken config is an error, never a silent switch to another set.
    const config = await loadVaultConfig(at).catch((error: unknown) => {
      if (error instanceof NotAVaultError) return undefined;
      throw error;
    });
    if (config) return config.vault.id;
    if (dirname(at) === at) return undefined;
  }
}

export interface NatsTarget {
  url: string;
  /** True when it is this device's own running agent. */
  ownAgent: boolean;
  /** Own agent that is a hub: its TLS certificate (agent.json, written by the agent, 0600), pinned without asking. */
  fingerprint?: string;
  /** Own agent: the inboxes its hub link may hear (agent.json), where answers from across the link must go. */
  inboxPrefix?: string;
  /** Own agent that is a leaf or peer: the seed file its server admits (agent.json). */
  credentialsFile?: string;
}

export async function resolveNatsUrl(homeDir: string, flag?: string): Promise<NatsTarget> {
  const agent = await readFile(join(homeDir, "agent.json"), "utf8")
    .then(
      (t) =>
        JSON.parse(t) as {
          natsUrl?: unknown;
          tlsFingerprint?: unknown;
          inboxPrefix?: unknown;
          natsCredentials?: unknown;
        },
    )
    .catch(() => undefined);
  const agentUrl = typeof agent?.natsUrl === "string" && agent.natsUrl ? agent.natsUrl : undefined;
  const own = {
    ownAgent: true,
    ...(typeof agent?.tlsFingerprint === "string" ? { fingerprint: agent.tlsFingerprint } : {}),
    ...(typeof agent?.inboxPrefix === "string" ? { inboxPrefix: agent.inboxPrefix } : {}),
    ...(typeof agent?.natsCredentials === "string" ? { credentialsFile: agent.natsCredentials } : {}),
  };
  const given = flag || process.env.EDGESYNC_NATS_URL || undefined;
  if (given) return given === agentUrl ? { url: given, ...own } : { url: given, ownAgent: false };
  if (agentUrl) return { url: agentUrl, ...own };
  const joined = await readJoined(homeDir);
  if (joined) return { url: joined.hub, ownAgent: false };
  throw new ConnectError("no NATS to reach: start the agent (`edgesync sync start`) or pass --nats nats://HOST:PORT");
}

// tls-probe.ts says this when the server's INFO offers no TLS: a peer's or an agent's own server.
const NO_TLS = /does not offer TLS/;

export async function connectForNotify(
  target: NatsTarget,
  device: DeviceKey,
  trust: TrustOptions,
  name = "edgesync-notify",
): Promise<NatsConnection> {
  // Answers that cross a leaf's hub link reach only the inboxes of the key that issued the link.
  const inboxPrefix = target.inboxPrefix ?? deviceInboxPrefix(device.nkeyPublic);
  const plain = () =>
    connectPlainNats({
      servers: target.url,
      name,
      log: silentLog,
      timeoutMs: 5_000,
      inboxPrefix,
      credentialsFile: target.credentialsFile,
    });
  if (target.ownAgent && target.fingerprint === undefined) return plain();
  let trusted: Awaited<ReturnType<typeof trustHub>> | undefined;
  try {
    trusted = await trustHub(
      target.url,
      target.fingerprint === undefined ? trust : { ...trust, expectFingerprint: target.fingerprint },
    );
  } catch (error) {
    if (error instanceof ProbeError && NO_TLS.test(error.message)) return plain();
    throw error instanceof ProbeError ? new ConnectError(error.message, { cause: error }) : error;
  }
  try {
    return await connectToHubAccount({
      url: target.url,
      device,
      tls: trusted.tls,
      log: silentLog,
      name,
      timeoutMs: 5_000,
    });
  } catch (error) {
    if (error instanceof NatsAuthRefusedError) {
      throw new AuthorizationError(
        `the hub at ${target.url} refused this device's key: it is not paired with notify (or was unpaired); pair it: \`edgesync notify join LINK\` with the link \`edgesync notify pair\` prints (or the web inbox)`,
        { cause: error },
      );
    }
    throw error;
  }
}
