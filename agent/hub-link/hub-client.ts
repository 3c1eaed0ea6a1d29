/**
 * A device talking to a hub: trust on first use of its TLS certificate, connections into the hub
 * account or a vault account with a self-issued user JWT, and the signed control requests.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { headers } from "@nats-io/transport-node";
import { probeNatsServerCert, probeServerCert } from "../auth/tls-probe.js";
import { PinStore, tlsOptionsForPinned, type PinnedTlsOptions } from "../auth/pins.js";
import { normaliseFingerprint } from "../auth/tls.js";
import { accountAuthenticator } from "../auth/account-user.js";
import { signRequest } from "../auth/signed-request.js";
import {
  deviceInboxPrefix,
  HUB_ACCOUNT_PUBLIC,
  HUB_DOOR_SUBJECT,
  HUB_REGISTER_SUBJECT,
  vaultAccountPublic,
} from "../auth/accounts.js";
import type { DoorUser } from "../auth/pairing-door.js";
import type { DeviceKey } from "../auth/identity.js";
import { connectNats } from "../nats/connect.js";
import { HUB_VAULTS_SUBJECT } from "../nats/subjects.js";
import {
  HUB_SERVER_HEADER,
  type CatalogueReply,
  type DoorRequestBody,
  type HubReply,
  type RegisterBody,
} from "../hub/hub-protocol.js";
import type { Log } from "../sync/ports.js";
import { UserError } from "../errors.js";

export class HubError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HubError";
  }
}

const HUB_REQUEST_TIMEOUT_MS = 5_000;

export interface TrustOptions {
  /** Record the certificate on first use without asking (`--accept-hub-key`). */
  accept?: boolean;
  /** Asked on first use when `accept` is not set; undefined = not interactive, refuse. */
  confirm?: (hub: string, fingerprint: string) => Promise<boolean>;
  /** The fingerprint the user was told out of band; the hub must present exactly it. */
  expectFingerprint?: string;
  pins?: PinStore;
}

export interface TrustedHub {
  certPem: string;
  fingerprint: string;
  tls: PinnedTlsOptions;
  firstUse: boolean;
}

const DEFAULT_PORTS: Record<string, number> = { "nats:": 4222, "tls:": 4222, "nats-leaf:": 7422, "wss:": 443 };

export function hubAddress(url: string): { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HubError(
      `${JSON.stringify(url)} is not a hub URL: use nats://HOST:4222 (clients) or nats-leaf://HOST:7422 (leaves)`,
    );
  }
  const port = parsed.port ? Number(parsed.port) : DEFAULT_PORTS[parsed.protocol];
  if (!port || !parsed.hostname)
    throw new HubError(
      `${JSON.stringify(url)} is not a hub URL: use nats://HOST:4222 (clients) or nats-leaf://HOST:7422 (leaves)`,
    );
  return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port };
}

/**
 * Reads the certificate the hub at `url` presents and checks it against the pin. First use:
 * recorded when accepted (flag or prompt), refused otherwise. A changed certificate is refused
 * with the PinMismatchError, whatever the options say.
 */
export async function trustHub(url: string, options: TrustOptions = {}): Promise<TrustedHub> {
  const { host, port } = hubAddress(url);
  // wss:// is TLS from the first byte (the hub's websocket listener, or a proxy in front of it):
  // the certificate pinned is the one presented there.
  const cert = url.startsWith("wss:") ? await probeServerCert(host, port) : await probeNatsServerCert(host, port);
  const pins = options.pins ?? new PinStore();
  if (options.expectFingerprint && normaliseFingerprint(options.expectFingerprint) !== cert.fingerprint) {
    throw new HubError(
      `the hub at ${url} presents certificate sha256 ${cert.fingerprint}, not the expected ${normaliseFingerprint(options.expectFingerprint)}; do not trust it`,
    );
  }
  const check = await pins.check(url, { certFingerprint: cert.fingerprint });
  if (check.status === "mismatch") throw check.error;
  let firstUse = false;
  if (check.status === "first-use") {
    const accepted =
      options.accept ||
      options.expectFingerprint !== undefined ||
      (await options.confirm?.(url, cert.fingerprint)) === true;
    if (!accepted) {
      throw new HubError(
        `the hub at ${url} is not trusted yet (certificate sha256 ${cert.fingerprint}); check that fingerprint with the hub's owner (\`edgesync hub show\` on the hub), then run \`edgesync hub trust ${url}\` or pass --accept-hub-key`,
      );
    }
    await pins.trust(url, { certFingerprint: cert.fingerprint });
    firstUse = true;
  }
  return {
    certPem: cert.pem,
    fingerprint: cert.fingerprint,
    tls: tlsOptionsForPinned(cert.pem, `the hub at ${url}`),
    firstUse,
  };
}

