/**
 * A peer's side of route authentication (the certificates themselves: auth/route-tls.ts).
 *
 * Which keys a peer routes with: its own, and every key in the authorized_keys of *each* vault it
 * syncs. A route carries every subject of the server, so a device trusted by one vault but not
 * another would read both; such a key gets no route (and the log says why).
 *
 * When the lists change (a synced authorized_keys edit), the trust file and pins are rewritten
 * and the server reloads them: new routes are checked against the new anchors, and routes of a
 * removed key are closed by the pin check. Nothing is lost when a route drops or a server
 * restarts: the agents resynchronise from heads when the link is back.
 *
 * The server's log is read for refused routes, which are explained once per address and minute:
 * a peer of an older edgesync (routes without TLS), a key not trusted, or a certificate that does
 * not name the address it was dialled at.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Identity, type DeviceKey } from "./auth/identity.js";
import { parseAuthorizedKeys } from "./auth/authorized-keys.js";
import { ROUTE_TLS_DIR, writeRouteTls, writeRouteTrust, type RouteTrust } from "./auth/route-tls.js";
import { AUTHORIZED_KEYS } from "./fs/sync-filter.js";
import type { RouteTls } from "./nats/server-config.js";
import type { Log } from "./sync/ports.js";
import { UserError } from "./errors.js";

/** A refused route is explained at most once per remote address in this window. */
export const ROUTE_REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Addresses remembered for that window; beyond it the oldest are forgotten (a flood cannot grow the map). */
const REFUSAL_ADDRESSES_MAX = 1024;

export class PeerMeshError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PeerMeshError";
  }
}

export interface PeerRoutesConfig {
  /** The server's state folder; the certificate, key and trust list go in its route-tls/. */
  stateDir: string;
  device: DeviceKey;
  /** The vaults this peer syncs, by id, with their folders (authorized_keys is read from disk at start). */
  vaults: { id: string; root: string }[];
  /** Names or addresses other peers dial this one at, added to its certificate. */
  hostnames?: string[];
  /** Rewrites the server's config with the new pins and reloads it. */
  reload: (tls: RouteTls) => Promise<void>;
  log: Log;
}

/**
 * Who refused: `untrusted` — this server refused the other's certificate (or it brought none);
 * `name-mismatch` — the server dialled presents a certificate without the address dialled;
 * `refused-by-other` — the other server refused this one's certificate.
 */
export type RouteRefusal = "untrusted" | "name-mismatch" | "refused-by-other";

const REFUSAL_MESSAGES: Record<RouteRefusal, string> = {
  untrusted:
    "route refused: the other server proved no key of this vault's authorized_keys. Routes now use TLS with device keys: upgrade every peer of the mesh to this edgesync version and add each peer's key to authorized_keys",
  "name-mismatch":
    "route refused: the other peer's certificate does not name the address it was dialled at; start that peer with --tls-hostname ADDRESS (the name or IP in this peer's --peer URL)",
  "refused-by-other":
    "route refused by the other side: it does not trust this device's key (add it to the vault's authorized_keys and upgrade that peer to this edgesync version), or it dialled an address this peer's certificate does not name (start this peer with --tls-hostname ADDRESS)",
};

/** Why a nats-server log line says a route was refused, or undefined when it says nothing of it. */
export function routeRefusal(line: string): { remote: string; reason: RouteRefusal; detail: string } | undefined {
  const m = /\] (\S+) - rid:\d+ - TLS route handshake error: (.*)$/.exec(line);
  if (!m) return undefined;
  const detail = m[2];
  const reason = /certificate is valid for|not valid for any names/.test(detail)
    ? "name-mismatch"
    : /remote error/.test(detail)
      ? "refused-by-other"
      : "untrusted";
  return { remote: m[1], reason, detail };
}

const hostOf = (remote: string) => remote.replace(/:\d+$/, "");

export class PeerRoutes {
  readonly #cfg: PeerRoutesConfig;
  readonly #identity: Identity;
  readonly #dir: string;
  readonly #texts = new Map<string, string | undefined>();
  #trust: RouteTrust | undefined;
  #files: RouteTls | undefined;
  readonly #explained = new Map<string, number>();
  #updates: Promise<void> = Promise.resolve();

