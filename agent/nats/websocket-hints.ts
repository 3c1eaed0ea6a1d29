/**
 * A leaf whose websocket link to the hub cannot work redials every second and logs only nats-server's
 * own words. These turn the two mismatches that make it flap into one line saying what to change.
 *
 * - `ws://` to a listener that speaks TLS: the HTTP upgrade reads TLS bytes ("invalid websocket
 *   connection").
 * - `ws://` to a plain listener of a hub whose leafnode port has TLS: nats-server 2.9.10 reads
 *   `tls_required` from the hub's INFO and marks the remote as TLS, so every redial after the first
 *   link starts a TLS handshake that the plain listener cannot answer.
 */
export type WebsocketMismatch = "tls-listener" | "tls-after-info";

const TLS_LISTENER = /lid_ws:\d+ - Error soliciting websocket connection: invalid websocket connection/;
const TLS_AFTER_INFO =
  /lid_ws:\d+ - TLS leafnode handshake error: tls: first record does not look like a TLS handshake/;

/** Which mismatch a nats-server log line shows for a leaf dialling `hubUrl`, if any. */
export function websocketMismatch(line: string, hubUrl: string): WebsocketMismatch | undefined {
  if (!hubUrl.startsWith("ws:")) return undefined;
  if (TLS_LISTENER.test(line)) return "tls-listener";
  if (TLS_AFTER_INFO.test(line)) return "tls-after-info";
  return undefined;
}

export function explainWebsocketMismatch(kind: WebsocketMismatch, hubUrl: string): string {
  const wss = hubUrl.replace(/^ws:/, "wss:");
  return kind === "tls-listener"
    ? `the hub's websocket listener speaks TLS (or ${hubUrl} is not one): dial it as --hub ${wss} (add --accept-hub-key to pin its certificate)`
    : `the hub's websocket listener speaks TLS after the first link (nats-server 2.9 follows the hub's leafnode TLS): dial a TLS proxy in front of it with --hub wss://…, or run the hub with --no-tls`;
}
