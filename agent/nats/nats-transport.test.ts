import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { runTransportContract } from "../sync/transport-contract.js";
import { NatsTransport } from "./nats-transport.js";
import { NatsServerSupervisor } from "./supervisor.js";
import { connectNats } from "./connect.js";
import { asPeerId, silentLog, type PeerId } from "../sync/ports.js";
import { waitFor } from "../../test/helpers/wait.js";

const VAULT = "0b7e8d1c-3c1f-4a53-9a1e-6f2d3b4c5d6e";
let server: NatsServerSupervisor;
const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "es-nt-"));
  dirs.push(d);
  return d;
};

before(async () => {
  server = new NatsServerSupervisor({
    role: "peer",
    stateDir: await tempDir(),
    serverName: "contract",
    client: { host: "127.0.0.1", port: -1 },
  });
  await server.start();
});
after(async () => {
  await server.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

runTransportContract("NatsTransport", async () => {
  const conns: NatsConnection[] = [];
  const make = async (id: string) => {
    const nc = await connect({ servers: server.clientUrl });
    conns.push(nc);
    return new NatsTransport({ nc, vaultId: VAULT, self: asPeerId(id) });
  };
  const [a, b, c] = [await make("peer-a"), await make("peer-b"), await make("peer-c")];
  return {
    a,
    b,
    c,
    settle: async () => {
      await Promise.all(conns.map((nc) => nc.flush()));
      await new Promise((r) => setTimeout(r, 5));
    },
    teardown: async () => {
      for (const t of [a, b, c]) await t.stop();
      for (const nc of conns) await nc.close();
    },
  };
});

describe("NatsTransport", () => {
  it("ignores messages on vault subjects whose sender token or frame is malformed", async () => {
    const nc = await connect({ servers: server.clientUrl });
    const receiver = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("peer-r") });
    const got: string[] = [];
    await receiver.start({ onMessage: (from) => got.push(from) });
    nc.publish(`es.v1.vault.${VAULT}.p.peer-r.BAD_TOKEN!`, new Uint8Array([1, 0, 1]));
    nc.publish(`es.v1.vault.${VAULT}.p.peer-r.ok-sender`, new Uint8Array([9, 9])); // bad frame version
    nc.publish(`es.v1.vault.${VAULT}.p.peer-r.ok-sender`, new Uint8Array([1, 0, 42]));
    await nc.flush();
    await waitFor("the good message", () => got.length > 0);
    assert.deepEqual(got, ["ok-sender"]);
    assert.equal(receiver.drops.malformed, 1);
    await receiver.stop();
    await nc.close();
  });

  it("keeps delivering after the engine's handler throws", async () => {
    const nc = await connect({ servers: server.clientUrl });
    const a = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("thrower-a") });
    const b = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("thrower-b") });
    const got: number[] = [];
    await a.start({ onMessage: () => {} });
    await b.start({
      onMessage: (_from, m) => {
        got.push(m[0]);
        if (m[0] === 1) throw new Error("engine bug");
      },
    });
    a.send(b.self, new Uint8Array([1]));
    a.send(b.self, new Uint8Array([2]));
    await waitFor("both messages", () => got.length === 2);
    assert.deepEqual(got, [1, 2]);
    assert.equal(b.stats.handlerErrors, 1);
    assert.equal(nc.isClosed(), false);
    await a.stop();
    await b.stop();
    await nc.close();
  });

  it("cuts frames to the connected server's max_payload and still delivers whole", async () => {
    const small = new NatsServerSupervisor({
      role: "peer",
      stateDir: await tempDir(),
      serverName: "small",
      client: { host: "127.0.0.1", port: -1 },
      maxPayloadBytes: 64 * 1024,
    });
    await small.start();
    try {
      const nc = await connect({ servers: small.clientUrl });
      const a = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("small-a") });
      const b = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("small-b") });
      const got: Uint8Array[] = [];
      await a.start({ onMessage: () => {} });
      await b.start({ onMessage: (_from, m) => got.push(m) });
      assert.equal(a.frameBytesMax, 64 * 1024 - 1024);
      const big = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff);
      a.send(b.self, big);
      await waitFor("the 300 KB message", () => got.length === 1);
      assert.equal(Buffer.compare(Buffer.from(got[0]), Buffer.from(big)), 0);
      assert.equal(a.stats.framesOut, Math.ceil(300_000 / (a.frameBytesMax - 14)));
      await a.stop();
      await b.stop();
      await nc.close();
    } finally {
      await small.stop();
    }
  });

  it("refuses to send a message over messageBytesMax, and counts it", async () => {
    const nc = await connect({ servers: server.clientUrl });
    const a = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("limit-a"), messageBytesMax: 1000 });
    await a.start({ onMessage: () => {} });
    a.send(asPeerId("limit-b"), new Uint8Array(1001));
    a.send("not a token" as PeerId, new Uint8Array(1));
    assert.equal(a.stats.sendDropped, 2);
    assert.equal(a.stats.framesOut, 0);
    await a.stop();
    await nc.close();
  });

  it("tells the engine when its server goes away and comes back, and when a link beyond it returns", async () => {
    const dir = await tempDir();
    const first = new NatsServerSupervisor({
      role: "peer",
      stateDir: dir,
      serverName: "restart",
      client: { host: "127.0.0.1", port: -1 },
    });
    const { client: port } = await first.start();
    const nc = await connectNats({
      servers: first.clientUrl,
      name: "restart-test",
      log: silentLog,
      reconnect: { initialMs: 20, maxMs: 200 },
    });
    const events: string[] = [];
    const t = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("restart-a") });
    await t.start({
      onMessage: () => {},
      onConnected: () => events.push("connected"),
      onDisconnected: () => events.push("disconnected"),
    });
    await first.stop();
    await waitFor("the disconnect", () => events.includes("disconnected"));
    const second = new NatsServerSupervisor({
      role: "peer",
      stateDir: dir,
      serverName: "restart",
      client: { host: "127.0.0.1", port },
    });
    const restartedAt = Date.now();
    await second.start();
    try {
      await waitFor("the reconnect", () => events.includes("connected"));
      const reconnectMs = Date.now() - restartedAt;
      assert.ok(reconnectMs < 2_000, `reconnected ${reconnectMs} ms after the restart`);
      t.linkUp();
      assert.deepEqual(events, ["disconnected", "connected", "connected"]);
      await t.stop();
      t.linkUp();
      assert.equal(events.length, 3, "nothing after stop");
      await nc.close();
    } finally {
      await second.stop();
    }
  });
});
