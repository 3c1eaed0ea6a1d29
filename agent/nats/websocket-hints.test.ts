import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { explainWebsocketMismatch, websocketMismatch } from "./websocket-hints.js";

const line = (text: string) => `[12014] 2026/12/07 06:17:15.001843 [ERR] 127.0.0.1:42217 - ${text}`;

describe("websocket link hints", () => {
  it("recognises a ws:// link answered with TLS", () => {
    assert.equal(
      websocketMismatch(
        line("lid_ws:6 - Error soliciting websocket connection: invalid websocket connection"),
        "ws://hub:8080",
      ),
      "tls-listener",
    );
  });

  it("recognises a ws:// link that nats-server turned into TLS after the hub's INFO", () => {
    assert.equal(
      websocketMismatch(
        line("lid_ws:7 - TLS leafnode handshake error: tls: first record does not look like a TLS handshake"),
        "ws://hub:8080",
      ),
      "tls-after-info",
    );
  });

  it("says nothing for a wss:// link or an unrelated line", () => {
    assert.equal(
      websocketMismatch(
        line("lid_ws:6 - Error soliciting websocket connection: invalid websocket connection"),
        "wss://hub:443",
      ),
      undefined,
    );
    assert.equal(websocketMismatch(line("lid:6 - Leafnode connection created"), "ws://hub:8080"), undefined);
  });

  it("names the wss:// URL to dial instead", () => {
    assert.match(explainWebsocketMismatch("tls-listener", "ws://hub:8080"), /--hub wss:\/\/hub:8080/);
  });
});
