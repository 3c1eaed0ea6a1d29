/**
 * Pushing a change instead of offering it pairwise. Automerge's sync protocol costs the sender one
 * exchange per peer and change (a sync message out, the peer's reply in, each through the sync
 * state's codec): a hub with 20 devices did 60 such steps for every edit, in one queue, so the
 * last device got the edit hundreds of ms after the first. A push is the change's own bytes in one
 * frame, with the sender's heads after it:
 *  - a hub broadcasts it once on the vault's bus (NATS does the fan-out) and answers only the
 *    peer the change came from, if it came by a sync message;
 *  - a device a hub hears pushes its own changes to its hubs, and relays nothing a hub sent;
 *  - a peer that holds what the push builds on applies it and replies nothing; one that does not
 *    (a lost push, a clone still arriving) restarts the pairwise exchange with the sender, which
 *    repairs any gap. So does the periodic announcement of heads, as before.
 * So no peer gets a pairwise offer ahead of need: one that lacks a push's parents asks for them.
 * A change too big for one frame still goes by the pairwise exchange, and so does every change when
 * nobody routes through a hub (a mesh of peers).
 */
import * as A from "@automerge/automerge";
import { ANNOUNCE_HEADS_MAX, PUSHED_CHANGES_MAX, encodeMessage } from "./messages.js";

/** How this engine passes a change on. */
export const PushMode = {
  /** A hub: one broadcast to every peer of the vault. */
  broadcast: "broadcast",
  /** A device a hub hears: its own changes, to each hub. */
  toHubs: "to-hubs",
  /** A mesh of peers: the pairwise exchange only. */
  none: "none",
} as const;
export type PushMode = (typeof PushMode)[keyof typeof PushMode];

export function pushModeOf(selfIsHub: boolean, hubHearsUs: boolean): PushMode {
  if (selfIsHub) return PushMode.broadcast;
  return hubHearsUs ? PushMode.toHubs : PushMode.none;
}

/**
 * The changes `doc` made since `before`, as one frame; undefined when there is nothing to push or
 * it would not fit one message (the pairwise exchange carries it then, in parts).
 */
export function pushFrame(doc: A.Doc<unknown>, before: A.Heads, messageBytesMax: number): Uint8Array | undefined {
  const changes = A.getChangesSince(doc, before);
  if (changes.length === 0 || changes.length > PUSHED_CHANGES_MAX) return undefined;
  let bytes = 0;
  for (const change of changes) bytes += change.length + 4;
  if (bytes >= messageBytesMax) return undefined;
  const heads = A.getHeads(doc);
  const frame = encodeMessage({
    type: "changes",
    heads: heads.slice(0, ANNOUNCE_HEADS_MAX),
    allHeads: heads.length <= ANNOUNCE_HEADS_MAX,
    changes,
  });
  return frame.length <= messageBytesMax ? frame : undefined;
}
