/**
 * Mutual TLS for routes between nats-servers (a peer mesh; hub-to-hub routes later), admitting
 * exactly the devices whose ed25519 keys a vault trusts.
 *
 * How a server proves its key: it presents a certificate whose public key is its device key,
 * signed by that same key, with the issuer name of the device's *anchor*.
 *
 * How a server checks the other side, knowing only authorized_keys: for every trusted key it
 * writes an anchor — a CA certificate carrying that key under the same anchor name — into the
 * `ca_file`. A trust anchor is a name and a public key (RFC 5280 6.1.1 d); validators never check
 * the signature on it, which is why any device can write the anchor of any other device's key
 * without its private half, and why no certificate has to be exchanged or synced before two
 * peers can route. A certificate chains to an anchor only if its signature verifies under the
 * anchor's key, so copying a trusted device's names with another key gets a stranger nowhere.
 *
 * The anchors alone refuse new routes. nats-server keeps an established route across a reload
 * of `ca_file`, but re-checks `pinned_certs` (SHA-256 of the certificate's SubjectPublicKeyInfo)
 * on reload and closes routes that no longer match; so the same keys are also written as pins,
 * and a removed key's routes drop on the reload that removes its anchor.
 *
 * The dialling side also checks the answering server's name against the certificate's SANs; the
 * certificate therefore names every address this machine may be dialled at (loopback, its host
 * name, its interfaces' addresses) and any name the user adds.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { join } from "node:path";
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { Prefix } from "@nats-io/nkeys";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { nkeyPublic, type Identity } from "./identity.js";
import {
  bitString,
  booleanTrue,
  explicit,
  implicit,
  objectIdentifier,
  octetString,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from "./der.js";
import { derToPem, TlsMaterialError } from "./tls.js";

export const ROUTE_TLS_DIR = "route-tls";
export const ROUTE_CERT_FILE = "route.crt";
export const ROUTE_KEY_FILE = "route.key";
export const ROUTE_TRUST_FILE = "trusted-devices.pem";

/** Trust rests on the key, not on dates: certificates never expire (RFC 5280's 99991231235959Z). */
const NOT_AFTER_MS = Date.UTC(9999, 11, 31, 23, 59, 59);
/** Anchors are valid from a fixed date so that their bytes depend on the key alone. */
const ANCHOR_NOT_BEFORE_MS = Date.UTC(2000, 0, 1);
/** A route certificate is backdated this much for peers whose clocks lag. */
const CLOCK_SKEW_MS = 86_400_000;
const SERIAL_BYTES = 16;
const ED25519_KEY_BYTES = 32;

const OID = {
  ed25519: "1.3.101.112",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

// DER of RFC 8410's SubjectPublicKeyInfo for ed25519, before the 32 key bytes.
const SPKI_ED25519_PREFIX = Uint8Array.from(Buffer.from("302a300506032b6570032100", "hex"));
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
/** keyUsage bits: digitalSignature (bit 0) for a route certificate, keyCertSign (bit 5) for an anchor. */
const KEY_USAGE_DIGITAL_SIGNATURE = Uint8Array.of(0x03, 0x02, 0x07, 0x80);
const KEY_USAGE_CERT_SIGN = Uint8Array.of(0x03, 0x02, 0x02, 0x04);

export interface RouteCertOptions {
  /** Names and addresses other servers dial this one at, besides those routeHostnames() finds. */
  hostnames?: string[];
  /** Start of validity (ms), defaults to now. */
  nowMs?: number;
}

export interface RouteTrust {
  /** PEM anchors of every trusted key, sorted by key: the cluster's `ca_file`. */
  caPem: string;
  /** Hex SHA-256 of each trusted key's SubjectPublicKeyInfo: the cluster's `pinned_certs`. */
  pins: string[];
}

export interface RouteTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  pins: string[];
  /** The trust file's text, to compare a later trust list against. */
  caPem: string;
}

const checkKey = (publicKey: Uint8Array) => {
  if (publicKey.length !== ED25519_KEY_BYTES)
    throw new TlsMaterialError(`an ed25519 public key has ${ED25519_KEY_BYTES} bytes, not ${publicKey.length}`);
};

const spki = (publicKey: Uint8Array) => {
  checkKey(publicKey);
  return Uint8Array.from([...SPKI_ED25519_PREFIX, ...publicKey]);
};

