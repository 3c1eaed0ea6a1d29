/**
 * A bridge in front of a real nats-server with one vault peer on it (the sync engine the agent
 * runs, over the NATS transport, holding one file `keep.md`): what the bridge interop and
 * hostile-input tests stand on. `stopHub()`/`startHub()` take the hub's side down and back up as a
 * hub restart does (its nats-server and its bridge, on the same ports, with the same certificate
 * and key). `stop()` removes everything, the temp folder included.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startTestNatsServer, type TestNatsServer } from "./test-nats-server.js";
import { generateHubCert } from "../../agent/auth/tls.js";
import { NatsTransport } from "../../agent/nats/nats-transport.js";
import { SyncEngine } from "../../agent/sync/engine.js";
import { MemoryStore } from "../../agent/vault/store/memory-store.js";
import { applyFileOps, createVaultDoc } from "../../agent/vault/model/vault-doc.js";
import { asPeerId } from "../../agent/sync/ports.js";
import { startBridge, type BridgeServer, type BridgeServerConfig } from "../../bridge/server/bridge-server.js";
import { keyFromSeed } from "../../bridge/client/handshake.js";

export interface BridgeRigOptions {
  /** Names the temp folder, the server and the vault. */
  name: string;
  /** The vault peer's id on the bus and its Automerge actor (32 hex digits). */
  peer: string;
  actor: string;
  keepText: string;
  isAuthorised: (key: Uint8Array) => boolean;
  limits?: BridgeServerConfig["limits"];
}

export interface BridgeRig {
  dir: string;
  vaultId: string;
  nats: TestNatsServer;
  engine: SyncEngine;
  bridge: BridgeServer;
  /** The bridge's certificate as a PEM file (for NODE_EXTRA_CA_CERTS). */
  certFile: string;
  /** Stops the bridge and its nats-server (the vault peer keeps trying to reconnect). */
  stopHub(): Promise<void>;
  /** Starts them again on the same ports; `bridge` is then the new one. */
  startHub(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBridgeRig(options: BridgeRigOptions): Promise<BridgeRig> {
  const dir = await mkdtemp(join(tmpdir(), `es-${options.name}-`));
  const vaultId = randomUUID();
  let nats: TestNatsServer | undefined;
  let nc: NatsConnection | undefined;
  let engine: SyncEngine | undefined;
  let tick: NodeJS.Timeout | undefined;
  let bridge: BridgeServer | undefined;
  const stop = async () => {
    clearInterval(tick);
    await bridge?.close();
    await engine?.stop();
    await nc?.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    nats = await startTestNatsServer(dir, "", options.name);
    // It outlives a hub restart (stopHub/startHub), however long the test keeps the hub down.
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const self = asPeerId(options.peer);
    let doc = createVaultDoc({ vaultId, name: options.name, createdAt: Date.now() }, options.actor);
    doc = applyFileOps(
      doc,
      [{ type: "put", path: "keep.md", bytes: new TextEncoder().encode(options.keepText), mtime: 1 }],
      { time: Date.now(), by: options.peer },
    );
    engine = new SyncEngine({
      self,
      doc,
      store: new MemoryStore(),
      transport: new NatsTransport({ nc, vaultId, self }),
      clock: { now: () => Date.now() },
    });
    await engine.start();
    const running = engine;
    tick = setInterval(() => void running.tick(), 200);
    const cert = await generateHubCert();
    const certFile = join(dir, "hub.crt");
    await writeFile(certFile, cert.certPem);
    const hubKey = await keyFromSeed(new Uint8Array(randomBytes(32)));
    const natsUrl = nats.url;
    const serve = (port: number) =>
      startBridge({
        host: "127.0.0.1",
        port,
        tls: { certPem: cert.certPem, keyPem: cert.keyPem },
        hubKey,
        vault: (id) => (id === vaultId ? { id, name: options.name, isAuthorised: options.isAuthorised } : undefined),
        natsServers: natsUrl,
        limits: options.limits,
      });
    bridge = await serve(0);
    const rig: BridgeRig = {
      dir,
      vaultId,
      nats,
      engine,
      bridge,
      certFile,
      stop,
      async stopHub() {
        await bridge?.close();
        await nats?.stop();
      },
      async startHub() {
        const natsPort = (nats as TestNatsServer).port;
        nats = await startTestNatsServer(dir, `port: ${natsPort}`, `${options.name}-again`);
        rig.nats = nats;
        bridge = await serve((bridge as BridgeServer).port);
        rig.bridge = bridge;
      },
    };
    return rig;
  } catch (error) {
    await stop();
    throw error;
  }
}
