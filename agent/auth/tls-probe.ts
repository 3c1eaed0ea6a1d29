/**
 * Reading a server's certificate before trusting it (TOFU). These are the only connections made
 * with `rejectUnauthorized: false`, and they never send a byte of application data: they learn
 * the certificate, close, and the caller decides whether to pin it.
 *
 * nats-server 2.9 speaks plaintext first: it sends `INFO {…}\r\n`, and the client upgrades the
 * same socket to TLS. So a NATS client or leafnode port is probed by reading that line first.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { createHash } from "node:crypto";
import { derToPem } from "./tls.js";
import { UserError } from "../errors.js";

/** One INFO line is a few hundred bytes (a cluster's connect_urls add some); this bounds a hostile server. */
export const NATS_INFO_BYTES_MAX = 64 * 1024;
export const PROBE_TIMEOUT_MS = 5_000;

export class ProbeError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProbeError";
  }
}

export interface ProbedCert {
  der: Uint8Array;
  pem: string;
  /** SHA-256 of the DER, lowercase hex. */
  fingerprint: string;
}

export interface ProbeOptions {
  timeoutMs?: number;
  /** SNI to send; defaults to the host when it is a name. */
  servername?: string;
}

const sniFor = (host: string, servername?: string) => servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host);

/** Handshakes over `socket` (or a fresh connection) and returns the leaf certificate. */
function handshake(
  host: string,
  port: number,
  socket: Socket | undefined,
  options: ProbeOptions,
  deadline: (s: Socket, reject: (e: Error) => void) => void,
): Promise<ProbedCert> {
  return new Promise((resolve, reject) => {
    const servername = sniFor(host, options.servername);
    // rejectUnauthorized: false only here, to *read* an untrusted certificate; nothing is sent.
    const tlsSocket: TLSSocket = tlsConnect({
      ...(socket ? { socket } : { host, port }),
      ...(servername ? { servername } : {}),
      rejectUnauthorized: false,
    });
    deadline(tlsSocket, reject);
    tlsSocket.once("error", (error) =>
      reject(new ProbeError(`TLS handshake with ${host}:${port} failed: ${error.message}`, { cause: error })),
    );
    tlsSocket.once("secureConnect", () => {
      const cert = tlsSocket.getPeerCertificate();
      tlsSocket.destroy();
      socket?.destroy();
      if (!cert?.raw) return reject(new ProbeError(`${host}:${port} presented no certificate`));
      const der = new Uint8Array(cert.raw);
      resolve({ der, pem: derToPem(der), fingerprint: createHash("sha256").update(der).digest("hex") });
    });
  });
}

function withDeadline(host: string, port: number, timeoutMs: number) {
  return (socket: Socket, reject: (e: Error) => void) => {
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new ProbeError(`no answer from ${host}:${port} within ${timeoutMs} ms`));
    });
  };
}

/** The certificate of a server that speaks TLS from the first byte (wss://, tls proxies). */
export function probeServerCert(host: string, port: number, options: ProbeOptions = {}): Promise<ProbedCert> {
  return handshake(host, port, undefined, options, withDeadline(host, port, options.timeoutMs ?? PROBE_TIMEOUT_MS));
}

/** Reads the NATS `INFO` line a 2.9 server sends before TLS, then upgrades the same socket. */
export function probeNatsServerCert(
  host: string,
  port: number,
  options: ProbeOptions = {},
): Promise<ProbedCert & { info: Record<string, unknown> }> {
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const deadline = withDeadline(host, port, timeoutMs);
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    deadline(socket, reject);
    let buffered = Buffer.alloc(0);
    const fail = (message: string, cause?: unknown) => {
      socket.destroy();
      reject(new ProbeError(message, cause === undefined ? undefined : { cause }));
    };
    socket.once("error", (error) => fail(`cannot reach ${host}:${port}: ${error.message}`, error));
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n");
      if (end < 0) {
        if (buffered.length > NATS_INFO_BYTES_MAX)
          fail(`${host}:${port} sent more than ${NATS_INFO_BYTES_MAX} bytes without a complete INFO line`);
        else if (!"INFO ".startsWith(buffered.subarray(0, 5).toString("latin1")))
          fail(`${host}:${port} is not a NATS server (it did not start with INFO)`);
        return;
      }
      socket.removeAllListeners("data");
      socket.removeAllListeners("error");
      socket.setTimeout(0);
      const line = buffered.subarray(0, end).toString("utf8");
      if (!line.startsWith("INFO ")) return fail(`${host}:${port} is not a NATS server (it did not start with INFO)`);
      let info: Record<string, unknown>;
      try {
        info = JSON.parse(line.slice(5)) as Record<string, unknown>;
      } catch (error) {
        return fail(`${host}:${port} sent an INFO line that is not JSON`, error);
      }
      if (info.tls_required !== true && info.tls_available !== true)
        return fail(
          `${host}:${port} does not offer TLS, so there is no certificate to pin (a hub started with --no-tls sits behind a TLS proxy: pin that instead)`,
        );
      handshake(host, port, socket, options, deadline).then((cert) => resolve({ ...cert, info }), reject);
    });
  });
}