const ed25519Algorithm = () => sequence(objectIdentifier(OID.ed25519));
const keyId = (publicKey: Uint8Array) =>
  new Uint8Array(createHash("sha256").update(publicKey).digest().subarray(0, 20));
const attribute = (oid: string, value: string) => set(sequence(objectIdentifier(oid), utf8String(value)));
/** `O=edgesync, OU=<role>, CN=<the key as a NATS user nkey>` (a CN has at most 64 characters). */
const name = (role: "device" | "route", publicKey: Uint8Array) =>
  sequence(
    attribute(OID.organization, "edgesync"),
    attribute(OID.organizationalUnit, role),
    attribute(OID.commonName, nkeyPublic(publicKey, Prefix.User)),
  );
/** The anchor's name, which the device's route certificate names as its issuer. */
const anchorName = (publicKey: Uint8Array) => name("device", publicKey);
const extension = (oid: string, critical: boolean, value: Uint8Array) =>
  sequence(objectIdentifier(oid), ...(critical ? [booleanTrue()] : []), octetString(value));

/** Hex SHA-256 of the key's SubjectPublicKeyInfo, as nats-server's `pinned_certs` expects. */
export const routeKeyPin = (publicKey: Uint8Array): string =>
  createHash("sha256").update(spki(publicKey)).digest("hex");

function tbsCertificate(fields: {
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBeforeMs: number;
  publicKey: Uint8Array;
  extensions: Uint8Array[];
}): Uint8Array {
  return sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(fields.serial),
    ed25519Algorithm(),
    fields.issuer,
    sequence(time(fields.notBeforeMs), time(NOT_AFTER_MS)),
    fields.subject,
    spki(fields.publicKey),
    explicit(3, sequence(...fields.extensions)),
  );
}

const certificate = (tbs: Uint8Array, signature: Uint8Array) => sequence(tbs, ed25519Algorithm(), bitString(signature));

/**
 * The anchor that makes `publicKey` trusted: a CA certificate of that key under its anchor name.
 * Its own signature is left empty (all zeros): only the key's holder could make a real one, and
 * nothing checks it (see the header).
 */
export function routeTrustAnchorDer(publicKey: Uint8Array): Uint8Array {
  const serial = new Uint8Array(
    createHash("sha256").update("edgesync route anchor").update(publicKey).digest().subarray(0, SERIAL_BYTES),
  );
  const tbs = tbsCertificate({
    serial: Uint8Array.of(0x40 | (serial[0] & 0x3f), ...serial.subarray(1)),
    issuer: anchorName(publicKey),
    subject: anchorName(publicKey),
    notBeforeMs: ANCHOR_NOT_BEFORE_MS,
    publicKey,
    extensions: [
      extension(OID.basicConstraints, true, sequence(booleanTrue(), smallInteger(0))),
      extension(OID.keyUsage, true, KEY_USAGE_CERT_SIGN),
      extension(OID.subjectKeyIdentifier, false, octetString(keyId(publicKey))),
    ],
  });
  return certificate(tbs, new Uint8Array(64));
}

/** The SAN entry for one name: an IP address ([7], 4 or 16 bytes) or a DNS name ([2]). */
function altName(host: string): Uint8Array {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (isIP(bare) === 4) return implicit(7, Uint8Array.from(bare.split(".").map(Number)));
  if (isIP(bare) === 6) return implicit(7, ipv6Bytes(bare));
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(bare)) {
    throw new TlsMaterialError(
      `${JSON.stringify(host)} is neither a host name nor an IP address: fix or drop that --tls-hostname`,
    );
  }
  return implicit(2, new TextEncoder().encode(bare.toLowerCase()));
}

function ipv6Bytes(address: string): Uint8Array {
  const [head, tail] = address.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  let words = groups(head);
  let tailWords = groups(tail);
  const last = (tail === undefined ? words : tailWords).at(-1);
  if (last?.includes(".")) {
    const v4 = last.split(".").map(Number);
    const embedded = [((v4[0] << 8) | v4[1]).toString(16), ((v4[2] << 8) | v4[3]).toString(16)];
    if (tail === undefined) words = [...words.slice(0, -1), ...embedded];
    else tailWords = [...tailWords.slice(0, -1), ...embedded];
  }
  const zeros = tail === undefined ? [] : new Array<string>(8 - words.length - tailWords.length).fill("0");
  const all = [...words, ...zeros, ...tailWords].map((w) => parseInt(w, 16));
  return Uint8Array.from(all.flatMap((w) => [w >> 8, w & 0xff]));
}

