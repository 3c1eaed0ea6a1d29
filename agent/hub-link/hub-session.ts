/**
 * What one-shot commands (clone, push, pull) open against a hub or peer: a secure session with an
 * edgesync hub (pinned TLS, operator mode: discovery in the hub account, sync in the vault's
 * account), or a plain one with a peer or a bare nats-server that offers no TLS (LAN meshes,
 * attach mode), where discovery is an unsigned request and every vault shares one connection; a
 * peer's own server admits only its agent's local user (nats/local-connect.ts says how to get in).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { headers } from "@nats-io/transport-node";
import { ProbeError } from "../auth/tls-probe.js";
import { PinStore } from "../auth/pins.js";
import { parseSshPublicLine, sshFingerprint } from "../auth/openssh-format.js";
import type { DeviceKey } from "../auth/identity.js";
import { ConnectError } from "../nats/connect.js";
import { connectPlainNats } from "../nats/local-connect.js";
import { edgesyncHome } from "../auth/identity.js";
import { HUB_VAULTS_SUBJECT } from "../nats/subjects.js";
import {
  connectToHubAccount,
  connectToVault,
  hubAddress,
  requestCatalogue,
  trustHub,
  type TrustOptions,
} from "./hub-client.js";
import type { CatalogueReply } from "../hub/hub-protocol.js";
import type { Log } from "../sync/ports.js";

export interface HubSessionOptions {
  url: string;
  device: DeviceKey;
  log: Log;
  trust: TrustOptions;
  timeoutMs?: number;
}

export interface HubSession {
  /** True for an edgesync hub: pinned TLS and NATS-enforced keys. */
  secure: boolean;
  /** The pinned certificate's SHA-256 (secure sessions). */
  fingerprint?: string;
  /** The vaults this device may clone, and the hub's leafnode URL. */
  catalogue(): Promise<Omit<CatalogueReply, "hubKey"> & { hubKey?: string }>;
  /** A connection that carries the vault's sync traffic; the caller closes it. */
  vaultConnection(vaultId: string): Promise<NatsConnection>;
}

/** The hub's device key is pinned beside its certificate: a hub re-keyed behind the same certificate is refused too. */
async function pinHubKey(url: string, certFingerprint: string, hubKey: string, pins = new PinStore()): Promise<void> {
  const hubKeyFingerprint = sshFingerprint(parseSshPublicLine(hubKey).publicKey);
  const check = await pins.check(url, { certFingerprint, hubKeyFingerprint });
  if (check.status === "mismatch") throw check.error;
  if (check.status !== "ok" || check.pin.hubKeyFingerprint === undefined)
    await pins.trust(url, { certFingerprint, hubKeyFingerprint });
}

// tls-probe.ts says this when the server's INFO offers no TLS: a peer or a bare nats-server.
const NO_TLS = /does not offer TLS/;

export async function openHubSession(options: HubSessionOptions): Promise<HubSession> {
  const { url, device, log } = options;
  const timeoutMs = Math.min(options.timeoutMs ?? 10_000, 10_000);
  const host = hubAddress(url).host;
  let trusted: Awaited<ReturnType<typeof trustHub>> | undefined;
  try {
    trusted = await trustHub(url, options.trust);
  } catch (error) {
    if (!(error instanceof ProbeError && NO_TLS.test(error.message)))
      throw error instanceof ProbeError ? new ConnectError(error.message, { cause: error }) : error;
  }
  if (trusted) {
    const { tls, fingerprint } = trusted;
    return {
      secure: true,
      fingerprint,
      async catalogue() {
        const nc = await connectToHubAccount({ url, device, tls, log, name: "edgesync-clone", timeoutMs });
        let reply: CatalogueReply;
        try {
          reply = await requestCatalogue(nc, device, host);
        } finally {
          await nc.close();
        }
        await pinHubKey(url, fingerprint, reply.hubKey, options.trust.pins);
        return reply;
      },
      vaultConnection: (vaultId) =>
        connectToVault({ url, device, tls, log, name: "edgesync-one-shot", vaultId, timeoutMs }),
    };
  }
  const plain = () =>
    connectPlainNats({ servers: url, name: "edgesync-one-shot", log, timeoutMs, home: edgesyncHome() });
  return {
    secure: false,
    async catalogue() {
      const nc = await plain();
      try {
        const h = headers();
        h.set("es-host", host);
        const reply = await nc.request(HUB_VAULTS_SUBJECT, new Uint8Array(), { timeout: 5_000, headers: h });
        return JSON.parse(reply.string()) as Awaited<ReturnType<HubSession["catalogue"]>>;
      } catch (error) {
        throw new ConnectError(
          `no edgesync agent answered at ${url} (${error instanceof Error ? error.message : String(error)}); check the address and that an agent runs there`,
          { cause: error },
        );
      } finally {
        await nc.close();
      }
    },
    vaultConnection: () => plain(),
  };
}
