/**
 * The client's socket for Node (20 has no global WebSocket): `ws`, and the SHA-256 of the TLS
 * certificate it actually saw, for the handshake's channel binding. Certificate trust is the
 * handshake's job (the hub key's pin and the fingerprint the hub signs), so the TLS layer accepts
 * any certificate here and the handshake refuses a wrong one before anything is signed.
 */
import { createHash } from "node:crypto";
import type { TLSSocket } from "node:tls";
import WebSocket from "ws";
import type { SocketFactory } from "../client/socket.js";

export const nodeSocket: SocketFactory = (url, events) => {
  const ws = new WebSocket(url, { rejectUnauthorized: false, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, handshakeTimeout: 15_000 });
  let fingerprint: string | null | undefined = url.startsWith("ws:") ? null : undefined;
  let closed = false;
  ws.on("upgrade", (response) => {
    const socket = response.socket as TLSSocket;
    const raw = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate().raw : undefined;
    fingerprint = raw ? createHash("sha256").update(raw).digest("hex") : null;
  });
  ws.on("open", () => events.onOpen());
  ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) events.onBinary(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    else events.onText(buf.toString("utf8"));
  });
  ws.on("error", () => {
    // `close` follows with the code
  });
  ws.on("close", (code: number, reason: Buffer) => {
    if (closed) return;
    closed = true;
    events.onClose(code, reason.toString("utf8"));
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
