/**
 * NATS operator/JWT mode for edgesync (DESIGN §3): the hub holds an operator key and a system
 * account; each vault is an account; every key in the vault's authorized_keys is a *scoped*
 * signing key of that account, so a device issues its own user JWT and NATS enforces what that
 * user may touch. Removing a key = a new account JWT pushed with `$SYS.REQ.CLAIMS.UPDATE`: the
 * server drops every connection whose JWT that key signed.
 *
 * Permissions live in the signing key's template, never in the user JWT (nats-server refuses a
 * scoped user that carries its own). By default each key's template names that device's own
 * nkey as its sender token (`vaultSubjectsFor(vaultId, U…)`): the permission follows from *which
 * authorized key signed*, which only that device can do, so the JWT's subject may be any key —
 * an ephemeral one when the device key sits in an ssh-agent and cannot sign the connect nonce
 * synchronously. The `{{subject()}}` template mode is kept for comparison (nats-server ≥ 2.9).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { decode, encodeAccount, encodeOperator, encodeUser, type SigningKey, type Account } from "@nats-io/jwt";
import { createAccount, createOperator, createUser, fromPublic, Prefix, type KeyPair } from "@nats-io/nkeys";
import { nkeyPublic, type DeviceKey } from "./identity.js";
import { sshFingerprint } from "./openssh-format.js";
import { USER_KEY_TEMPLATE, vaultSubjectsFor, type SubjectPermissions } from "../nats/subjects.js";
import { UserError } from "../errors.js";

/** nats-server's default max_payload: a CLAIMS.UPDATE larger than this cannot be pushed. */
export const ACCOUNT_JWT_BYTES_MAX = 1024 * 1024;
/** A self-issued user JWT is renewed on every connect, so a short life costs nothing. */
export const USER_JWT_LIFETIME_S = 24 * 3600;
export const CLAIMS_UPDATE_SUBJECT = "$SYS.REQ.CLAIMS.UPDATE";

export class JwtError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JwtError";
  }
}

/**
 * Every limit set to -1 explicitly: @nats-io/jwt leaves them out, and nats-server 2.9 then treats
 * the account as limited to nothing and refuses its connections.
 */
export const UNLIMITED_ACCOUNT: Account["limits"] = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
};

export interface OperatorSetup {
  operator: KeyPair;
  system: KeyPair;
  operatorJwt: string;
  systemAccountJwt: string;
}

/** A new operator and its system account (the hub keeps both seeds under .edgesync-server/, 0600). */
export async function createOperatorSetup(
  name = "edgesync",
  keys: { operator?: KeyPair; system?: KeyPair } = {},
): Promise<OperatorSetup> {
  const operator = keys.operator ?? createOperator();
  const system = keys.system ?? createAccount();
  const operatorJwt = await encodeOperator(name, operator, { system_account: system.getPublicKey() });
  const systemAccountJwt = await encodeAccount("SYS", system, { limits: UNLIMITED_ACCOUNT }, { signer: operator });
  return { operator, system, operatorJwt, systemAccountJwt };
}

export type TemplateMode = "device" | "subject";

export interface VaultAccountOptions {
  vaultId: string;
  /** Account name in the JWT (the vault's name is fine; it is not secret). */
  name: string;
  /** The account's identity (public key or pair); the operator signs its JWT. */
  account: KeyPair | string;
  operator: KeyPair;
  /** The authorized keys (authorized-keys.ts effectiveKeys): each becomes a scoped signing key. */
  keys: { publicKey: Uint8Array }[];
  /** "device" (default): each template names its own device; "subject": one `{{subject()}}` template. */
  templateMode?: TemplateMode;
  /** Extra subjects every member may use (e.g. hub discovery), added to each template. */
  extra?: Partial<SubjectPermissions>;
  /** Signing keys with templates of their own, listed first (a cluster's hub key); `keys` naming them again are skipped. */
  servingKeys?: SigningKey[];
}

/** The permission template of one authorized key. */
export function memberTemplate(
  vaultId: string,
  member: string,
  extra: Partial<SubjectPermissions> = {},
): SigningKey["template"] {
  const own = vaultSubjectsFor(vaultId, member);
  return {
    pub: { allow: [...own.publish, ...(extra.publish ?? [])], deny: [] },
    sub: { allow: [...own.subscribe, ...(extra.subscribe ?? [])], deny: [] },
    // Lets a member answer a request sent to it (one reply per request), as request/reply needs.
    resp: { max: 1, ttl: 0 },
    subs: -1,
    data: -1,
    payload: -1,
  };
}

