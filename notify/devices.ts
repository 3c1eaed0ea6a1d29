/**
 * Devices of a notify set, as recorded in the synced notify document. Two kinds:
 *  - `full`: an agent's own device key (it registers itself on start); full devices sync the store
 *    and may pair or unpair others;
 *  - `notify`: a paired phone, browser or CLI: may send, read and answer messages, nothing else —
 *    no vault access and no store sync.
 * Unpairing keeps the record with `revokedAt` so every device (and the auth layer) sees the removal.
 * The auth layer turns `notifyKeys()` into NATS rights (see the list in agent/nats/notify-subjects.ts).
 */
import { isPeerId } from "./encoding.js";
import { nameProblem } from "./model.js";

export const DEVICE_KINDS = ["full", "notify"] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

export interface DeviceRecord {
  v: 1;
  /** The device's key as a `U…` nkey. */
  peer: string;
  name: string;
  kind: DeviceKind;
  addedAt: number;
  /** The peer that added it (itself for a full device). */
  addedBy: string;
  revokedAt?: number;
  revokedBy?: string;
}

const FIELDS = new Set(["v", "peer", "name", "kind", "addedAt", "addedBy", "revokedAt", "revokedBy"]);

export function deviceProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "not an object";
  const d = value as Record<string, unknown>;
  const unknown = Object.keys(d).find((k) => !FIELDS.has(k));
  if (unknown !== undefined) return `unknown field ${JSON.stringify(unknown).slice(0, 40)}`;
  if (d.v !== 1) return "unsupported version";
  if (typeof d.peer !== "string" || !isPeerId(d.peer)) return "bad device key";
  if (typeof d.addedBy !== "string" || !isPeerId(d.addedBy)) return "bad addedBy key";
  if (!(DEVICE_KINDS as readonly unknown[]).includes(d.kind)) return "unknown device kind";
  if (typeof d.addedAt !== "number" || !Number.isSafeInteger(d.addedAt)) return "bad addedAt";
  if (d.revokedAt !== undefined && (typeof d.revokedAt !== "number" || !Number.isSafeInteger(d.revokedAt)))
    return "bad revokedAt";
  if (d.revokedBy !== undefined && (typeof d.revokedBy !== "string" || !isPeerId(d.revokedBy))) return "bad revokedBy";
  return nameProblem("device name", d.name);
}

export const isActive = (d: DeviceRecord | undefined): d is DeviceRecord =>
  d !== undefined && d.revokedAt === undefined;

/** What a device may do, by operation class. */
export function mayRead(d: DeviceRecord | undefined): boolean {
  return isActive(d);
}
export function mayAdminister(d: DeviceRecord | undefined): boolean {
  return isActive(d) && d.kind === "full";
}

/**
 * The notify-only keys the auth layer must authorise: each becomes a scoped signing key with the
 * notify-only permission template; a key that leaves this list (unpaired) must be cut off.
 */
export function notifyKeys(devices: Iterable<DeviceRecord>): { peer: string; name: string }[] {
  const out: { peer: string; name: string }[] = [];
  for (const d of devices) if (isActive(d) && d.kind === "notify") out.push({ peer: d.peer, name: d.name });
  return out.sort((a, b) => (a.peer < b.peer ? -1 : 1));
}

/** The active notify device called `name` (names are unique among active notify devices). */
export function findByName(devices: Iterable<DeviceRecord>, name: string): DeviceRecord | undefined {
  for (const d of devices) if (isActive(d) && d.kind === "notify" && d.name === name) return d;
  return undefined;
}
