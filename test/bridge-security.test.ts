/**
 * Issue 7, who may use the bridge: an operator-mode nats-server (agent/auth/nats-jwt.ts) decides,
 * through the user JWT each peer signs in the handshake, so a peer reaches over WSS exactly what
 * its key reaches over NATS. And the handshake's channel binding and hub pin refuse a man in the
 * middle before the peer signs anything.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { createAccount } from "@nats-io/nkeys";
import { connect, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { Identity } from "../agent/auth/identity.js";
import {
  createOperatorSetup,
  encodeVaultAccount,
  issueAccountUser,
  issueUserJwt,
  operatorModeConfig,
  pushAccountJwt,
  type OperatorSetup,
} from "../agent/auth/nats-jwt.js";
import { startTestNatsServer, type TestNatsServer } from "./helpers/test-nats-server.js";
import { generateHubCert } from "../agent/auth/tls.js";
import { NatsTransport } from "../agent/nats/nats-transport.js";
import { asPeerId } from "../agent/sync/ports.js";
import { startBridge, type BridgeServer } from "../bridge/server/bridge-server.js";
import { BridgeTransport } from "../bridge/client/transport.js";
import { BridgeError, memoryPins, openSession, type HubPins } from "../bridge/client/session.js";
import { keyFromSeed, type SigningKey } from "../bridge/client/handshake.js";
import { CloseCode } from "../bridge/client/frames.js";
import { nodeSocket } from "../bridge/node/ws-socket.js";
import type { SocketFactory } from "../bridge/client/socket.js";
import { waitFor } from "./helpers/wait.js";

/** A device: the same seed as an agent Identity (for the account JWT) and as a client SigningKey. */
async function device(name: string) {
  const seed = new Uint8Array(randomBytes(32));
  return { identity: new Identity(seed, name), key: await keyFromSeed(seed) };
}

/** nodeSocket, counting what the peer received before its session ended. */
function countingSocket(): { factory: SocketFactory; binaryIn: () => number; textIn: string[] } {
  let binary = 0;
  const textIn: string[] = [];
  return {
    factory: (url, events) =>
      nodeSocket(url, {
        ...events,
        onText: (t) => (textIn.push(t), events.onText(t)),
        onBinary: (b) => (binary++, events.onBinary(b)),
      }),
    binaryIn: () => binary,
    textIn,
  };
}

