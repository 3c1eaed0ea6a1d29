import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { runTransportContract } from "../sync/transport-contract.js";
import { NatsTransport } from "./nats-transport.js";
import { NatsServerSupervisor } from "./supervisor.js";
import { asPeerId } from "../sync/ports.js";

const VAULT = "0b7e8d1c-3c1f-4a53-9a1e-6f2d3b4c5d6e";
let server: NatsServerSupervisor;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "es-nt-"));
  server = new NatsServerSupervisor({ role: "peer", stateDir: dir, serverName: "contract", client: { host: "127.0.0.1", port: -1 } });
  await server.start();
});
after(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
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
    a, b, c,
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
  it("ignores messages on vault subjects whose sender token is malformed", async () => {
    const nc = await connect({ servers: server.clientUrl });
    const receiver = new NatsTransport({ nc, vaultId: VAULT, self: asPeerId("peer-r") });
    const got: string[] = [];
    await receiver.start({ onMessage: (from) => got.push(from) });
    nc.publish(`es.v1.vault.${VAULT}.p.peer-r.BAD_TOKEN!`, new Uint8Array([1, 0, 1]));
    nc.publish(`es.v1.vault.${VAULT}.p.peer-r.ok-sender`, new Uint8Array([9, 9])); // bad frame version
    nc.publish(`es.v1.vault.${VAULT}.p.peer-r.ok-sender`, new Uint8Array([1, 0, 42]));
    await nc.flush();
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, ["ok-sender"]);
    await receiver.stop();
    await nc.close();
  });
});
