/**
 * The NATS accounts of a hub in operator mode, and who may use them.
 *
 * - One account per vault (isolation between vaults is NATS's own), whose scoped signing keys are
 *   the vault's authorized keys plus the hub's key (the hub replicates every vault it hosts).
 * - One "hub" account for everything that is not a vault: discovery (`es.v1.hub.vaults`),
 *   registration of a new vault (`es.v1.hub.register`) and notify. Its signing keys are every
 *   member of every vault plus the hub's admins, with a template that reaches no vault subject
 *   and only the notify sets of the key's own vaults (`default` for admins).
 *
 * - The pairing door: a signing key only the hub holds, whose users (handed out in pairing links,
 *   10 minutes) can do nothing but ask the hub to redeem a notify pairing token and hear their own
 *   inbox (agent/auth/pairing-door.ts, agent/hub/pairing-door.ts).
 *
 * Account public keys are *derived* from a label (SHA-256, nothing-up-my-sleeve): nobody holds
 * their seeds, so the only way to issue a user of an account is a signing key the operator listed
 * in its JWT. Removing a key is therefore complete, and a device finds a vault's account from the
 * vault id alone, with no lookup and nothing secret delivered.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { encodeAccount, type SigningKey } from "@nats-io/jwt";
import { fromSeed, Prefix, type KeyPair } from "@nats-io/nkeys";
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { nkeyPublic } from "./identity.js";
import { vaultPrefix } from "../nats/subjects.js";
import { sshFingerprint } from "./openssh-format.js";
import { ACCOUNT_JWT_BYTES_MAX, JwtError, UNLIMITED_ACCOUNT, encodeVaultAccount } from "./nats-jwt.js";

const utf8 = (text: string) => new TextEncoder().encode(text);

/** An account public key (`A…`) nobody holds the seed of. */
export const derivedAccountPublic = (label: string): string =>
  nkeyPublic(sha256(utf8(`edgesync-account-v1:${label}`)), Prefix.Account);

/** The account of a vault on any edgesync hub. */
export const vaultAccountPublic = (vaultId: string): string => derivedAccountPublic(`vault:${vaultId}`);

/** The hub's own account: discovery, registration and notify. */
export const HUB_ACCOUNT_PUBLIC = derivedAccountPublic("hub");

export const HUB_SUBJECT_PREFIX = "es.v1.hub";
export const HUB_REGISTER_SUBJECT = `${HUB_SUBJECT_PREFIX}.register`;
export const NOTIFY_SUBJECTS = "es.v1.notify.>";

/** A notify set's token: a vault id or a short name such as `default` (agent/nats/notify-subjects.ts). */
const NOTIFY_SET = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Everything of one notify set: the set is the first token, so one `>` covers it and nothing else. */
export function notifySetSubjects(set: string): string {
  if (!NOTIFY_SET.test(set)) throw new RangeError(`invalid notify set id ${JSON.stringify(set)}`);
  return `es.v1.notify.${set}.>`;
}

/**
 * The reply inboxes of one device key: only users issued by that key may subscribe under it, so an
 * answer sent there reaches that device alone. A leaf's local clients reach the hub account through
 * the leaf link, whose user the leaf's device key issued: they must use the leaf's prefix too (the
 * hub delivers to a leaf link only what its user may subscribe to).
 */
export const deviceInboxPrefix = (deviceNkey: string): string => `_INBOX.${deviceNkey}`;

/**
 * Throws unless every subscribe permission is safe from widening: nats-server 2.9 matches a
 * subscription's subject against the allow list as if it were literal, so an allowed `*` also admits
 * a literal `*` or `>` in that place, and a `*` in last place becomes a `>` that reaches any depth.
 * (A deny list does not help: a denied wildcard pattern also denies every literal subject it
 * matches, and a subscriber's own wildcard can still reach denied subjects.)
 */
export function assertUnwidenable(subscribe: readonly string[]): readonly string[] {
  for (const subject of subscribe) {
    if (subject.split(".").at(-1) === "*")
      throw new RangeError(`subscribe permission ${subject} ends in *: a subscriber could put > there`);
  }
  return subscribe;
}

/**
 * The template owner of a cluster's hub signing key (agent/hub/hub-routes.ts clusterSigningKey):
 * every hub of the cluster issues its own connections with that one key, each under its own peer
 * id and inbox prefix, so its templates name no single device. Only hubs hold it, and each hub
 * already holds the operator key, so this widens nothing a hub could not sign for itself.
 */
