/**
 * The client's socket for Node (20 has no global WebSocket): `ws`, and the SHA-256 of the TLS
 * certificate it actually saw, for the handshake's channel binding. Certificate trust is the
 * handshake's job (the hub key's pin and the fingerprint the hub signs), so the TLS layer accepts
 * any certificate here and the handshake refuses a wrong one before anything is signed.
 *
 * A caller that sends a secret in the request itself (the automerge-repo adapter's URL token) passes
 * the fingerprint it expects: the request then stays corked until TLS has shown that certificate,
 * so a relaying man in the middle never sees the token.
 */
import { createHash } from "node:crypto";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import WebSocket from "ws";
import type { SocketFactory } from "../client/socket.js";

const HANDSHAKE_TIMEOUT_MS = 15_000;
const MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

const fingerprintOf = (socket: TLSSocket): string | null => {
  const raw = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate().raw : undefined;
  return raw ? createHash("sha256").update(raw).digest("hex") : null;
};

/** A TLS connection that sends nothing until the server showed the certificate `expected`. */
const pinnedTls =
  (expected: string) =>
  (options: ConnectionOptions): TLSSocket => {
    const socket = tlsConnect({ ...options, rejectUnauthorized: false });
    socket.cork();
    socket.once("secureConnect", () => {
      const seen = fingerprintOf(socket);
      if (seen === expected) socket.uncork();
      else
        socket.destroy(
          new Error(
            `the bridge's TLS certificate ${seen?.slice(0, 16) ?? "none"}… is not the expected ${expected.slice(0, 16)}… (a man in the middle, or a renewed certificate): nothing was sent`,
          ),
        );
    });
    return socket;
  };

export const nodeSocket: SocketFactory = (url, events, options) => {
  const expected = options?.certFingerprint;
  const pinned = typeof expected === "string" && url.startsWith("wss:");
  const ws = new WebSocket(url, {
    rejectUnauthorized: false,
    perMessageDeflate: false,
    maxPayload: MESSAGE_BYTES_MAX,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    ...(pinned ? { createConnection: pinnedTls(expected) as never } : {}),
  });
  let fingerprint: string | null | undefined = url.startsWith("ws:") ? null : undefined;
  let closed = false;
  // ws reports a refused upgrade ("Unexpected server response: 401") or a TLS failure as an error
  // and then closes with 1006 and no reason: the error's message becomes that reason.
  let failure = "";
  ws.on("upgrade", (response) => {
    fingerprint = fingerprintOf(response.socket as TLSSocket);
  });
  ws.on("open", () => events.onOpen());
  ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) events.onBinary(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    else events.onText(buf.toString("utf8"));
  });
  ws.on("error", (error: Error) => {
    failure = error.message;
  });
  ws.on("close", (code: number, reason: Buffer) => {
    if (closed) return;
    closed = true;
    events.onClose(code, reason.length > 0 ? reason.toString("utf8") : failure);
  });
  return {
    send: (data) => ws.send(data),
    close: (code, reason) => {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason);
    },
    bufferedAmount: () => ws.bufferedAmount,
    certFingerprint: () => fingerprint,
  };
};
