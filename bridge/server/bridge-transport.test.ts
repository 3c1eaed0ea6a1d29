/**
 * The client's BridgeTransport keeps the same transport contract as NATS itself: three clients,
 * each authenticated over WSS to a real bridge that relays to a real nats-server.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { runTransportContract } from "../../agent/sync/transport-contract.js";
import { NatsTransport } from "../../agent/nats/nats-transport.js";
import { startTestNatsServer, type TestNatsServer } from "../../test/helpers/test-nats-server.js";
import { generateHubCert } from "../../agent/auth/tls.js";
import { asPeerId } from "../../agent/sync/ports.js";
import { startBridge, type BridgeServer } from "./bridge-server.js";
import { BridgeTransport } from "../client/transport.js";
import { memoryPins } from "../client/session.js";
import { keyFromSeed } from "../client/handshake.js";
import { nodeSocket } from "../node/ws-socket.js";
import { waitFor } from "../../test/helpers/wait.js";

const VAULT = "2f0c6a1e-8d4b-4c3a-9e1f-7a6b5c4d3e2f";
let dir: string;
let nats: TestNatsServer;
let bridge: BridgeServer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "es-bt-"));
  nats = await startTestNatsServer(dir, "", "bridge-contract");
  const cert = await generateHubCert();
  bridge = await startBridge({
    host: "127.0.0.1",
    port: 0,
    tls: { certPem: cert.certPem, keyPem: cert.keyPem },
    hubKey: await keyFromSeed(randomBytes(32)),
    vault: (id) => (id === VAULT ? { id, name: "contract" } : undefined),
    natsServers: nats.url,
  });
});
after(async () => {
  await bridge?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

const client = async () => {
  const transport = new BridgeTransport({
    url: `${bridge.origin}/v1/${VAULT}`,
    key: await keyFromSeed(randomBytes(32)),
    socket: nodeSocket,
    pins: memoryPins(),
  });
  return transport;
};

runTransportContract("BridgeTransport (WSS → bridge → NATS)", async () => {
  const [a, b, c] = [await client(), await client(), await client()];
  return {
    a,
    b,
    c,
    settle: () => new Promise((r) => setTimeout(r, 10)),
    teardown: async () => {
      for (const t of [a, b, c]) await t.stop();
    },
  };
});

describe("BridgeTransport beside agents on NATS", () => {
  it("exchanges messages with a NATS peer both ways, under its own key's peer id", async () => {
    const nc: NatsConnection = await connect({ servers: nats.url });
    const agent = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("agent-1") });
    const fromBridge: { from: string; bytes: number[] }[] = [];
    await agent.start({ onMessage: (from, message) => fromBridge.push({ from, bytes: [...message] }) });
    const peer = await client();
    const got: { from: string; bytes: number[] }[] = [];
    await peer.start({ onMessage: (from, message) => got.push({ from, bytes: [...message] }) });
    try {
      assert.match(peer.self, /^U[A-Z2-7]{55}$/);
      peer.broadcast(new Uint8Array([1, 2]));
      agent.send(peer.self, new Uint8Array([3]));
      await waitFor("a message each way", () => fromBridge.length >= 1 && got.length >= 1, 10_000);
      assert.deepEqual(fromBridge, [{ from: peer.self, bytes: [1, 2] }]);
      assert.deepEqual(got, [{ from: "agent-1", bytes: [3] }]);
    } finally {
      await peer.stop();
      await agent.stop();
      await nc.close();
    }
  });
});

describe("BridgeTransport reconnects", () => {
  it("comes back with backoff after the bridge restarts, and tells the engine to resynchronise", async () => {
    const cert = await generateHubCert();
    const hubKey = await keyFromSeed(randomBytes(32));
    const config = {
      host: "127.0.0.1",
      tls: { certPem: cert.certPem, keyPem: cert.keyPem },
      hubKey,
      vault: (id: string) => (id === VAULT ? { id, name: "contract" } : undefined),
      natsServers: nats.url,
    };
    let server = await startBridge({ ...config, port: 0 });
    const port = server.port;
    const states: string[] = [];
    let reconnected = 0;
    const peer = new BridgeTransport({
      url: `${server.origin}/v1/${VAULT}`,
      key: await keyFromSeed(randomBytes(32)),
      socket: nodeSocket,
      pins: memoryPins(),
      backoff: { initialMs: 50, maxMs: 400 },
      onState: (s) => states.push(s),
    });
    await peer.start({ onMessage: () => {}, onConnected: () => reconnected++ });
    try {
      await server.close();
      await waitFor("the peer to see the bridge gone", () => !peer.connected, 10_000);
      await new Promise((r) => setTimeout(r, 300)); // a few failed attempts while the bridge is down
      server = await startBridge({ ...config, port });
      await waitFor(
        "the peer to reconnect to the restarted bridge",
        () => peer.connected,
        10_000,
        () => states.join(),
      );
      assert.equal(reconnected, 1);
      assert.equal(peer.stats.connects, 2);
      assert.ok(states.includes("offline") && states.at(-1) === "ready", states.join());
    } finally {
      await peer.stop();
      await server.close();
    }
  });
});

describe("BridgeTransport costs", () => {
  it("measures the handshake and a relay round trip through WSS → bridge → NATS → peer → back", async (t) => {
    const nc: NatsConnection = await connect({ servers: nats.url });
    const echo = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("echo") });
    await echo.start({ onMessage: (from, message) => echo.send(from, message) });
    const handshakes: number[] = [];
    const trips: number[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const peer = await client();
        let got: (() => void) | undefined;
        const started = performance.now();
        await peer.start({ onMessage: () => got?.() });
        handshakes.push(performance.now() - started);
        for (let j = 0; j < 5; j++) {
          const sent = performance.now();
          await new Promise<void>((resolve) => {
            got = resolve;
            peer.send(asPeerId("echo"), new Uint8Array(1024));
          });
          trips.push(performance.now() - sent);
        }
        await peer.stop();
      }
    } finally {
      await echo.stop();
      await nc.close();
    }
    const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))].toFixed(1);
    t.diagnostic(
      `handshake incl. TLS and the peer's NATS connect: p50 ${p(handshakes, 0.5)} ms, max ${p(handshakes, 1)} ms (n=${handshakes.length}); 1 KiB round trip: p50 ${p(trips, 0.5)} ms, p90 ${p(trips, 0.9)} ms (n=${trips.length})`,
    );
    assert.equal(trips.length, 50);
  });
});
