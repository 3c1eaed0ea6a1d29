/**
 * Notify's NATS subjects. Every subject starts with its set (`es.v1.notify.<set>.`), so NATS
 * permissions can give each device exactly the sets it belongs to. A set is a vault id (the vault's
 * members and the devices paired to it) or `default` (the hub's own: the hub, its admins and the
 * devices paired to it). User text (project and thread names) never appears in a subject: it is
 * hashed into a 24-hex-digit token (subjects.ts nameToken), so a name cannot add tokens
 * or wildcards. Layout (everything under `es.v1.notify.<set>.`):
 *
 *   live.<project>.<thread>            live messages (two name tokens, both 24 hex digits)
 *   sync.announce.<from>               the notify document's sync bus (same shape as a vault's)
 *   sync.p.<to>.<from>
 *   rpc.<op>                           signed requests to a notify service (queue group: one answers)
 *   pair.accept                        pairing: a new device presents a token (every service hears it;
 *                                      only the one that issued the token answers)
 *   pair.relay.<nonce>                 that answer, when the hub's pairing door relayed the token
 *
 * The kinds (`live`, `sync`, `rpc`, `pair`) come right after the set so that each kind is one
 * `>`-terminated prefix: a subscribe permission never needs a `*` in last place, which nats-server
 * 2.9 would let a subscriber fill with a literal `>` and so reach deeper subjects (nats-auth.ts).
 */
import { nameToken } from "./subjects.js";

export { nameToken };

const NAME_TOKEN = /^[0-9a-f]{24}$/;
/** A vault id (lowercase UUID) or a short name such as `default`: one subject token, no wildcards. */
const SET_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const RPC_OP = /^[a-z][a-z-]{0,31}$/;

/** The hub's own set (and, without a hub, the one every agent shares). */
export const DEFAULT_SET = "default";
export const isSetId = (id: string) => SET_ID.test(id);

function checkSet(set: string): string {
  if (!isSetId(set)) throw new RangeError(`invalid notify set id ${JSON.stringify(set)}`);
  return set;
}

/** Everything of one set (a full device's permission). */
export const setSubjects = (set: string) => `es.v1.notify.${checkSet(set)}.>`;
const livePrefix = (set: string) => `es.v1.notify.${checkSet(set)}.live`;

/** The live subject of a message of `set`. */
export const notifySubject = (set: string, project: string, thread: string) =>
  `${livePrefix(set)}.${nameToken(project)}.${nameToken(thread)}`;
/** Every live message of a set (what `watch` with no filter and the services' store subscription hear). */
export const liveWildcard = (set: string) => `${livePrefix(set)}.*.*`;
/** Every live subject of a set, for permissions: a `>` after fixed tokens cannot be widened. */
export const liveSubjects = (set: string) => `${livePrefix(set)}.>`;
export const projectWildcard = (set: string, project: string) => `${livePrefix(set)}.${nameToken(project)}.*`;

/** The name tokens of a live-message subject of `set`; undefined for any other subject. */
export function parseLiveSubject(set: string, subject: string): { project: string; thread: string } | undefined {
  const prefix = `${livePrefix(set)}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const t = subject.slice(prefix.length).split(".");
  if (t.length !== 2 || !NAME_TOKEN.test(t[0]) || !NAME_TOKEN.test(t[1])) return undefined;
  return { project: t[0], thread: t[1] };
}

export const syncPrefix = (set: string) => `es.v1.notify.${checkSet(set)}.sync`;
export const rpcSubject = (set: string, op: string) => {
  if (!RPC_OP.test(op)) throw new RangeError(`invalid notify operation ${JSON.stringify(op)}`);
  return `es.v1.notify.${checkSet(set)}.rpc.${op}`;
};
export const rpcWildcard = (set: string) => `es.v1.notify.${checkSet(set)}.rpc.*`;
export const pairSubject = (set: string) => `es.v1.notify.${checkSet(set)}.pair.accept`;
/** Where an issuing service answers a redeem the hub's pairing door relays (agent/hub/pairing-door.ts); `nonce` is hex. */
export const pairRelaySubject = (set: string, nonce: string) => `es.v1.notify.${checkSet(set)}.pair.relay.${nonce}`;

/** The operation named by an rpc subject of `set`, or undefined. */
export function parseRpcSubject(set: string, subject: string): string | undefined {
  const prefix = `es.v1.notify.${set}.rpc.`;
  if (!subject.startsWith(prefix)) return undefined;
  const op = subject.slice(prefix.length);
  return RPC_OP.test(op) ? op : undefined;
}

/** Queue groups: one service stores each live message, one answers each request. */
export const STORE_QUEUE = "edgesync-notify-store";
export const RPC_QUEUE = "edgesync-notify-rpc";
