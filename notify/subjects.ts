/**
 * Notify's NATS subjects. User text (project and thread names) never appears in a subject: it is
 * hashed into a 24-hex-digit token (agent/nats/subjects.ts nameToken), so a name cannot add tokens
 * or wildcards. Layout (everything under `es.v1.notify.`):
 *
 *   <project>.<thread>                 live messages (two name tokens, both 24 hex digits)
 *   sync.<set>.announce.<from>         the notify document's sync bus (same shape as a vault's)
 *   sync.<set>.p.<to>.<from>
 *   rpc.<set>.<op>                     signed requests to a notify service (queue group: one answers)
 *   pair.<set>.accept                  pairing: a new device presents a token (every service hears it;
 *                                      only the one that issued the token answers)
 *
 * For NATS permissions (auth layer): a notify-only device needs publish on `es.v1.notify.*.*`,
 * `es.v1.notify.rpc.<set>.*`, `es.v1.notify.pair.<set>.accept`, subscribe on `es.v1.notify.*.*` and
 * `_INBOX.>` — never `es.v1.notify.sync.>` (that is the store, full devices only).
 */
import { nameToken, notifySubject } from "../agent/nats/subjects.js";

export { nameToken, notifySubject };

const NAME_TOKEN = /^[0-9a-f]{24}$/;
const SET_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const RPC_OP = /^[a-z][a-z-]{0,31}$/;

export const DEFAULT_SET = "default";
export const isSetId = (id: string) => SET_ID.test(id);

function checkSet(set: string): string {
  if (!isSetId(set)) throw new RangeError(`invalid notify set id ${JSON.stringify(set)}`);
  return set;
}

/** Every live message (what `watch` with no filter and the services' store subscription hear). */
export const LIVE_WILDCARD = "es.v1.notify.*.*";
export const projectWildcard = (project: string) => `es.v1.notify.${nameToken(project)}.*`;

/** The name tokens of a live-message subject; undefined for any other notify subject. */
export function parseLiveSubject(subject: string): { project: string; thread: string } | undefined {
  const t = subject.split(".");
  if (t.length !== 5 || t[0] !== "es" || t[1] !== "v1" || t[2] !== "notify" || !NAME_TOKEN.test(t[3]) || !NAME_TOKEN.test(t[4])) return undefined;
  return { project: t[3], thread: t[4] };
}

export const syncPrefix = (set: string) => `es.v1.notify.sync.${checkSet(set)}`;
export const rpcSubject = (set: string, op: string) => {
  if (!RPC_OP.test(op)) throw new RangeError(`invalid notify operation ${JSON.stringify(op)}`);
  return `es.v1.notify.rpc.${checkSet(set)}.${op}`;
};
export const rpcWildcard = (set: string) => `es.v1.notify.rpc.${checkSet(set)}.*`;
export const pairSubject = (set: string) => `es.v1.notify.pair.${checkSet(set)}.accept`;

/** The operation named by an rpc subject of `set`, or undefined. */
export function parseRpcSubject(set: string, subject: string): string | undefined {
  const prefix = `es.v1.notify.rpc.${set}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const op = subject.slice(prefix.length);
  return RPC_OP.test(op) ? op : undefined;
}

/** Queue groups: one service stores each live message, one answers each request. */
export const STORE_QUEUE = "edgesync-notify-store";
export const RPC_QUEUE = "edgesync-notify-rpc";