export const ANY_HUB = Symbol("any hub of the cluster");

/** What a cluster's hub key may do in a vault's account: all of the vault's subjects, under any hub's peer id. */
export function clusterHubVaultTemplate(vaultId: string): SigningKey["template"] {
  const vault = `${vaultPrefix(vaultId)}.>`;
  return {
    pub: { allow: [vault, "_INBOX.>"], deny: [] },
    sub: { allow: [...assertUnwidenable([vault, "_INBOX.>"])], deny: [] },
    resp: { max: 1, ttl: 0 },
    subs: -1,
    data: -1,
    payload: -1,
  };
}

/**
 * What a device key of the hub account may do: ask the hub, hear its own reply inboxes (never
 * another device's), and speak notify in `notifySets` only (the vaults it is a member of; `default`
 * for the hub's admins). The hub's own key (`serving`) also listens on the hub's control subjects,
 * so no device can answer discovery or registration in the hub's place, speaks every set (it runs a
 * notify service for each) and may publish to any inbox, since it answers every device.
 */
export function hubAccountTemplate(
  deviceNkey: string | typeof ANY_HUB,
  serving = false,
  notifySets: readonly string[] = [],
): SigningKey["template"] {
  const control = `${HUB_SUBJECT_PREFIX}.>`;
  const notify = serving ? [NOTIFY_SUBJECTS] : [...new Set(notifySets)].sort().map(notifySetSubjects);
  const inboxes = deviceNkey === ANY_HUB ? "_INBOX.>" : `${deviceInboxPrefix(deviceNkey)}.>`;
  return {
    pub: { allow: [control, ...notify, ...(serving ? ["_INBOX.>"] : [])], deny: [] },
    sub: { allow: [...assertUnwidenable([...notify, inboxes, ...(serving ? [control] : [])])], deny: [] },
    resp: { max: 1, ttl: 0 },
    subs: -1,
    data: -1,
    payload: -1,
  };
}

export const PAIRING_DOOR_SUBJECT_PREFIX = `${HUB_SUBJECT_PREFIX}.pair`;
/** Where a door user asks the hub to redeem a token of notify set `set` (the set is checked by the hub). */
export const pairingDoorSubject = (set: string): string => `${PAIRING_DOOR_SUBJECT_PREFIX}.${set}`;

/** Where a member asks the hub for pairing-door credentials to put in a pairing link. */
export const HUB_DOOR_SUBJECT = `${HUB_SUBJECT_PREFIX}.door`;

/**
 * The pairing door's signing key, derived from the operator's seed: only the hub holds it, and it
 * stays the same across restarts without a file of its own. It is a plain (unscoped) signing key
 * because a door user's limits must sit in its own JWT: nats-server 2.9.10 does not apply a scoped
 * template's allowed connection types, and a door user admitted as a leafnode could publish to any
 * subject of the hub account (a hub does not check what a leafnode publishes).
 */
export function pairingDoorKey(operator: KeyPair): KeyPair {
  // Kept per operator: nkeys derives a public key with tweetnacl, slowly, and every account push needs it.
  let door = doorKeys.get(operator);
  if (door === undefined) {
    const seed = sha256(new Uint8Array([...utf8("edgesync-pairing-door-v1\n"), ...operator.getSeed()]));
    const pair = fromSeed(Codec.encodeSeed(Prefix.Account, seed));
    const publicKey = pair.getPublicKey();
    door = Object.assign(pair, { getPublicKey: () => publicKey });
    doorKeys.set(operator, door);
  }
  return door;
}

const doorKeys = new WeakMap<KeyPair, KeyPair>();

export interface AccountKey {
  publicKey: Uint8Array;
}

/** A hub-account member: a key and the notify sets it belongs to. */
export interface HubAccountKey extends AccountKey {
  notifySets?: readonly string[];
}

/** One entry per key, its notify sets the union of every listing. */
function mergeKeys(keys: readonly HubAccountKey[]): { publicKey: Uint8Array; notifySets: string[] }[] {
  const byId = new Map<string, { publicKey: Uint8Array; notifySets: string[] }>();
  for (const k of keys) {
    const id = nkeyPublic(k.publicKey, Prefix.Account);
    const entry = byId.get(id) ?? { publicKey: k.publicKey, notifySets: [] };
    entry.notifySets.push(...(k.notifySets ?? []));
    byId.set(id, entry);
  }
  return [...byId.values()];
}

