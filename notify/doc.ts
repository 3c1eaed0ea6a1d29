/**
 * The notify document: one Automerge doc per notify set, separate from every vault, synced between
 * full devices by the same SyncEngine as a vault, so history survives any one device being offline.
 *
 *   notify    { v, set }
 *   messages  32 buckets (by the id's first character) of id → the message's JSON exactly as signed
 *   devices   peer → device record JSON
 *
 * Every device starts from the same deterministic genesis change (fixed actor, time 0), so two
 * devices that create the doc independently share its maps instead of creating rival ones that
 * Automerge would resolve by dropping one side. Values are ImmutableStrings: a message is written
 * once and never edited, and the same id written twice (delivered twice) is a no-op.
 */
import * as A from "@automerge/automerge";
import { deviceProblem, type DeviceRecord } from "./devices.js";
import type { NotifyMessage } from "./model.js";
import { UserError } from "../agent/errors.js";

export interface NotifyDocShape {
  notify: { v: number; set: A.ImmutableString };
  messages: Record<string, Record<string, A.ImmutableString>>;
  devices: Record<string, A.ImmutableString>;
}
export type NotifyDoc = A.Doc<NotifyDocShape>;

export const NOTIFY_DOC_VERSION = 1;
const GENESIS_ACTOR = "00".repeat(16) as A.ActorId;
const BUCKETS = "0123456789abcdefghjkmnpqrstvwxyz";

export class NotifyDocError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotifyDocError";
  }
}

const bucketOf = (id: string) => id[0];

/** The genesis every device of `set` shares, byte for byte. */
export function genesisDoc(set: string): NotifyDoc {
  return A.change(
    A.init<NotifyDocShape>({ actor: GENESIS_ACTOR }),
    { time: 0, message: `notify set ${set}` },
    (doc) => {
      doc.notify = { v: NOTIFY_DOC_VERSION, set: new A.ImmutableString(set) };
      const messages: Record<string, Record<string, A.ImmutableString>> = {};
      for (const b of BUCKETS) messages[b] = {};
      doc.messages = messages;
      doc.devices = {};
    },
  );
}

/** Rebuilds the doc from stored chunks under this node's actor; a new device starts at genesis. */
export function loadNotifyDoc(
  chunks: readonly Uint8Array[],
  set: string,
  actor: string,
): { doc: NotifyDoc; fresh: boolean } {
  if (chunks.length === 0) return { doc: A.clone(genesisDoc(set), { actor: actor as A.ActorId }), fresh: true };
  let doc = A.init<NotifyDocShape>({ actor: actor as A.ActorId });
  for (const [i, chunk] of chunks.entries()) {
    try {
      doc = i === 0 ? A.load<NotifyDocShape>(chunk, { actor: actor as A.ActorId }) : A.loadIncremental(doc, chunk);
    } catch (error) {
      throw new NotifyDocError(
        `the notify store (chunk ${i + 1}/${chunks.length}) is unreadable; move its folder aside and let it sync again from another device`,
        { cause: error },
      );
    }
  }
  const stored = doc.notify?.set === undefined ? undefined : String(doc.notify.set);
  if (stored !== set)
    throw new NotifyDocError(`the notify store holds set ${JSON.stringify(stored)}, not ${JSON.stringify(set)}`);
  A.saveIncremental(doc); // everything loaded counts as saved
  return { doc, fresh: false };
}

export const hasMessage = (doc: NotifyDoc, id: string): boolean => doc.messages[bucketOf(id)]?.[id] !== undefined;

export function storedMessageJson(doc: NotifyDoc, id: string): string | undefined {
  const value = doc.messages[bucketOf(id)]?.[id];
  return value === undefined ? undefined : String(value);
}

/** Adds a message (its JSON is stored exactly as received); returns the same doc when it is already there. */
export function putMessage(doc: NotifyDoc, message: NotifyMessage, json: string, time: number): NotifyDoc {
  if (hasMessage(doc, message.id)) return doc;
  return A.change(doc, { time, message: `notify ${message.id}` }, (draft) => {
    draft.messages[bucketOf(message.id)][message.id] = new A.ImmutableString(json);
  });
}

export function* storedMessages(doc: NotifyDoc): Generator<[string, string]> {
  for (const bucket of Object.values(doc.messages ?? {})) {
    for (const [id, json] of Object.entries(bucket)) yield [id, String(json)];
  }
}

export function putDevice(doc: NotifyDoc, record: DeviceRecord, time: number): NotifyDoc {
  const problem = deviceProblem(record);
  if (problem) throw new NotifyDocError(`refusing to store a bad device record: ${problem}`);
  const json = JSON.stringify(record);
  if (storedDeviceJson(doc, record.peer) === json) return doc;
  return A.change(doc, { time, message: `device ${record.name}` }, (draft) => {
    draft.devices[record.peer] = new A.ImmutableString(json);
  });
}

export function storedDeviceJson(doc: NotifyDoc, peer: string): string | undefined {
  const value = doc.devices?.[peer];
  return value === undefined ? undefined : String(value);
}

export function* storedDevices(doc: NotifyDoc): Generator<[string, string]> {
  for (const [peer, json] of Object.entries(doc.devices ?? {})) yield [peer, String(json)];
}

/** Message ids and device keys written between `before` and the doc's heads. */
export function touched(doc: NotifyDoc, before: A.Heads): { messageIds: string[]; devicePeers: string[] } {
  const messageIds = new Set<string>();
  const devicePeers = new Set<string>();
  for (const patch of A.diff(doc, before, A.getHeads(doc))) {
    if (patch.path[0] === "messages" && patch.path.length >= 3) messageIds.add(String(patch.path[2]));
    else if (patch.path[0] === "messages" && patch.path.length === 2) {
      for (const id of Object.keys(doc.messages[String(patch.path[1])] ?? {})) messageIds.add(id);
    } else if (patch.path[0] === "devices" && patch.path.length >= 2) devicePeers.add(String(patch.path[1]));
  }
  return { messageIds: [...messageIds], devicePeers: [...devicePeers] };
}
