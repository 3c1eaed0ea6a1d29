/**
 * Routes between the hubs of one NATS cluster, authenticated like a peer mesh's
 * (auth/route-tls.ts: mutual TLS with certificates made from an ed25519 key), with one difference:
 * the key is the *cluster's*, not a device's. Every hub of the cluster holds the same route key
 * (`cluster.nk` in the server folder, carried by `edgesync hub export` / `hub import` with the
 * operator keys), presents a certificate made from it, and trusts exactly that key. A server
 * without it — a stranger's nats-server, or a hub started with its own fresh state — is refused at
 * the TLS handshake and receives nothing.
 *
 * Why one shared key rather than one per hub: a hub of the cluster already holds the operator key,
 * which can sign any account; a second secret per hub would add a list to keep in step on every
 * hub and protect nothing more.
 */
import { readFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { Prefix } from "@nats-io/nkeys";
import { sha256 } from "@noble/hashes/sha2.js";
import { Identity } from "../auth/identity.js";
import { ROUTE_TLS_DIR, writeRouteTls } from "../auth/route-tls.js";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { routeRefusal } from "../peer-routes.js";
import type { RouteTls } from "../nats/server-config.js";
import type { Log } from "../sync/ports.js";
import { HubStateError } from "./hub-state.js";

export const CLUSTER_KEY_FILE = "cluster.nk";
/** The cluster name hubs share; distinct from a peer mesh's, so neither is mistaken for the other. */
export const HUB_CLUSTER_NAME = "edgesync-hubs";
/** A refused route is explained at most once per remote host in this window. */
export const HUB_ROUTE_REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Hosts remembered for that window; beyond it the oldest are forgotten. */
const REFUSAL_HOSTS_MAX = 1024;

/** The cluster's route key from the server folder, made (0600) on the first clustered start. */
export async function loadOrCreateClusterKey(serverDir: string): Promise<{ key: Identity; created: boolean }> {
  const path = join(serverDir, CLUSTER_KEY_FILE);
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) =>
    error.code === "ENOENT" ? undefined : Promise.reject(error),
  );
  if (text !== undefined) {
    try {
      const { prefix, buf } = Codec.decodeSeed(new TextEncoder().encode(text.trim()));
      if (prefix !== Prefix.Cluster) throw new Error("not a cluster seed");
      return { key: new Identity(buf, "edgesync hub cluster"), created: false };
    } catch (error) {
      throw new HubStateError(
        `${path} is not a cluster nkey seed; copy it again from another hub of the cluster (\`edgesync hub export\`)`,
        { cause: error },
      );
    }
  }
  const key = Identity.generate("edgesync hub cluster");
  await writeFileAtomic(path, `${new TextDecoder().decode(key.natsSeed(Prefix.Cluster))}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return { key, created: true };
}

/**
 * The key every hub of the cluster signs its own users with (its replicas' and hub-account
 * connections), derived from the route key so the bundle carries it with nothing new. Account JWTs
 * list this one key for all hubs: each hub pushes them at start and on every change, the full
 * resolver replicates each push to every hub, and a JWT naming only the pushing hub's device key
 * would cut the other hubs' connections off. Any push from any hub now admits every hub.
 */
export function clusterSigningKey(routeKey: Identity): Identity {
  const seed = sha256(
    new Uint8Array([...new TextEncoder().encode("edgesync-hub-signing-v1\n"), ...routeKey.natsSeed(Prefix.Cluster)]),
  );
  return new Identity(seed, "edgesync hub cluster signing key");
}

/** Route certificate, key and trust list (the cluster key alone) under the hub server's state folder. */
export async function prepareHubRoutes(
  cluster: { key: Identity; created: boolean },
  stateDir: string,
  hostnames: string[] | undefined,
  log: Log,
): Promise<RouteTls> {
  const { key, created } = cluster;
  const { caPem: _caPem, ...files } = await writeRouteTls(join(stateDir, ROUTE_TLS_DIR), key, [key.publicKey], {
    hostnames,
  });
  log.info(
    { cluster: key.fingerprint, created },
    created
      ? "hub cluster: made this cluster's route key; other hubs join with `edgesync hub export` here and `edgesync hub import` there"
      : "hub cluster: routes admit only hubs holding this cluster's key",
  );
  return files;
}

/** Explains refused routes from the server's log, once per host and window. */
export class HubRouteExplainer {
  readonly #log: Log;
  readonly #explained = new Map<string, number>();

  constructor(log: Log) {
    this.#log = log;
  }

  explain(line: string, nowMs = Date.now()): void {
    const refusal = routeRefusal(line);
    if (!refusal) return;
    const host = refusal.remote.replace(/:\d+$/, "");
    const last = this.#explained.get(host);
    if (last !== undefined && nowMs - last < HUB_ROUTE_REFUSAL_LOG_INTERVAL_MS) return;
    this.#explained.delete(host);
    this.#explained.set(host, nowMs);
    if (this.#explained.size > REFUSAL_HOSTS_MAX) this.#explained.delete(this.#explained.keys().next().value as string);
    const message =
      refusal.reason === "name-mismatch"
        ? "hub route refused: the other hub's certificate does not name the address in --peer; start it with --tls-hostname ADDRESS"
        : "hub route refused: the other server does not hold this cluster's key; a new hub joins only after `edgesync hub import FILE` of a bundle from `edgesync hub export` on a hub of the cluster, before its first start";
    this.#log.warn({ remote: refusal.remote, reason: refusal.detail }, message);
  }
}
