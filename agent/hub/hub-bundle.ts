/**
 * What another hub needs to serve the same accounts under the same pinned identity: the operator
 * and system-account seeds (so account JWTs signed on any hub verify on every hub), the cluster
 * route key (hub-routes.ts: only its holders may route in), the TLS pair (so a leaf's pin holds on
 * whichever hub it reaches), the admins, and the vaults registered so far.
 *
 * The bundle is secret — with it anyone can sign any account — so it is written 0600 and the CLI
 * says so. Importing is allowed only into a server folder without a hub state, or into one that
 * already holds this very bundle's keys (importing twice is harmless); anything else would orphan
 * the accounts that folder signed, and is refused with what to do.
 */
import { mkdir, readFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { parseAuthorizedKeys } from "../auth/authorized-keys.js";
import { TLS_CERT_FILE, TLS_KEY_FILE, loadHubTls } from "../auth/tls.js";
import { isVaultId } from "../nats/subjects.js";
import { CLUSTER_KEY_FILE, loadOrCreateClusterKey } from "./hub-routes.js";
import { HubStateError, type HostedVault } from "./hub-state.js";

export const BUNDLE_FORMAT = "edgesync-hub-bundle";
export const BUNDLE_VERSION = 1;
/** A bundle holds keys, a certificate and a vault list: far below this. */
export const BUNDLE_BYTES_MAX = 16 * 1024 * 1024;
const OPERATOR_FILE = "operator.nk";
const SYSTEM_FILE = "system.nk";
const ADMINS_FILE = "authorized_keys";
const VAULTS_FILE = "vaults.json";

export interface HubBundle {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  operatorSeed: string;
  systemSeed: string;
  clusterSeed: string;
  tlsCertPem: string;
  tlsKeyPem: string;
  /** authorized_keys text of the hub's admins (the file; EDGESYNC_AUTHORIZED_KEYS is per start). */
  admins: string;
  vaults: Record<string, HostedVault>;
}

const missing = (error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? undefined : Promise.reject(error));
const readOptional = (path: string) => readFile(path, "utf8").catch(missing);

/** The bundle of the hub whose server folder is `dir`; makes the cluster key if the hub has none yet. */
export async function exportHubBundle(dir: string): Promise<HubBundle> {
  const operatorSeed = (await readOptional(join(dir, OPERATOR_FILE)))?.trim();
  const systemSeed = (await readOptional(join(dir, SYSTEM_FILE)))?.trim();
  const tls = await loadHubTls(dir);
  if (!operatorSeed || !systemSeed || !tls)
    throw new HubStateError(
      `${dir} holds no hub state: start the hub once (\`edgesync sync start --nats-role hub\`), or give its folder with --server-dir`,
    );
  await loadOrCreateClusterKey(dir);
  const clusterSeed = ((await readOptional(join(dir, CLUSTER_KEY_FILE))) ?? "").trim();
  const vaultsText = await readOptional(join(dir, VAULTS_FILE));
  const vaults = vaultsText ? ((JSON.parse(vaultsText) as { vaults?: Record<string, HostedVault> }).vaults ?? {}) : {};
  return {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    operatorSeed,
    systemSeed,
    clusterSeed,
    tlsCertPem: tls.certPem,
    tlsKeyPem: await readFile(tls.keyFile, "utf8"),
    admins: (await readOptional(join(dir, ADMINS_FILE))) ?? "",
    vaults,
  };
}

/** Parses and checks a bundle's text; HubStateError naming the first problem. */
export function parseHubBundle(text: string, source: string): HubBundle {
  const bad = (why: string): never => {
    throw new HubStateError(
      `${source} is not an edgesync hub bundle (${why}); make one with \`edgesync hub export --out FILE\` on a hub of the cluster`,
    );
  };
  if (text.length > BUNDLE_BYTES_MAX) bad(`over ${BUNDLE_BYTES_MAX} bytes`);
  let data: Partial<HubBundle>;
  try {
    data = JSON.parse(text) as Partial<HubBundle>;
  } catch {
    return bad("not JSON");
  }
  if (data.format !== BUNDLE_FORMAT) bad("no bundle format marker");
  if (data.version !== BUNDLE_VERSION)
    bad(`version ${String(data.version)}, this edgesync reads version ${BUNDLE_VERSION}`);
  const seeds: [keyof HubBundle, RegExp][] = [
    ["operatorSeed", /^SO[A-Z2-7]{56}$/],
    ["systemSeed", /^SA[A-Z2-7]{56}$/],
    ["clusterSeed", /^SC[A-Z2-7]{56}$/],
  ];
  for (const [field, shape] of seeds)
    if (typeof data[field] !== "string" || !shape.test(data[field])) bad(`${field} is missing or malformed`);
  if (typeof data.tlsCertPem !== "string" || !data.tlsCertPem.includes("BEGIN CERTIFICATE")) bad("no TLS certificate");
  if (typeof data.tlsKeyPem !== "string" || !data.tlsKeyPem.includes("PRIVATE KEY")) bad("no TLS key");
  if (typeof data.admins !== "string") bad("no admins");
  parseAuthorizedKeys(data.admins);
  const vaults = data.vaults;
  if (typeof vaults !== "object" || vaults === null) return bad("no vault list");
  for (const [id, v] of Object.entries(vaults))
    if (!isVaultId(id) || typeof v?.name !== "string" || typeof v.authorizedKeys !== "string")
      bad(`vault entry ${JSON.stringify(id)} is damaged`);
  return data as HubBundle;
}

/**
 * Installs `bundle` into the server folder `dir` of a hub that has not started yet. Returns false
 * when `dir` already holds exactly these keys (nothing written).
 */
export async function importHubBundle(dir: string, bundle: HubBundle): Promise<boolean> {
  const existing = (await readOptional(join(dir, OPERATOR_FILE)))?.trim();
  if (existing !== undefined) {
    const sameKeys =
      existing === bundle.operatorSeed &&
      (await readOptional(join(dir, SYSTEM_FILE)))?.trim() === bundle.systemSeed &&
      (await readOptional(join(dir, CLUSTER_KEY_FILE)))?.trim() === bundle.clusterSeed &&
      (await readOptional(join(dir, TLS_CERT_FILE))) === bundle.tlsCertPem;
    if (sameKeys) return false;
    throw new HubStateError(
      `${dir} already holds a hub with other keys; import only into a new hub's server folder (move ${dir} away, or pass --server-dir NEW_DIR)`,
    );
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const secret = { mode: 0o600 } as const;
  // TLS key before its certificate and the operator last: a crash part-way leaves a folder the
  // next import sees as "no hub yet" (no operator.nk) and writes again.
  await writeFileAtomic(join(dir, TLS_KEY_FILE), bundle.tlsKeyPem, secret);
  await writeFileAtomic(join(dir, TLS_CERT_FILE), bundle.tlsCertPem, { mode: 0o644 });
  await writeFileAtomic(join(dir, CLUSTER_KEY_FILE), `${bundle.clusterSeed}\n`, secret);
  await writeFileAtomic(join(dir, SYSTEM_FILE), `${bundle.systemSeed}\n`, secret);
  if (bundle.admins !== "") await writeFileAtomic(join(dir, ADMINS_FILE), bundle.admins, secret);
  await writeFileAtomic(
    join(dir, VAULTS_FILE),
    `${JSON.stringify({ version: 1, vaults: bundle.vaults }, null, 2)}\n`,
    secret,
  );
  await writeFileAtomic(join(dir, OPERATOR_FILE), `${bundle.operatorSeed}\n`, secret);
  return true;
}
