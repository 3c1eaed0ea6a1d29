/**
 * `notify join` against a hub in operator mode: the device holds no admitted key yet, so it enters
 * the hub's pairing door (agent/hub/pairing-door.ts) with the door credentials the pairing link
 * carries, presents the token there, and closes that connection. Afterwards the hub admits the device's own key with the notify-only
 * template, once the issuing agent's device list reaches the hub (`waitUntilAdmitted`).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats, NatsAuthRefusedError } from "../agent/nats/connect.js";
import { silentLog } from "../agent/sync/ports.js";
import { pairingDoorSubject } from "../agent/auth/accounts.js";
import { doorConnection } from "../agent/auth/pairing-door.js";
import type { TrustedHub } from "../agent/hub-link/hub-client.js";
import { NotifyClient } from "./client.js";
import { AuthorizationError, PairingError } from "./errors.js";
import type { PairAnswer } from "./handlers.js";
import type { Signer } from "./model.js";

/** The hub waits up to 2 s for the issuing service and up to 1 s for the door user's connect event. */
const DOOR_PAIR_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 5_000;

export interface DoorJoinOptions {
  url: string;
  /** The door credentials the pairing link carries. */
  door: string;
  hub: TrustedHub;
  set: string;
  token: string;
  signer: Signer;
  name: string;
  fingerprintOf: (peer: string) => string;
  expectFingerprint?: string;
}

async function openDoor(url: string, hub: TrustedHub, jwt: string): Promise<NatsConnection> {
  const door = doorConnection(jwt);
  if (!door) throw new PairingError("the pairing link's door credentials are damaged: copy the whole link again");
  try {
    return await connectNats({
      servers: url,
      name: "edgesync-pairing",
      log: silentLog,
      timeoutMs: CONNECT_TIMEOUT_MS,
      tls: hub.tls,
      authenticator: door.authenticator,
      inboxPrefix: door.inboxPrefix,
    });
  } catch (error) {
    if (error instanceof NatsAuthRefusedError) {
      throw new AuthorizationError(
        `the hub at ${url} refused the pairing link's door credentials: they expire with the token after 10 minutes; run \`edgesync notify pair\` again`,
        { cause: error },
      );
    }
    throw error;
  }
}

export async function joinThroughDoor(options: DoorJoinOptions): Promise<PairAnswer> {
  const nc = await openDoor(options.url, options.hub, options.door);
  try {
    const client = new NotifyClient({
      nc,
      signer: options.signer,
      name: options.name,
      set: options.set,
      pairVia: { subject: pairingDoorSubject(options.set), timeoutMs: DOOR_PAIR_TIMEOUT_MS },
    });
    return await client.join(options.token, options.fingerprintOf, options.expectFingerprint);
  } catch (error) {
    if (
      error instanceof PairingError &&
      /no agent of this notify set issued it/.test(error.message) &&
      error.cause !== undefined
    ) {
      throw new PairingError(
        `the hub at ${options.url} did not answer through its pairing door; check the address and retry`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    await nc.close().catch(() => {});
  }
}

/**
 * Polls `tryConnect` (a connection with the device's own key that asks whoami) until it works or
 * `deadlineMs` passes; the hub re-issues its account a moment after the pairing reached it.
 */
export async function waitUntilAdmitted(
  tryConnect: () => Promise<boolean>,
  settleMs: number,
  pollMs = 200,
): Promise<void> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    if (await tryConnect().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new PairingError(
        "paired, but the hub has not admitted this device's key yet; retry a notify command in a moment",
      );
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
