/**
 * Trust on first use for hubs: the first connection records the hub's TLS certificate
 * fingerprint (and its device key fingerprint) in `$EDGESYNC_HOME/known_hubs.json`; later
 * connections must present the same, or they are refused with the command that re-trusts.
 * Like ssh's known_hosts, but one JSON document written atomically.
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { PeerCertificate } from "node:tls";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { edgesyncHome } from "./identity.js";
import { certFingerprint, normaliseFingerprint } from "./tls.js";
import { UserError } from "../errors.js";

export const KNOWN_HUBS_FILE = "known_hubs.json";
/** Far more hubs than anyone trusts; a larger file is damaged or hostile. */
export const KNOWN_HUBS_BYTES_MAX = 1024 * 1024;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const SSH_FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

export const defaultKnownHubsPath = () => join(edgesyncHome(), KNOWN_HUBS_FILE);

/** The hub presented a different certificate or key than the one trusted for it. */
export class PinMismatchError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PinMismatchError";
  }
}

/** known_hubs.json cannot be read as a pin store. */
export class PinStoreError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PinStoreError";
  }
}

export interface HubPin {
  /** SHA-256 of the hub certificate's DER, lowercase hex (tls.ts certFingerprint). */
  certFingerprint: string;
  /** The hub's device key, `SHA256:…` as ssh-keygen prints it, when known. */
  hubKeyFingerprint?: string;
  /** When the pin was recorded (ms since epoch). */
  trustedAtMs: number;
}

export type Observed = { certFingerprint: string; hubKeyFingerprint?: string };

export type PinCheck =
  | { status: "ok"; pin: HubPin }
  | { status: "first-use" }
  | { status: "mismatch"; pin: HubPin; error: PinMismatchError };

interface KnownHubsFile {
  version: 1;
  hubs: Record<string, HubPin>;
}

const DEFAULT_PORTS: Record<string, string> = {
  "nats:": "4222",
  "tls:": "4222",
  "nats-leaf:": "7422",
  "ws:": "80",
  "wss:": "443",
};

/**
 * The key a hub is pinned under: `host:port` for a URL (scheme dropped, default port filled in,
 * so `nats://h` and `tls://h:4222` are one hub), else the trimmed, lowercased name.
 */
export function hubPinName(hubUrlOrName: string): string {
  const text = hubUrlOrName.trim();
  if (!text.includes("://")) {
    if (text === "") throw new RangeError("a hub name or URL is required");
    return text.toLowerCase();
  }
  const url = new URL(text);
  return `${url.hostname.toLowerCase()}:${url.port || DEFAULT_PORTS[url.protocol] || "4222"}`;
}

function validPin(value: unknown): value is HubPin {
  const pin = value as HubPin;
  return (
    typeof pin === "object" &&
    pin !== null &&
    typeof pin.certFingerprint === "string" &&
    SHA256_HEX.test(pin.certFingerprint) &&
    (pin.hubKeyFingerprint === undefined ||
      (typeof pin.hubKeyFingerprint === "string" && SSH_FINGERPRINT.test(pin.hubKeyFingerprint))) &&
    Number.isFinite(pin.trustedAtMs)
  );
}

export class PinStore {
  constructor(readonly path: string = defaultKnownHubsPath()) {}