  constructor(config: PeerRoutesConfig) {
    if (!(config.device instanceof Identity)) {
      throw new PeerMeshError(
        "the peer role needs the device key file: its nats-server proves the key to the other peers in the route's TLS handshake, which an ssh-agent cannot do for it; drop --identity-agent (or EDGESYNC_IDENTITY_AGENT), or sync through a hub",
      );
    }
    this.#cfg = config;
    this.#identity = config.device;
    this.#dir = join(config.stateDir, ROUTE_TLS_DIR);
  }

  /** Writes the certificate, key and trust list from the vaults' authorized_keys on disk. */
  async prepare(): Promise<RouteTls> {
    for (const vault of this.#cfg.vaults) {
      this.#texts.set(vault.id, await readFile(join(vault.root, AUTHORIZED_KEYS), "utf8").catch(() => undefined));
    }
    const keys = this.#trustedKeys();
    const { caPem, ...files } = await writeRouteTls(this.#dir, this.#identity, keys, {
      hostnames: this.#cfg.hostnames,
    });
    this.#trust = { caPem, pins: files.pins };
    this.#files = files;
    this.#cfg.log.info(
      { trusted: files.pins.length, dir: this.#dir },
      "peer routes: mutual TLS with device keys; only the vaults' authorized keys may route here",
    );
    return files;
  }

  /**
   * A vault's authorized_keys as its document now holds it; reloads the server when the trusted
   * set changed. Updates run one at a time, in the order they were asked for.
   */
  update(vaultId: string, text: string | undefined): Promise<void> {
    const next = this.#updates.then(() => this.#update(vaultId, text));
    this.#updates = next.catch(() => {}); // the caller logs the error; later updates still run
    return next;
  }

  async #update(vaultId: string, text: string | undefined): Promise<void> {
    if (!this.#files || !this.#texts.has(vaultId) || this.#texts.get(vaultId) === text) return;
    this.#texts.set(vaultId, text);
    const written = await writeRouteTrust(this.#dir, this.#trustedKeys(), this.#trust);
    if (!written.changed) return;
    const before = new Set(this.#trust?.pins);
    this.#trust = written;
    this.#files = { ...this.#files, pins: written.pins };
    await this.#cfg.reload(this.#files);
    const removed = [...before].filter((pin) => !written.pins.includes(pin)).length;
    this.#cfg.log.info(
      { vault: vaultId, trusted: written.pins.length, removed },
      "peer routes: trusted keys changed; routes of removed keys were closed",
    );
  }

  /** Explains a refused route from a server log line (throttled per address). */
  explain(line: string, nowMs = Date.now()): void {
    const refusal = routeRefusal(line);
    if (!refusal) return;
    const host = hostOf(refusal.remote);
    const last = this.#explained.get(host);
    if (last !== undefined && nowMs - last < ROUTE_REFUSAL_LOG_INTERVAL_MS) return;
    this.#explained.delete(host);
    this.#explained.set(host, nowMs);
    if (this.#explained.size > REFUSAL_ADDRESSES_MAX)
      this.#explained.delete(this.#explained.keys().next().value as string);
    this.#cfg.log.warn({ remote: refusal.remote, reason: refusal.detail }, REFUSAL_MESSAGES[refusal.reason]);
  }

  /** Own key, plus the keys every vault authorizes (see the header for why all of them). */
  #trustedKeys(): Uint8Array[] {
    const perVault = [...this.#texts.entries()].map(([id, text]) => ({ id, keys: parseAuthorizedKeys(text).keys }));
    const inAll =
      perVault.length === 0
        ? []
        : perVault[0].keys.filter((key) =>
            perVault.every((v) => v.keys.some((k) => k.fingerprint === key.fingerprint)),
          );
    for (const vault of perVault) {
      for (const key of vault.keys) {
        if (!inAll.includes(key) && !inAll.some((k) => k.fingerprint === key.fingerprint)) {
          this.#cfg.log.warn(
            { vault: vault.id, key: key.fingerprint, comment: key.comment },
            "peer routes: this key is not in every vault this peer syncs, so it gets no route (a route carries all of them)",
          );
        }
      }
    }
    return [this.#identity.publicKey, ...inAll.map((k) => k.publicKey)];
  }
}
