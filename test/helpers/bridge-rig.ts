/**
 * A bridge in front of a real nats-server with one vault peer on it (the sync engine the agent
 * runs, over the NATS transport, holding one file `keep.md`): what the bridge interop and
 * hostile-input tests stand on. `stop()` removes everything, the temp folder included.
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
    nc = await connect({ servers: nats.url });
    const self = asPeerId(options.peer);
    let doc = createVaultDoc({ vaultId, name: options.name, createdAt: Date.now() }, options.actor);
    doc = applyFileOps(doc, [{ type: "put", path: "keep.md", bytes: new TextEncoder().encode(options.keepText), mtime: 1 }], { time: Date.now(), by: options.peer });
    engine = new SyncEngine({ self, doc, store: new MemoryStore(), transport: new NatsTransport({ nc, vaultId, self }), clock: { now: () => Date.now() } });
    await engine.start();
    const running = engine;
    tick = setInterval(() => void running.tick(), 200);
    const cert = await generateHubCert();
    const certFile = join(dir, "hub.crt");
    await writeFile(certFile, cert.certPem);
    bridge = await startBridge({
      host: "127.0.0.1", port: 0, tls: { certPem: cert.certPem, keyPem: cert.keyPem }, hubKey: await keyFromSeed(new Uint8Array(randomBytes(32))),
      vault: (id) => (id === vaultId ? { id, name: options.name, isAuthorised: options.isAuthorised } : undefined),
      natsServers: nats.url,
      limits: options.limits,
    });
    return { dir, vaultId, nats, engine, bridge, certFile, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