  async #read(): Promise<KnownHubsFile> {
    const text = await readFile(this.path, "utf8").catch((error: NodeJS.ErrnoException) =>
      error.code === "ENOENT" ? undefined : Promise.reject(error),
    );
    if (text === undefined) return { version: 1, hubs: {} };
    const fix = `fix or delete it (every hub must then be trusted again)`;
    if (text.length > KNOWN_HUBS_BYTES_MAX)
      throw new PinStoreError(`${this.path} is larger than ${KNOWN_HUBS_BYTES_MAX} bytes; ${fix}`);
    let data: KnownHubsFile;
    try {
      data = JSON.parse(text) as KnownHubsFile;
    } catch (error) {
      throw new PinStoreError(`${this.path} is not valid JSON; ${fix}`, { cause: error });
    }
    if (data?.version !== 1 || typeof data.hubs !== "object" || data.hubs === null)
      throw new PinStoreError(`${this.path} is not a known-hubs file (version 1); ${fix}`);
    for (const [name, pin] of Object.entries(data.hubs))
      if (!validPin(pin)) throw new PinStoreError(`${this.path}: the entry for ${name} is damaged; ${fix}`);
    return data;
  }

  async #write(data: KnownHubsFile): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    await chmod(this.path, 0o600);
  }

  /** Records (or replaces) the pin for a hub. */
  async trust(hubUrlOrName: string, observed: Observed, nowMs = Date.now()): Promise<HubPin> {
    const pin: HubPin = { certFingerprint: normaliseFingerprint(observed.certFingerprint), trustedAtMs: nowMs };
    if (observed.hubKeyFingerprint !== undefined) pin.hubKeyFingerprint = observed.hubKeyFingerprint;
    if (!validPin(pin))
      throw new RangeError(
        `not a SHA-256 certificate fingerprint or SHA256: key fingerprint: ${JSON.stringify(observed)}`,
      );
    const data = await this.#read();
    data.hubs[hubPinName(hubUrlOrName)] = pin;
    await this.#write(data);
    return pin;
  }

  /** Drops a hub's pin; true when there was one. */
  async forget(hubUrlOrName: string): Promise<boolean> {
    const data = await this.#read();
    const name = hubPinName(hubUrlOrName);
    if (!(name in data.hubs)) return false;
    delete data.hubs[name];
    await this.#write(data);
    return true;
  }

  async get(hubUrlOrName: string): Promise<HubPin | undefined> {
    return (await this.#read()).hubs[hubPinName(hubUrlOrName)];
  }

  async list(): Promise<{ name: string; pin: HubPin }[]> {
    return Object.entries((await this.#read()).hubs)
      .map(([name, pin]) => ({ name, pin }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Compares what a hub presented with its pin. Mismatch carries the error to throw. */
  async check(hubUrlOrName: string, observed: Observed): Promise<PinCheck> {
    const name = hubPinName(hubUrlOrName);
    const pin = (await this.#read()).hubs[name];
    return checkPin(name, pin, observed);
  }
}

/** The pure comparison behind PinStore.check. */
export function checkPin(name: string, pin: HubPin | undefined, observed: Observed): PinCheck {
  if (pin === undefined) return { status: "first-use" };
  const retrust = `if the hub was re-keyed on purpose, run \`edgesync hub forget ${name}\` and trust it again; otherwise someone may be intercepting the connection`;
  const cert = normaliseFingerprint(observed.certFingerprint);
  if (cert !== pin.certFingerprint) {
    return {
      status: "mismatch",
      pin,
      error: new PinMismatchError(
        `the TLS certificate of hub ${name} changed (trusted sha256 ${pin.certFingerprint.slice(0, 16)}…, now ${cert.slice(0, 16)}…); ${retrust}`,
      ),
    };
  }
  if (
    pin.hubKeyFingerprint !== undefined &&
    observed.hubKeyFingerprint !== undefined &&
    observed.hubKeyFingerprint !== pin.hubKeyFingerprint
  ) {
    return {
      status: "mismatch",
      pin,
      error: new PinMismatchError(
        `the key of hub ${name} changed (trusted ${pin.hubKeyFingerprint}, now ${observed.hubKeyFingerprint}); ${retrust}`,
      ),
    };
  }
  return { status: "ok", pin };
}

/** TLS client options that trust exactly one certificate (for Node `tls.connect` and nats.js). */
export interface PinnedTlsOptions {
  ca: string;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
}

/**
 * Trusts only `certPem`: it is the sole CA, and the presented leaf must be that very certificate
 * (by SHA-256 of its DER) — the host name is not checked, since the pin is stronger than a name
 * and lets clients dial the hub by any address. Never combine with `rejectUnauthorized: false`:
 * Node then skips `checkServerIdentity` altogether.
 */
export function tlsOptionsForPinned(certPem: string, hubName = "the hub"): PinnedTlsOptions {
  const pinned = certFingerprint(certPem);
  return {
    ca: certPem,
    checkServerIdentity: (_host, cert) => {
      const presented = cert?.raw ? createHash("sha256").update(cert.raw).digest("hex") : "none";
      if (presented === pinned) return undefined;
      return new PinMismatchError(
        `${hubName} presented a TLS certificate (sha256 ${presented.slice(0, 16)}…) other than the pinned one (${pinned.slice(0, 16)}…); run \`edgesync hub forget\` and trust it again only if the hub was re-keyed on purpose`,
      );
    },
  };
}