/** The scoped signing-key entries for the keys, deduplicated, in the given order. */
export function scopedSigningKeys(
  options: Pick<VaultAccountOptions, "vaultId" | "keys" | "templateMode" | "extra" | "servingKeys">,
): SigningKey[] {
  const entries: SigningKey[] = [...(options.servingKeys ?? [])];
  const seen = new Set<string>(entries.map((k) => k.key));
  for (const { publicKey } of options.keys) {
    const key = nkeyPublic(publicKey, Prefix.Account);
    if (seen.has(key)) continue;
    seen.add(key);
    const member = options.templateMode === "subject" ? USER_KEY_TEMPLATE : nkeyPublic(publicKey, Prefix.User);
    entries.push({
      kind: "user_scope",
      key,
      role: `device ${sshFingerprint(publicKey)}`,
      template: memberTemplate(options.vaultId, member, options.extra),
    });
  }
  return entries;
}

/** The vault's account JWT, signed by the operator. Throws when it would not fit in one message. */
export async function encodeVaultAccount(options: VaultAccountOptions): Promise<string> {
  const signingKeys = scopedSigningKeys(options);
  const jwt = await encodeAccount(
    options.name,
    options.account,
    { limits: UNLIMITED_ACCOUNT, signing_keys: signingKeys },
    { signer: options.operator },
  );
  if (jwt.length > ACCOUNT_JWT_BYTES_MAX) {
    throw new JwtError(
      `the account JWT for vault ${options.vaultId} is ${jwt.length} bytes with ${signingKeys.length} keys, over the ${ACCOUNT_JWT_BYTES_MAX}-byte limit of one NATS message; remove keys from authorized_keys`,
    );
  }
  return jwt;
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

export interface UserCredentials {
  jwt: string;
  /** The user seed (`SU…` bytes) that signs the connect nonce: pass both to `jwtAuthenticator`. */
  seed: Uint8Array;
  /** The user key the JWT is about. */
  subject: string;
}

export interface IssueUserOptions {
  /** JWT name (shown in server logs); default the device's fingerprint. */
  name?: string;
  /** Seconds until the JWT expires (0 = never); default USER_JWT_LIFETIME_S. */
  lifetimeS?: number;
  nowMs?: number;
  /**
   * The user key the JWT is for. Default: the device's own key when it can sign synchronously
   * (an in-memory Identity, `natsSeed` present), else a fresh ephemeral user key.
   */
  subject?: Pick<KeyPair, "getPublicKey" | "getSeed">;
}

/**
 * A user JWT for `device` in the vault account `accountPublic`, issued and signed by the device
 * itself acting as that account's scoped signing key. It carries no permissions (the signing
 * key's template does) and does not depend on the server's nonce, so an ssh-agent can sign it
 * before connecting.
 */
export async function issueUserJwt(
  device: DeviceKey & { natsSeed?: (prefix?: Prefix) => Uint8Array },
  accountPublic: string,
  options: IssueUserOptions = {},
): Promise<UserCredentials> {
  if (!accountPublic.startsWith("A") || fromPublic(accountPublic).getPublicKey() !== accountPublic)
    throw new JwtError(`not an account public key: ${accountPublic}`);
  const natsSeed = device.natsSeed?.bind(device);
  // The device's own key needs no key pair built (nkeys would derive its public half again, slowly).
  const subject =
    options.subject ??
    (natsSeed ? { getPublicKey: () => device.nkeyPublic, getSeed: () => natsSeed(Prefix.User) } : createUser());
  const nowS = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const lifetimeS = options.lifetimeS ?? USER_JWT_LIFETIME_S;
  const claims: Record<string, unknown> = {
    aud: "NATS",
    iat: nowS,
    iss: device.accountNkeyPublic,
    name: options.name ?? device.fingerprint,
    sub: subject.getPublicKey(),
    nats: { issuer_account: accountPublic, type: "user", version: 2 },
  };
  if (lifetimeS > 0) claims.exp = nowS + lifetimeS;
  claims.jti = Buffer.from(sha256(new TextEncoder().encode(JSON.stringify(claims)))).toString("base64url");
  const payload = `${b64url(new TextEncoder().encode(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" })))}.${b64url(new TextEncoder().encode(JSON.stringify(claims)))}`;
  const signature = await device.sign(new TextEncoder().encode(payload));
  return { jwt: `${payload}.${b64url(signature)}`, seed: subject.getSeed(), subject: subject.getPublicKey() };
}

/** A plain (unscoped) user of an account whose key the caller holds: the hub's own, or a system user. */
export async function issueAccountUser(
  account: KeyPair,
  name: string,
  user: KeyPair = createUser(),
): Promise<UserCredentials> {
  const jwt = await encodeUser(name, user, account);
  return { jwt, seed: user.getSeed(), subject: user.getPublicKey() };
}

/** Creds file text (JWT + seed) for a leafnode remote or the nats CLI. Secret: write it 0600. */
export function formatCreds(credentials: UserCredentials): string {
  const seed = new TextDecoder().decode(credentials.seed);
  return (
    `-----BEGIN NATS USER JWT-----\n${credentials.jwt}\n------END NATS USER JWT------\n\n` +
    `************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`
  );
}

export interface ResolverConfigOptions {
  operatorJwt: string;
  systemAccount: string;
  /** Where the full resolver keeps account JWTs (created by nats-server). */
  dir: string;
  /** Account JWTs to load on first start, by account public key. The full resolver ignores later edits. */
  preload: Record<string, string>;
}

/**
 * The nats-server config fragment for operator mode with the `full` resolver. It has no
 * `authorization {}` block: that together with a system account is CVE-2023-47090 on 2.9.10.
 */
export function operatorModeConfig(options: ResolverConfigOptions): string {
  const q = JSON.stringify;
  const preload = Object.entries(options.preload)
    .map(([account, jwt]) => `  ${account}: ${q(jwt)}`)
    .join("\n");
  return [
    `operator: ${q(options.operatorJwt)}`,
    `system_account: ${options.systemAccount}`,
    `resolver {\n  type: full\n  dir: ${q(options.dir)}\n  allow_delete: false\n  interval: "2m"\n  timeout: "2s"\n}`,
    `resolver_preload {\n${preload}\n}`,
  ].join("\n");
}

/** The server's answer to a claims update: `{ data: { code, message } }` or `{ error: { code, description } }`. */
export function parseClaimsUpdateReply(reply: string): { account?: string; message: string } {
  let parsed: {
    data?: { account?: string; code?: number; message?: string };
    error?: { code?: number; description?: string };
  };
  try {
    parsed = JSON.parse(reply) as typeof parsed;
  } catch (error) {
    throw new JwtError(`the server's answer to a claims update is not JSON: ${reply.slice(0, 200)}`, { cause: error });
  }
  if (parsed.error)
    throw new JwtError(
      `the server refused the account update: ${parsed.error.description ?? JSON.stringify(parsed.error)}`,
    );
  if (!parsed.data || (parsed.data.code !== undefined && parsed.data.code >= 300))
    throw new JwtError(`unexpected answer to a claims update: ${reply.slice(0, 200)}`);
  return { account: parsed.data.account, message: parsed.data.message ?? "" };
}

/** What pushAccountJwt needs of a NATS connection (a system-account user's). */
export interface Requester {
  request(subject: string, payload: Uint8Array, options: { timeout: number }): Promise<{ string(): string }>;
}

export const CLAIMS_UPDATE_TIMEOUT_MS = 5_000;

/**
 * Pushes an account JWT to a running server over the system account. Checked here first, because
 * nats-server 2.9.10's full resolver answers "jwt updated" to an account JWT signed by a foreign
 * operator and stores it in its directory (it does not apply it), which would break the account
 * at the next restart.
 */
export async function pushAccountJwt(
  nc: Requester,
  accountJwt: string,
  operatorPublic: string,
  timeoutMs = CLAIMS_UPDATE_TIMEOUT_MS,
): Promise<{ account?: string; message: string }> {
  let claims: ReturnType<typeof decode<Account>>;
  try {
    claims = decode<Account>(accountJwt);
  } catch (error) {
    throw new JwtError(`not a valid account JWT: ${(error as Error).message}`, { cause: error });
  }
  if (claims.nats.type !== "account") throw new JwtError(`not an account JWT (type ${String(claims.nats.type)})`);
  if (claims.iss !== operatorPublic)
    throw new JwtError(
      `the account JWT for ${claims.sub} is signed by ${claims.iss}, not by this hub's operator ${operatorPublic}`,
    );
  if (accountJwt.length > ACCOUNT_JWT_BYTES_MAX)
    throw new JwtError(
      `the account JWT is ${accountJwt.length} bytes, over the ${ACCOUNT_JWT_BYTES_MAX}-byte message limit`,
    );
  const reply = await nc.request(CLAIMS_UPDATE_SUBJECT, new TextEncoder().encode(accountJwt), { timeout: timeoutMs });
  return parseClaimsUpdateReply(reply.string());
}