export interface AccountConnectOptions {
  url: string;
  device: DeviceKey;
  /** Account public key: HUB_ACCOUNT_PUBLIC or vaultAccountPublic(id). */
  account: string;
  tls?: PinnedTlsOptions;
  log: Log;
  name: string;
  timeoutMs?: number;
}

/**
 * A one-shot connection into an account of the hub (fails fast, like every one-shot command). Its
 * requests are answered on this device's own inboxes, the only ones the hub account lets it hear.
 */
export async function connectToAccount(options: AccountConnectOptions): Promise<NatsConnection> {
  return connectNats({
    servers: options.url,
    name: options.name,
    log: options.log,
    timeoutMs: options.timeoutMs ?? 10_000,
    tls: options.tls,
    inboxPrefix: deviceInboxPrefix(options.device.nkeyPublic),
    authenticator: await accountAuthenticator(options.device, options.account),
  });
}

export const connectToVault = (options: Omit<AccountConnectOptions, "account"> & { vaultId: string }) =>
  connectToAccount({ ...options, account: vaultAccountPublic(options.vaultId) });
export const connectToHubAccount = (options: Omit<AccountConnectOptions, "account">) =>
  connectToAccount({ ...options, account: HUB_ACCOUNT_PUBLIC });

/** Sends a signed request to the hub and unwraps its answer; HubError when it refuses. */
export async function hubRequest<T>(
  nc: NatsConnection,
  device: DeviceKey,
  subject: string,
  op: string,
  body: unknown,
  host = "",
  server = "",
): Promise<T> {
  const h = headers();
  if (host) h.set("es-host", host);
  if (server) h.set(HUB_SERVER_HEADER, server);
  let text: string;
  try {
    const reply = await nc.request(subject, await signRequest(device, op, body), {
      timeout: HUB_REQUEST_TIMEOUT_MS,
      headers: h,
    });
    text = reply.string();
  } catch (error) {
    throw new HubError(
      `no edgesync hub answered the ${op} request (${error instanceof Error ? error.message : String(error)}); is the hub running \`sync start --nats-role hub\`?`,
      { cause: error },
    );
  }
  let answer: HubReply<T>;
  try {
    answer = JSON.parse(text) as HubReply<T>;
  } catch (error) {
    throw new HubError(`the hub sent a malformed answer to ${op}`, { cause: error });
  }
  if (!answer.ok) throw new HubError(`the hub refused ${op}: ${answer.error}`);
  return answer.value;
}

/**
 * Asked of the hub whose server this connection reached (its id from the server's INFO): in a
 * cluster any hub could answer, and the reply carries that hub's key (pinned) and leafnode URL.
 */
export const requestCatalogue = (nc: NatsConnection, device: DeviceKey, host: string) =>
  hubRequest<CatalogueReply>(nc, device, HUB_VAULTS_SUBJECT, "catalogue", {}, host, nc.info?.server_id ?? "");
export const requestDoorUser = (nc: NatsConnection, device: DeviceKey, body: DoorRequestBody) =>
  hubRequest<DoorUser>(nc, device, HUB_DOOR_SUBJECT, "door", body);
export const requestRegister = (nc: NatsConnection, device: DeviceKey, body: RegisterBody) =>
  hubRequest<{ created: boolean }>(nc, device, HUB_REGISTER_SUBJECT, "register", body);
