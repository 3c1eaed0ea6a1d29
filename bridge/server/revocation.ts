/**
 * A ready peer loses the vault the moment its key does. Two signals, whichever comes first:
 *
 *  - the vault's own check (`BridgeVault.isAuthorised`, the authorized_keys a hub or leaf holds),
 *    asked again every AUTHORITY_RECHECK_MS and at once whenever the peer's NATS connection drops —
 *    NATS drops it without a word when the hub removes the key, and the client library would only
 *    learn why after its reconnect wait, seconds later;
 *  - NATS saying so (an authorization error on the peer's connection).
 *
 * A drop while the key still counts (a hub restart, a network blip) is left to the reconnect.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { BridgeVault } from "./session.js";

/**
 * A leaf's bridge has no NATS authority behind it, so this check is all that cuts a removed peer
 * there: half a second keeps "within a second" for the price of reading a small file twice a
 * second per peer.
 */
export const AUTHORITY_RECHECK_MS = 500;

const REVOKED = /authori[sz]ation|revoked|expired/i;

export interface AuthorityWatch {
  nc: NatsConnection;
  vault: BridgeVault;
  key: Uint8Array;
  onRevoked(reason: string): void;
}

/** Starts watching; the returned function stops it. */
export function watchAuthority(watch: AuthorityWatch): () => void {
  let stopped = false;
  let checking = false;
  const check = async () => {
    if (stopped || checking || !watch.vault.isAuthorised) return;
    checking = true;
    try {
      if (!(await watch.vault.isAuthorised(watch.key)) && !stopped)
        watch.onRevoked("the key was removed from the vault's authorized_keys");
    } catch {
      // an unreadable authorized_keys changes nothing: NATS still decides on a hub
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), AUTHORITY_RECHECK_MS);
  timer.unref?.();
  void (async () => {
    for await (const status of watch.nc.status()) {
      if (stopped) return;
      if (status.type === "disconnect") void check();
      if (status.type === "error" && REVOKED.test(status.error.message)) {
        watch.onRevoked(`NATS ended the peer's authority: ${status.error.message}`);
      }
    }
  })().catch(() => {});
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
