/**
 * The one thing the client needs from a platform: a WebSocket. Browsers get `browserSocket`
 * (the global WebSocket); Node gets bridge/node/ws-socket.ts, which also reports the TLS
 * certificate it saw so the handshake can bind to it. A browser cannot see the certificate: there
 * the browser's own TLS validation (a CA-issued or imported certificate) guards the channel.
 */

export interface SocketEvents {
  onOpen(): void;
  onText(text: string): void;
  onBinary(bytes: Uint8Array): void;
  onClose(code: number, reason: string): void;
}

export interface BridgeSocket {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet sent. */
  bufferedAmount(): number;
  /** SHA-256 (hex) of the TLS certificate this socket saw; null without TLS; undefined when the platform cannot tell. */
  certFingerprint(): string | null | undefined;
}

export interface SocketOptions {
  /**
   * The SHA-256 (hex) of the only TLS certificate to send anything to (null: a plain ws:// URL).
   * A platform that can see the certificate refuses any other before the first byte of the request
   * (whose URL may carry a token) leaves; a browser cannot, and relies on its own validation.
   */
  certFingerprint?: string | null;
}

export type SocketFactory = (url: string, events: SocketEvents, options?: SocketOptions) => BridgeSocket;

/**
 * What a browser says when a wss:// socket closes before it opened. Scripts get no reason (only
 * 1006): an untrusted certificate, a bridge that is down and a refused upgrade look the same. An
 * edgesync hub's certificate is self-signed, so an untrusted certificate is the usual cause on
 * first use: say that, and what to check, rather than a bare "1006".
 */
export function closedBeforeOpen(url: string): string {
  const origin = new URL(url);
  const https = `https://${origin.host}/`;
  return (
    `the browser could not open ${origin.protocol}//${origin.host} (closed before it opened; a page is not told why). ` +
    `If the bridge is running, this browser most likely does not trust its TLS certificate: an edgesync hub's certificate is self-signed — ` +
    `import the hub's tls.crt as a trusted *server* certificate (it is not a CA: importing it as an authority fails), ` +
    `or serve the bridge with a CA-issued certificate; opening ${https} in a tab shows the browser's own certificate error`
  );
}

/** The global WebSocket (browsers, Deno, Node ≥ 22). */
export const browserSocket: SocketFactory = (url, events) => {
  const Ctor = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (!Ctor)
    throw new Error(
      'no global WebSocket here: pass `socket` (Node 20: import { nodeSocket } from "edgesync/client/node")',
    );
  const ws = new Ctor(url);
  ws.binaryType = "arraybuffer";
  let closed = false;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    events.onOpen();
  };
  ws.onmessage = (event: MessageEvent) => {
    if (typeof event.data === "string") events.onText(event.data);
    else if (event.data instanceof ArrayBuffer) events.onBinary(new Uint8Array(event.data));
  };
  ws.onclose = (event: CloseEvent) => {
    if (closed) return;
    closed = true;
    const unexplained = !opened && event.code === 1006 && url.startsWith("wss:");
    events.onClose(event.code, unexplained ? closedBeforeOpen(url) : event.reason);
  };
  ws.onerror = () => {
    // the close event that follows carries the code
  };
  return {
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    bufferedAmount: () => ws.bufferedAmount,
    certFingerprint: () => (url.startsWith("ws:") ? null : undefined),
  };
};
