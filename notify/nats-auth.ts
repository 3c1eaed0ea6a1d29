/**
 * What NATS must enforce for notify (operator mode): the subjects each kind of notify device may
 * use, the scoped signing keys (one per device key, each with its kind's template), and
 * `followNotifyDevices`, which re-issues the account whenever the device list changes (a pairing,
 * an unpairing, or either arriving by sync). Every right is for one set (agent/nats/notify-subjects.ts): a device of
 * vault A's set reaches nothing of vault B's.
 *
 *  - a `notify` device (paired phone, browser, CLI): its set's live messages, signed requests and
 *    pairing, its own request inboxes — never the store's sync subjects, never a vault subject;
 *  - a `full` device (an agent): everything of its set (it runs the store and services);
 *  - a device that is pairing has no key yet: a pairing-only user may publish the set's pairing
 *    subject and hear its own inbox, nothing else.
 *
 * Subscribe rights are fixed tokens ending in `>` (assertUnwidenable): nats-server 2.9 would let a
 * subscriber put a literal `>` where a permission has a `*`. Publish rights may keep a `*`: a
 * wildcard token in a published subject reaches only subscriptions with a wildcard in that place.
 *
 * The user JWT carries no permissions: the template of the signing key that issued it does, and
 * only the device holding that key can issue one (agent/auth/nats-jwt.ts issueUserJwt).
 */
import { encodeAccount, type SigningKey } from "@nats-io/jwt";
import { Prefix, type KeyPair } from "@nats-io/nkeys";
import { nkeyPublic } from "../agent/auth/identity.js";
import { sshFingerprint } from "../agent/auth/openssh-format.js";
import { assertUnwidenable, deviceInboxPrefix } from "../agent/auth/accounts.js";
import { UNLIMITED_ACCOUNT, ACCOUNT_JWT_BYTES_MAX, JwtError } from "../agent/auth/nats-jwt.js";
import type { SubjectPermissions } from "../agent/nats/subjects.js";
import type { Log } from "../agent/sync/ports.js";
import { publicKeyFromPeerId } from "./encoding.js";
import { liveSubjects, liveWildcard, pairSubject, rpcWildcard, setSubjects } from "../agent/nats/notify-subjects.js";
import type { DeviceRecord, DeviceKind } from "./devices.js";

const INBOXES = "_INBOX.>";

/** A paired notify-only device of `set`. */
export function notifyOnlySubjects(set: string): SubjectPermissions {
  return { publish: [liveWildcard(set), rpcWildcard(set), pairSubject(set)], subscribe: [liveSubjects(set), INBOXES] };
}

/** An agent of `set`: the notify store's sync, the services' subscriptions and every client operation. */
export function notifyFullSubjects(set: string): SubjectPermissions {
  return { publish: [setSubjects(set), INBOXES], subscribe: [setSubjects(set), INBOXES] };
}

/** A device presenting a pairing token (it has no notify key yet). */
export function pairingSubjects(set: string): SubjectPermissions {
  return { publish: [pairSubject(set)], subscribe: [INBOXES] };
}

/** A pairing request and its answer are small; a pairing-only user needs no more than this. */
export const PAIRING_USER_LIMITS = { subs: 4, data: 64 * 1024, payload: 8 * 1024 };

/** `peer` hears only its own reply inboxes (agent/auth/accounts.ts deviceInboxPrefix), never another device's answers. */
export function notifyTemplate(set: string, kind: DeviceKind, peer: string): SigningKey["template"] {
  const allowed = kind === "full" ? notifyFullSubjects(set) : notifyOnlySubjects(set);
  const subscribe = allowed.subscribe.map((s) => (s === INBOXES ? `${deviceInboxPrefix(peer)}.>` : s));
  return {
    pub: { allow: allowed.publish, deny: [] },
    sub: { allow: [...assertUnwidenable(subscribe)], deny: [] },
    // A service answers a request sent to it (one reply each), as request/reply needs.
    resp: { max: 1, ttl: 0 },
    subs: -1,
    data: -1,
    payload: -1,
  };
}

/** One scoped signing key per active device (deduplicated; `full` wins over `notify` for one key). */
export function notifySigningKeys(
  set: string,
  devices: Iterable<Pick<DeviceRecord, "peer" | "kind" | "revokedAt">>,
): SigningKey[] {
  const kinds = new Map<string, DeviceKind>();
  for (const d of devices) {
    if (d.revokedAt !== undefined) continue;
    if (kinds.get(d.peer) !== "full") kinds.set(d.peer, d.kind);
  }
  const entries: SigningKey[] = [];
  for (const [peer, kind] of [...kinds].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const publicKey = publicKeyFromPeerId(peer);
    if (publicKey === undefined) continue;
    entries.push({
      kind: "user_scope",
      key: nkeyPublic(publicKey, Prefix.Account),
      role: `notify ${kind} ${sshFingerprint(publicKey)}`,
      template: notifyTemplate(set, kind, peer),
    });
  }
  return entries;
}

export interface NotifyAccountOptions {
  set: string;
  /** The notify account (its key pair, or its public key when the operator signs). */
  account: KeyPair | string;
  operator: KeyPair;
  devices: Iterable<Pick<DeviceRecord, "peer" | "kind" | "revokedAt">>;
  name?: string;
}

/** The notify account's JWT, signed by the operator. Throws when it would not fit in one message. */
export async function encodeNotifyAccount(options: NotifyAccountOptions): Promise<string> {
  const signingKeys = notifySigningKeys(options.set, options.devices);
  const jwt = await encodeAccount(
    options.name ?? `notify ${options.set}`,
    options.account,
    { limits: UNLIMITED_ACCOUNT, signing_keys: signingKeys },
    { signer: options.operator },
  );
  if (jwt.length > ACCOUNT_JWT_BYTES_MAX) {
    throw new JwtError(
      `the notify account JWT is ${jwt.length} bytes with ${signingKeys.length} devices, over the ${ACCOUNT_JWT_BYTES_MAX}-byte limit of one NATS message; unpair devices`,
    );
  }
  return jwt;
}

/** What followNotifyDevices needs of a notify service (NotifyService has both). */
export interface DeviceSource {
  devices(): DeviceRecord[];
  onDevicesChanged(listener: (devices: DeviceRecord[]) => void): () => void;
}

/**
 * Calls `publish(devices)` now and after every change of the device list, one call at a time; a
 * change during a call leads to exactly one more call with the newest list. A failure is logged and
 * retried on the next change. Returns a stop function and `idle()` (resolves when nothing is pending).
 */
export function followNotifyDevices(
  source: DeviceSource,
  publish: (devices: DeviceRecord[]) => Promise<void>,
  log: Log,
): { stop(): void; idle(): Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await publish(source.devices()).catch((error: unknown) =>
          log.warn({ error: String(error) }, "notify: could not update the notify account"),
        );
      } while (again && !stopped);
      running = undefined;
    })();
  };
  const unsubscribe = source.onDevicesChanged(kick);
  kick();
  return {
    stop() {
      stopped = true;
      unsubscribe();
    },
    async idle() {
      while (running) await running;
    },
  };
}
