/**
 * NATS subjects. Tokens are fixed lowercase words and validated ids — never raw file or user
 * names — so a crafted name cannot add a token or a wildcard. The sender is the last token of a
 * peer subject, which lets NATS permissions pin it to the connected user.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

const VAULT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PEER_ID = /^[A-Z2-7]{56}$|^[a-z0-9-]{1,64}$/;

export const isVaultId = (id: string) => VAULT_ID.test(id);
export const isPeerToken = (id: string) => PEER_ID.test(id);

function check(kind: string, value: string, ok: boolean): string {
  if (!ok) throw new RangeError(`invalid ${kind} for a subject: ${JSON.stringify(value)}`);
  return value;
}

export const vaultPrefix = (vaultId: string) => `es.v1.vault.${check("vault id", vaultId, isVaultId(vaultId))}`;
/** Announcements carry the sender as the last token, so permissions can pin it like peer subjects. */
export const vaultAnnounceSubject = (vaultId: string, from: string) =>
  `${vaultPrefix(vaultId)}.announce.${check("peer", from, isPeerToken(from))}`;
export const vaultAnnounceWildcard = (vaultId: string) => `${vaultPrefix(vaultId)}.announce.*`;
export const vaultPeerSubject = (vaultId: string, to: string, from: string) =>
  `${vaultPrefix(vaultId)}.p.${check("peer", to, isPeerToken(to))}.${check("peer", from, isPeerToken(from))}`;
export const vaultInboxWildcard = (vaultId: string, self: string) =>
  `${vaultPrefix(vaultId)}.p.${check("peer", self, isPeerToken(self))}.*`;
/**
 * Any bus with the vault bus's shape under another prefix (the notify document's, for one):
 * `<prefix>.announce.<from>` and `<prefix>.p.<to>.<from>`.
 */
export const busAnnounceSubject = (prefix: string, from: string) =>
  `${prefix}.announce.${check("peer", from, isPeerToken(from))}`;
export const busPeerSubject = (prefix: string, to: string, from: string) =>
  `${prefix}.p.${check("peer", to, isPeerToken(to))}.${check("peer", from, isPeerToken(from))}`;
export const busInboxWildcard = (prefix: string, self: string) =>
  `${prefix}.p.${check("peer", self, isPeerToken(self))}.*`;

/** Parses a subject of the bus under `prefix`; undefined for anything else. */
export function parseBusSubject(
  prefix: string,
  subject: string,
): { kind: "announce"; from: string } | { kind: "p"; to: string; from: string } | undefined {
  if (!subject.startsWith(`${prefix}.`)) return undefined;
  const t = subject.slice(prefix.length + 1).split(".");
  if (t.length === 2 && t[0] === "announce" && isPeerToken(t[1])) return { kind: "announce", from: t[1] };
  if (t.length === 3 && t[0] === "p" && isPeerToken(t[1]) && isPeerToken(t[2]))
    return { kind: "p", to: t[1], from: t[2] };
  return undefined;
}

/** Every subject of the vault's bus (for a hub or an account-wide permission). */
export const vaultSubjects = (vaultId: string) => `${vaultPrefix(vaultId)}.>`;

/** NATS's permission-template token for the connecting user's public key (scoped signing keys). */
export const USER_KEY_TEMPLATE = "{{subject()}}";

export interface SubjectPermissions {
  publish: string[];
  subscribe: string[];
}

/**
 * What one member of a vault needs, and no more: it sends only as itself (the `from` token is its
 * key, so it cannot speak for another peer), receives only its own inbox and the announcements,
 * and may use request/reply inboxes. `member` is a peer token, or USER_KEY_TEMPLATE in a scoped
 * signing key's template so one template serves every device.
 */
export function vaultSubjectsFor(vaultId: string, member: string): SubjectPermissions {
  const prefix = vaultPrefix(vaultId);
  const me = member === USER_KEY_TEMPLATE ? member : check("peer", member, isPeerToken(member));
  return {
    publish: [`${prefix}.p.*.${me}`, `${prefix}.announce.${me}`],
    subscribe: [`${prefix}.p.${me}.*`, `${prefix}.announce.*`, "_INBOX.>"],
  };
}

/** Hub discovery: request → list of vaults the hub replicates (id and name). */
export const HUB_VAULTS_SUBJECT = "es.v1.hub.vaults";

/** Parses `es.v1.vault.<id>.announce.<from>`; undefined for anything else. */
export function parseAnnounceSubject(subject: string): { vaultId: string; from: string } | undefined {
  const t = subject.split(".");
  if (t.length !== 6 || t[0] !== "es" || t[1] !== "v1" || t[2] !== "vault" || t[4] !== "announce") return undefined;
  if (!isVaultId(t[3]) || !isPeerToken(t[5])) return undefined;
  return { vaultId: t[3], from: t[5] };
}

/** Parses `es.v1.vault.<id>.p.<to>.<from>`; undefined for anything else. */
export function parsePeerSubject(subject: string): { vaultId: string; to: string; from: string } | undefined {
  const t = subject.split(".");
  if (t.length !== 7 || t[0] !== "es" || t[1] !== "v1" || t[2] !== "vault" || t[4] !== "p") return undefined;
  if (!isVaultId(t[3]) || !isPeerToken(t[5]) || !isPeerToken(t[6])) return undefined;
  return { vaultId: t[3], to: t[5], from: t[6] };
}

/** A subject-safe token for user text (project or thread names): a hash, never the text. */
export const nameToken = (name: string) => bytesToHex(sha256(new TextEncoder().encode(name))).slice(0, 24);