describe("bridge security on an operator-mode nats-server", () => {
  let dir: string;
  let setup: OperatorSetup;
  let nats: TestNatsServer;
  let system: NatsConnection;
  let bridge: BridgeServer;
  let hubKey: SigningKey;
  const vaultId = randomUUID();
  const account = createAccount();
  let alice: Awaited<ReturnType<typeof device>>;
  let carol: Awaited<ReturnType<typeof device>>;
  let agentDevice: Awaited<ReturnType<typeof device>>;
  let agentNc: NatsConnection;
  let agent: NatsTransport;
  const atAgent: { from: string; bytes: number[] }[] = [];
  const accountJwt = (keys: { publicKey: Uint8Array }[]) =>
    encodeVaultAccount({ vaultId, name: "secure", account, operator: setup.operator, keys });
  const url = () => `${bridge.origin}/v1/${vaultId}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "es-bsec-"));
    [alice, carol, agentDevice] = [await device("alice"), await device("carol"), await device("agent")];
    setup = await createOperatorSetup("bridge-test");
    const preload = {
      [setup.system.getPublicKey()]: setup.systemAccountJwt,
      [account.getPublicKey()]: await accountJwt([alice.identity, carol.identity, agentDevice.identity]),
    };
    nats = await startTestNatsServer(
      dir,
      operatorModeConfig({
        operatorJwt: setup.operatorJwt,
        systemAccount: setup.system.getPublicKey(),
        dir: join(dir, "jwt"),
        preload,
      }),
      "operator",
    );
    const sys = await issueAccountUser(setup.system, "sys");
    system = await connect({ servers: nats.url, authenticator: jwtAuthenticator(sys.jwt, sys.seed) });
    const creds = await issueUserJwt(agentDevice.identity, account.getPublicKey());
    agentNc = await connect({ servers: nats.url, authenticator: jwtAuthenticator(creds.jwt, creds.seed) });
    agent = new NatsTransport({ nc: agentNc, vaultId, self: asPeerId(agentDevice.identity.nkeyPublic) });
    await agent.start({ onMessage: (from, m) => atAgent.push({ from, bytes: [...m] }) });
    const cert = await generateHubCert();
    hubKey = await keyFromSeed(new Uint8Array(randomBytes(32)));
    bridge = await startBridge({
      host: "127.0.0.1",
      port: 0,
      tls: { certPem: cert.certPem, keyPem: cert.keyPem },
      hubKey,
      vault: (id) => (id === vaultId ? { id, name: "secure", account: account.getPublicKey() } : undefined),
      natsServers: nats.url,
    });
  });

  after(async () => {
    await bridge?.close();
    await agent?.stop();
    await Promise.all([agentNc, system].filter(Boolean).map((nc) => nc.close().catch(() => {})));
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("relays an authorised key's messages both ways under its own JWT", async () => {
    const peer = new BridgeTransport({ url: url(), key: alice.key, socket: nodeSocket, pins: memoryPins() });
    const got: { from: string; bytes: number[] }[] = [];
    await peer.start({ onMessage: (from, m) => got.push({ from, bytes: [...m] }) });
    try {
      assert.equal(peer.self, alice.identity.nkeyPublic);
      atAgent.length = 0;
      peer.broadcast(new Uint8Array([1]));
      peer.send(asPeerId(agentDevice.identity.nkeyPublic), new Uint8Array([2]));
      agent.send(asPeerId(alice.identity.nkeyPublic), new Uint8Array([3]));
      await waitFor("both directions", () => atAgent.length >= 2 && got.length >= 1);
      assert.deepEqual(atAgent.map((m) => [m.from, m.bytes[0]]).sort(), [
        [alice.identity.nkeyPublic, 1],
        [alice.identity.nkeyPublic, 2],
      ]);
      assert.deepEqual(got, [{ from: agentDevice.identity.nkeyPublic, bytes: [3] }]);
    } finally {
      await peer.stop();
    }
  });

  it("refuses a key NATS does not know with an error frame and close 4003, and sends it no sync data", async () => {
    const mallory = await device("mallory");
    const socket = countingSocket();
    const refusedBefore = bridge.stats.refused;
    await assert.rejects(
      openSession(
        { url: url(), key: mallory.key, socket: socket.factory, pins: memoryPins() },
        { onData: () => assert.fail("data to an unauthorised key"), onClose: () => {} },
      ),
      (e: Error) =>
        e instanceof BridgeError &&
        e.kind === "auth" &&
        e.code === CloseCode.unauthorised &&
        !e.retry &&
        /NATS refused key SHA256:/.test(e.message),
    );
    assert.equal(socket.binaryIn(), 0);
    assert.deepEqual(
      socket.textIn.map((t) => (JSON.parse(t) as { t: string }).t),
      ["hello", "auth", "error"],
    );
    assert.equal(bridge.stats.refused, refusedBefore + 1);
  });

  it("stops for good (no reconnect loop) when NATS revokes the key of a connected peer", async () => {
    const errors: BridgeError[] = [];
    const states: string[] = [];
    const peer = new BridgeTransport({
      url: url(),
      key: carol.key,
      socket: nodeSocket,
      pins: memoryPins(),
      onError: (e) => errors.push(e),
      onState: (s) => states.push(s),
      backoff: { initialMs: 20 },
    });
    await peer.start({ onMessage: () => {} });
    try {
      await pushAccountJwt(
        system,
        await accountJwt([alice.identity, agentDevice.identity]),
        setup.operator.getPublicKey(),
      );
      await waitFor("the bridge to close the revoked peer", () => errors.length > 0);
      assert.equal(errors[0].kind, "auth", errors[0].message);
      assert.equal(errors[0].code, CloseCode.unauthorised);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(errors.length, 1, "no reconnect attempts after an auth failure");
      assert.equal(states.at(-1), "stopped");
    } finally {
      await peer.stop();
      await pushAccountJwt(
        system,
        await accountJwt([alice.identity, carol.identity, agentDevice.identity]),
        setup.operator.getPublicKey(),
      );
    }
  });

  /** A TLS-terminating relay with its own certificate in front of the bridge; `rewrite` may edit frames to the peer. */
  async function mitm(rewrite: (text: string, fingerprint: string) => string = (t) => t) {
    const cert = await generateHubCert();
    const fromPeer: { text: boolean; data: string }[] = [];
    const server = createHttpsServer({ cert: cert.certPem, key: cert.keyPem });
    const wss = new WebSocketServer({ server });
    wss.on("connection", (down, req) => {
      const up = new WebSocket(`${bridge.origin}${req.url}`, { rejectUnauthorized: false });
      const queue: [WebSocket.RawData, boolean][] = [];
      up.on("open", () => queue.splice(0).forEach(([d, b]) => up.send(d, { binary: b })));
      up.on("message", (data, isBinary) =>
        down.send(isBinary ? data : rewrite(data.toString(), cert.fingerprint), { binary: isBinary }),
      );
      down.on("message", (data, isBinary) => {
        fromPeer.push({ text: !isBinary, data: data.toString() });
        if (up.readyState === WebSocket.OPEN) up.send(data, { binary: isBinary });
        else queue.push([data, isBinary]);
      });
      up.on("close", (code) => down.close(code >= 3000 ? code : 1000));
      down.on("close", () => up.close());
      up.on("error", () => down.terminate());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    return {
      url: `wss://127.0.0.1:${(server.address() as AddressInfo).port}/v1/${vaultId}`,
      fromPeer,
      close: async () => {
        for (const c of wss.clients) c.terminate();
        await new Promise<void>((r) => server.close(() => r()));
      },
    };
  }

  it("refuses a relaying man in the middle by the certificate it shows, before signing anything", async () => {
    const relay = await mitm();
    try {
      const readyBefore = bridge.stats.ready;
      await assert.rejects(
        openSession(
          { url: relay.url, key: alice.key, socket: nodeSocket, pins: memoryPins() },
          { onData: () => {}, onClose: () => {} },
        ),
        (e: Error) =>
          e instanceof BridgeError && e.kind === "mitm" && !e.retry && /relaying man in the middle/.test(e.message),
      );
      assert.deepEqual(relay.fromPeer, [], "the peer sent nothing through the relay: no hello, no signature, no JWT");
      assert.equal(bridge.stats.ready, readyBefore);
    } finally {
      await relay.close();
    }
  });

  it("refuses a man in the middle that rewrites the signed certificate fingerprint, by the hub's signature", async () => {
    const relay = await mitm((text, fingerprint) => text.replace(/"cert":"[0-9a-f]{64}"/, `"cert":"${fingerprint}"`));
    try {
      await assert.rejects(
        openSession(
          { url: relay.url, key: alice.key, socket: nodeSocket, pins: memoryPins() },
          { onData: () => {}, onClose: () => {} },
        ),
        (e: Error) =>
          e instanceof BridgeError &&
          e.kind === "mitm" &&
          /signature over the handshake does not verify/.test(e.message),
      );
      assert.deepEqual(
        relay.fromPeer.map((f) => (JSON.parse(f.data) as { t: string }).t),
        ["hello"],
        "only the hello (key and nonce) went out: no signature, no JWT",
      );
    } finally {
      await relay.close();
    }
  });

  it("trusts a hub key on first use and refuses another key under the same name later", async () => {
    const pins: HubPins = memoryPins();
    const first = await openSession(
      { url: url(), key: alice.key, socket: nodeSocket, pins, hubName: "hub.example" },
      { onData: () => {}, onClose: () => {} },
    );
    first.close();
    const cert = await generateHubCert();
    const impostor = await startBridge({
      host: "127.0.0.1",
      port: 0,
      tls: { certPem: cert.certPem, keyPem: cert.keyPem },
      hubKey: await keyFromSeed(new Uint8Array(randomBytes(32))),
      vault: (id) => ({ id, name: "secure", account: account.getPublicKey() }),
      natsServers: nats.url,
    });
    try {
      await assert.rejects(
        openSession(
          { url: `${impostor.origin}/v1/${vaultId}`, key: alice.key, socket: nodeSocket, pins, hubName: "hub.example" },
          { onData: () => {}, onClose: () => {} },
        ),
        (e: Error) =>
          e instanceof BridgeError && e.kind === "pin" && /the key of hub hub\.example changed/.test(e.message),
      );
      assert.equal(impostor.stats.ready, 0);
    } finally {
      await impostor.close();
    }
  });
});
