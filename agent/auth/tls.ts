/**
 * The hub's self-signed TLS certificate. Clients trust it by pinning its SHA-256 fingerprint on
 * first use (pins.ts), not through a CA, so the certificate is long-lived and names every address
 * a client may dial; a new certificate means every client must trust the hub again.
 */
import { X509Certificate, createPrivateKey, createHash } from "node:crypto";
import { chmod, mkdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { UserError } from "../errors.js";

export const TLS_CERT_FILE = "tls.crt";
export const TLS_KEY_FILE = "tls.key";
/** Ten years: expiry would break every pin at once, and the pin, not the date, carries the trust. */
export const HUB_CERT_VALID_DAYS = 3650;
/** Addresses every hub certificate names, so local clients and tests connect by any of them. */
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
const DAY_MS = 86_400_000;

export class TlsMaterialError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TlsMaterialError";
  }
}

export interface HubTlsFiles {
  certFile: string;
  keyFile: string;
  certPem: string;
  /** SHA-256 of the certificate's DER, lowercase hex (what clients pin). */
  fingerprint: string;
}

export interface HubCertOptions {
  /** DNS names or IP addresses clients dial besides the loopback ones. */
  hostnames?: string[];
  commonName?: string;
  validDays?: number;
  /** Start of validity (ms); defaults to now. Backdated an hour for clocks that lag. */
  nowMs?: number;
}

/** The certificate as DER bytes, from PEM text or DER bytes. */
export function certDer(cert: string | Uint8Array): Uint8Array {
  try {
    return new Uint8Array(new X509Certificate(typeof cert === "string" ? cert : Buffer.from(cert)).raw);
  } catch (error) {
    throw new TlsMaterialError(`not an X.509 certificate (${(error as Error).message})`, { cause: error });
  }
}

/** SHA-256 of the certificate's DER encoding, lowercase hex without separators. */
export const certFingerprint = (cert: string | Uint8Array): string =>
  createHash("sha256").update(certDer(cert)).digest("hex");

/** Node's `fingerprint256` (`AB:CD:…`) or any hex spelling, as certFingerprint spells it. */
export const normaliseFingerprint = (fingerprint: string): string => fingerprint.replace(/[:\s]/g, "").toLowerCase();

export const derToPem = (der: Uint8Array): string =>
  `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
    .toString("base64")
    .match(/.{1,64}/g)
    ?.join("\n")}\n-----END CERTIFICATE-----\n`;

/** Generates a self-signed EC P-256 server certificate with SANs for loopback and `hostnames`. */
export async function generateHubCert(
  options: HubCertOptions = {},
): Promise<{ certPem: string; keyPem: string; fingerprint: string }> {
  const names = [
    ...new Set([...LOOPBACK_NAMES, ...(options.hostnames ?? []).map((h) => h.trim().replace(/^\[(.*)\]$/, "$1"))]),
  ].filter((h) => h !== "");
  for (const name of names) {
    if (
      isIP(name) === 0 &&
      !/^[A-Za-z0-9*]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(name)
    ) {
      throw new TlsMaterialError(`${JSON.stringify(name)} is neither a host name nor an IP address`);
    }
  }
  const notBefore = (options.nowMs ?? Date.now()) - 3_600_000;
  // Loaded here, not at the top: it is slow to import, and only a hub's first start needs it.
  const { generate } = await import("selfsigned");
  const result = await generate([{ name: "commonName", value: options.commonName ?? "edgesync hub" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(notBefore),
    notAfterDate: new Date(notBefore + (options.validDays ?? HUB_CERT_VALID_DAYS) * DAY_MS),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: names.map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })),
      },
    ],
  });
  return { certPem: result.cert, keyPem: result.private, fingerprint: certFingerprint(result.cert) };
}

/** Writes a fresh certificate and key into `dir` (key 0600, folder 0700), each atomically. */
export async function writeHubTls(dir: string, options: HubCertOptions = {}): Promise<HubTlsFiles> {
  const { certPem, keyPem, fingerprint } = await generateHubCert(options);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, TLS_CERT_FILE);
  const keyFile = join(dir, TLS_KEY_FILE);
  // Key first: a crash in between leaves a pair that does not match, which loadHubTls detects.
  await writeFileAtomic(keyFile, keyPem, { mode: 0o600 });
  await chmod(keyFile, 0o600);
  await writeFileAtomic(certFile, certPem, { mode: 0o644 });
  return { certFile, keyFile, certPem, fingerprint };
}

/** Reads `dir`'s pair; undefined when either file is missing. Throws when they are unusable. */
export async function loadHubTls(dir: string): Promise<HubTlsFiles | undefined> {
  const certFile = join(dir, TLS_CERT_FILE);
  const keyFile = join(dir, TLS_KEY_FILE);
  const read = (path: string) =>
    readFile(path, "utf8").catch((error: NodeJS.ErrnoException) =>
      error.code === "ENOENT" ? undefined : Promise.reject(error),
    );
  const [certPem, keyPem] = await Promise.all([read(certFile), read(keyFile)]);
  if (certPem === undefined || keyPem === undefined) return undefined;
  let matches: boolean;
  try {
    matches = new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch (error) {
    throw new TlsMaterialError(
      `${certFile} or ${keyFile} is unreadable (${(error as Error).message}); delete both to make a new pair (clients must then trust the hub again)`,
      { cause: error },
    );
  }
  if (!matches)
    throw new TlsMaterialError(
      `${keyFile} does not belong to ${certFile}; delete both to make a new pair (clients must then trust the hub again)`,
    );
  return { certFile, keyFile, certPem, fingerprint: certFingerprint(certPem) };
}

/** The hub's pair: kept when present (so pins stay valid), generated on first start. */
export async function ensureHubTls(
  dir: string,
  options: HubCertOptions = {},
): Promise<HubTlsFiles & { created: boolean }> {
  const existing = await loadHubTls(dir);
  if (existing) return { ...existing, created: false };
  return { ...(await writeHubTls(dir, options)), created: true };
}