/**
 * Every name this machine may be dialled at: loopback, its host name, the addresses of its
 * interfaces (link-local IPv6 excluded: a dialled one carries a zone a certificate cannot name),
 * then `extra`. Duplicates removed, order kept.
 */
export function routeHostnames(extra: string[] = []): string[] {
  const found = ["localhost", "127.0.0.1", "::1", hostname()];
  for (const info of Object.values(networkInterfaces()).flat()) {
    if (info && !info.address.toLowerCase().startsWith("fe80:")) found.push(info.address);
  }
  const names = [...found, ...extra]
    .map((h) =>
      h
        .trim()
        .replace(/^\[(.*)\]$/, "$1")
        .toLowerCase(),
    )
    .filter((h) => h !== "");
  return [...new Set(names)];
}

/** This device's route certificate (DER): its key, signed by its key, valid from now on. */
export function routeCertificateDer(identity: Identity, options: RouteCertOptions = {}): Uint8Array {
  const serial = randomBytes(SERIAL_BYTES);
  serial[0] = 0x40 | (serial[0] & 0x3f);
  const tbs = tbsCertificate({
    serial,
    issuer: anchorName(identity.publicKey),
    subject: name("route", identity.publicKey),
    notBeforeMs: (options.nowMs ?? Date.now()) - CLOCK_SKEW_MS,
    publicKey: identity.publicKey,
    extensions: [
      extension(OID.basicConstraints, true, sequence()),
      extension(OID.keyUsage, true, KEY_USAGE_DIGITAL_SIGNATURE),
      extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID.serverAuth), objectIdentifier(OID.clientAuth))),
      extension(OID.subjectAltName, false, sequence(...routeHostnames(options.hostnames).map(altName))),
      extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, keyId(identity.publicKey)))),
    ],
  });
  return certificate(tbs, identity.sign(tbs));
}

/** The device key as PKCS#8 PEM, the form nats-server's `key_file` takes. Secret. */
export function routeKeyPem(identity: Identity): string {
  const seed = Codec.decodeSeed(identity.natsSeed()).buf;
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString("base64")
    .match(/.{1,64}/g)
    ?.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

/** Anchors and pins for `publicKeys` (duplicates removed, sorted, so equal sets give equal text). */
export function routeTrust(publicKeys: Uint8Array[]): RouteTrust {
  const unique = new Map<string, Uint8Array>();
  for (const key of publicKeys) {
    checkKey(key);
    unique.set(Buffer.from(key).toString("hex"), key);
  }
  const keys = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, key]) => key);
  return { caPem: keys.map((key) => derToPem(routeTrustAnchorDer(key))).join(""), pins: keys.map(routeKeyPin) };
}

/** Writes the trust list into `dir` atomically; `changed` is false when the file already said the same. */
export async function writeRouteTrust(
  dir: string,
  publicKeys: Uint8Array[],
  previous?: RouteTrust,
): Promise<RouteTrust & { caFile: string; changed: boolean }> {
  const trust = routeTrust(publicKeys);
  const caFile = join(dir, ROUTE_TRUST_FILE);
  const changed = previous?.caPem !== trust.caPem;
  if (changed) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(caFile, trust.caPem, { mode: 0o644 });
  }
  return { ...trust, caFile, changed };
}

/**
 * Writes a fresh route certificate and key (0600) for `identity` and the trust list for
 * `trustedKeys` into `dir`. The certificate is remade on every start: nothing pins it, and the
 * addresses it names may have changed.
 */
export async function writeRouteTls(
  dir: string,
  identity: Identity,
  trustedKeys: Uint8Array[],
  options: RouteCertOptions = {},
): Promise<RouteTlsFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, ROUTE_CERT_FILE);
  const keyFile = join(dir, ROUTE_KEY_FILE);
  await writeFileAtomic(keyFile, routeKeyPem(identity), { mode: 0o600 });
  await writeFileAtomic(certFile, derToPem(routeCertificateDer(identity, options)), { mode: 0o644 });
  const { caFile, pins, caPem } = await writeRouteTrust(dir, trustedKeys);
  return { certFile, keyFile, caFile, pins, caPem };
}