function uniqueKeys(keys: readonly AccountKey[]): AccountKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => {
    const id = nkeyPublic(k.publicKey, Prefix.Account);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** `extra`'s allow lists added to `entry`'s (one key that is both a member and a paired notify device). */
function withExtra(entry: SigningKey, extra: SigningKey): SigningKey {
  const union = (a: string[] = [], b: string[] = []) => [...new Set([...a, ...b])];
  const { template } = entry;
  return {
    ...entry,
    template: {
      ...template,
      pub: { allow: union(template.pub?.allow, extra.template.pub?.allow), deny: [] },
      sub: { allow: [...assertUnwidenable(union(template.sub?.allow, extra.template.sub?.allow))], deny: [] },
    },
  };
}

/**
 * The hub account's JWT: the hub's key (serving) and `keys` (admins, every vault member, each with
 * its notify sets) as scoped signing keys, plus `extra` ready-made ones (notify-only devices,
 * notify/nats-auth.ts), and the pairing door's key. A key listed more than once gets one signing key whose permissions are the
 * union of its listings.
 */
export async function encodeHubAccount(
  operator: KeyPair,
  hubKey: HubKey,
  keys: readonly HubAccountKey[],
  extra: readonly SigningKey[] = [],
): Promise<string> {
  const hubId = nkeyPublic(hubKey.publicKey, Prefix.Account);
  const members = mergeKeys(keys).filter((k) => nkeyPublic(k.publicKey, Prefix.Account) !== hubId);
  const signing = new Map<string, SigningKey>();
  const owner = hubKey.cluster ? ANY_HUB : nkeyPublic(hubKey.publicKey, Prefix.User);
  signing.set(hubId, {
    kind: "user_scope",
    key: hubId,
    role: `hub ${sshFingerprint(hubKey.publicKey)}`,
    template: hubAccountTemplate(owner, true),
  });
  for (const { publicKey, notifySets } of members) {
    const key = nkeyPublic(publicKey, Prefix.Account);
    signing.set(key, {
      kind: "user_scope",
      key,
      role: `device ${sshFingerprint(publicKey)}`,
      template: hubAccountTemplate(nkeyPublic(publicKey, Prefix.User), false, notifySets),
    });
  }
  for (const entry of extra) {
    const listed = signing.get(entry.key);
    if (listed === undefined) signing.set(entry.key, entry);
    else if (entry.key !== hubId) signing.set(entry.key, withExtra(listed, entry));
  }
  const signingKeys = [...signing.values(), pairingDoorKey(operator).getPublicKey()];
  const jwt = await encodeAccount(
    "edgesync hub",
    HUB_ACCOUNT_PUBLIC,
    { limits: UNLIMITED_ACCOUNT, signing_keys: signingKeys },
    { signer: operator },
  );
  if (jwt.length > ACCOUNT_JWT_BYTES_MAX)
    throw new JwtError(
      `the hub account JWT is ${jwt.length} bytes with ${signingKeys.length} keys, over the ${ACCOUNT_JWT_BYTES_MAX}-byte limit; remove keys`,
    );
  return jwt;
}

/**
 * The key a hub signs its own users with: its device key, or in a cluster the cluster's hub key
 * (`cluster: true`), which every hub holds, so the account JWTs every hub pushes are the same.
 */
export interface HubKey extends AccountKey {
  cluster?: boolean;
}

/** A vault account's JWT: its authorized keys plus the hub's key. */
export function encodeVaultAccountJwt(
  operator: KeyPair,
  vaultId: string,
  hubKey: HubKey,
  keys: readonly AccountKey[],
): Promise<string> {
  const options = { vaultId, name: `vault ${vaultId}`, account: vaultAccountPublic(vaultId), operator };
  if (!hubKey.cluster) return encodeVaultAccount({ ...options, keys: uniqueKeys([hubKey, ...keys]) });
  const key = nkeyPublic(hubKey.publicKey, Prefix.Account);
  const serving: SigningKey = {
    kind: "user_scope",
    key,
    role: `hub cluster ${sshFingerprint(hubKey.publicKey)}`,
    template: clusterHubVaultTemplate(vaultId),
  };
  return encodeVaultAccount({ ...options, servingKeys: [serving], keys: uniqueKeys(keys) });
}
