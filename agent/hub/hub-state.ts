/**
 * What a hub keeps in its server folder (`.edgesync-server/`, 0700):
 *   operator.nk, system.nk   operator and system-account seeds (0600)
 *   tls.crt, tls.key         the self-signed certificate clients pin (key 0600)
 *   authorized_keys          admins: keys that may put a new vault on this hub
 *   vaults.json              the vaults it hosts and the authorized_keys last enforced for each
 *   jwt/                     the full resolver's account JWTs (nats-server's own)
 * Everything is created on first start and kept afterwards, so pins and accounts stay valid.
 */
import { readFile, mkdir, chmod } from "node:fs/promises";
import { join } from "node:path";
import { createOperator, createAccount, fromSeed, type KeyPair } from "@nats-io/nkeys";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { ensureHubTls, type HubTlsFiles } from "../auth/tls.js";
import { withNativeSigning } from "../auth/native-ed25519.js";
import { parseAuthorizedKeys, type AuthorizedKey } from "../auth/authorized-keys.js";
import { isVaultId } from "../nats/subjects.js";
import { UserError } from "../errors.js";

export class HubStateError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HubStateError";
  }
}

export const HUB_SERVER_DIR = ".edgesync-server";
const VAULTS_FILE = "vaults.json";
const VAULTS_BYTES_MAX = 64 * 1024 * 1024;

export interface HostedVault {
  name: string;
  /** The authorized_keys text last enforced (account JWT signed from it). */
  authorizedKeys: string;
  registeredAtMs: number;
  /** When these keys were applied (catalogue-entry.ts: the version hubs of a cluster compare); 0 when never. */
  updatedAtMs?: number;
  /** The vault document's heads the keys were read at, when a replica applied them. */
  heads?: string[];
}

export interface HubState {
  dir: string;
  operator: KeyPair;
  system: KeyPair;
  tls: HubTlsFiles;
  tlsCreated: boolean;
  admins: AuthorizedKey[];
  vaults: Map<string, HostedVault>;
}

const missing = (error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? undefined : Promise.reject(error));

async function loadOrCreateSeed(path: string, create: () => KeyPair): Promise<KeyPair> {
  const text = await readFile(path, "utf8").catch(missing);
  if (text !== undefined) {
    try {
      return withNativeSigning(fromSeed(new TextEncoder().encode(text.trim())));
    } catch (error) {
      throw new HubStateError(
        `${path} is not an nkey seed; restore it from a backup (a new one would invalidate every account on this hub)`,
        { cause: error },
      );
    }
  }
  const pair = create();
  await writeFileAtomic(path, `${new TextDecoder().decode(pair.getSeed())}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return withNativeSigning(pair);
}

async function loadVaults(path: string): Promise<Map<string, HostedVault>> {
  const text = await readFile(path, "utf8").catch(missing);
  const vaults = new Map<string, HostedVault>();
  if (text === undefined) return vaults;
  if (text.length > VAULTS_BYTES_MAX)
    throw new HubStateError(`${path} is over ${VAULTS_BYTES_MAX} bytes; restore it from a backup`);
  let data: { version?: number; vaults?: Record<string, HostedVault> };
  try {
    data = JSON.parse(text) as typeof data;
  } catch (error) {
    throw new HubStateError(`${path} is not valid JSON; restore it from a backup`, { cause: error });
  }
  if (data.version !== 1 || typeof data.vaults !== "object" || data.vaults === null)
    throw new HubStateError(`${path} is not a version 1 vault list; restore it from a backup`);
  for (const [id, v] of Object.entries(data.vaults)) {
    if (!isVaultId(id) || typeof v?.name !== "string" || typeof v.authorizedKeys !== "string")
      throw new HubStateError(`${path}: the entry ${JSON.stringify(id)} is damaged; restore it from a backup`);
    vaults.set(id, {
      name: v.name,
      authorizedKeys: v.authorizedKeys,
      registeredAtMs: Number(v.registeredAtMs) || 0,
      updatedAtMs: Number(v.updatedAtMs) || 0,
      ...(Array.isArray(v.heads) && v.heads.every((h) => typeof h === "string") ? { heads: v.heads } : {}),
    });
  }
  return vaults;
}

export async function saveVaults(state: Pick<HubState, "dir" | "vaults">): Promise<void> {
  const data = { version: 1, vaults: Object.fromEntries(state.vaults) };
  await writeFileAtomic(join(state.dir, VAULTS_FILE), `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
}

export interface HubStateOptions {
  /** DNS names or addresses clients dial, added to the certificate (loopback is always in it). */
  hostnames?: string[];
  /** Extra admin keys in authorized_keys format (EDGESYNC_AUTHORIZED_KEYS), merged on start. */
  extraAdmins?: string;
}

export async function loadOrCreateHubState(dir: string, options: HubStateOptions = {}): Promise<HubState> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const operator = await loadOrCreateSeed(join(dir, "operator.nk"), createOperator);
  const system = await loadOrCreateSeed(join(dir, "system.nk"), createAccount);
  const tls = await ensureHubTls(dir, { hostnames: options.hostnames });
  const adminText = (await readFile(join(dir, "authorized_keys"), "utf8").catch(missing)) ?? "";
  const admins = [...parseAuthorizedKeys(adminText).keys, ...parseAuthorizedKeys(options.extraAdmins ?? "").keys];
  const vaults = await loadVaults(join(dir, VAULTS_FILE));
  return { dir, operator, system, tls, tlsCreated: tls.created, admins, vaults };
}
