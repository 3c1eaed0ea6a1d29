/**
 * The bridge inside a running agent (`sync start --bridge HOST:PORT`): it serves every vault the
 * agent hosts — folders and, on a hub, replicas — and authorises in open mode from the
 * `authorized_keys` file *in the vault document*, as synced from the vault's devices (so a hub
 * without the folder still knows the keys). With no usable key there, only the agent's own key is
 * let in (authorized-keys.ts effectiveKeys).
 */
import { readFile, writeFile, mkdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ensureHubTls } from "../../agent/auth/tls.js";
import { effectiveKeys, parseAuthorizedKeys, AUTHORIZED_KEYS_BYTES_MAX } from "../../agent/auth/authorized-keys.js";
import { equalBytes } from "../../agent/auth/openssh-format.js";
import { AUTHORIZED_KEYS } from "../../agent/fs/sync-filter.js";
import { readEntry, vaultMeta } from "../../agent/vault/model/vault-doc.js";
import type { SyncEngine } from "../../agent/sync/engine.js";
import type { Log } from "../../agent/sync/ports.js";
import { startBridge, type BridgeServer } from "./bridge-server.js";
import type { BridgeVault } from "./session.js";
import type { SigningKey } from "../client/handshake.js";

export interface AgentBridgeOptions {
  host: string;
  port: number;
  noTls: boolean;
  home: string;
  hubKey: SigningKey;
  natsUrl: string;
  engines: () => SyncEngine[];
  log: Log;
}

/** The vault an engine holds, authorised by the authorized_keys in its document. */
export function engineVault(engine: SyncEngine, hubKey: { publicKey: Uint8Array }): BridgeVault | undefined {
  const meta = vaultMeta(engine.doc);
  if (!meta) return undefined;
  return {
    id: meta.vaultId,
    name: meta.name,
    isAuthorised: (publicKey) => {
      const entry = readEntry(engine.doc, AUTHORIZED_KEYS);
      const text = entry && entry.bytes.length <= AUTHORIZED_KEYS_BYTES_MAX ? new TextDecoder().decode(entry.bytes) : "";
      return effectiveKeys(parseAuthorizedKeys(text), hubKey).keys.some((k) => equalBytes(k.publicKey, publicKey));
    },
  };
}

export async function startAgentBridge(options: AgentBridgeOptions): Promise<{ bridge: BridgeServer; stop: () => Promise<void> }> {
  let tls: { certPem: string; keyPem: string } | undefined;
  if (!options.noTls) {
    const files = await ensureHubTls(join(options.home, "tls"), { hostnames: options.host === "0.0.0.0" || options.host === "::" ? [] : [options.host] });
    tls = { certPem: files.certPem, keyPem: await readFile(files.keyFile, "utf8") };
  }
  const bridge = await startBridge({
    host: options.host, port: options.port, tls, hubKey: options.hubKey, natsServers: options.natsUrl, log: options.log,
    vault: (id) => {
      for (const engine of options.engines()) if (vaultMeta(engine.doc)?.vaultId === id) return engineVault(engine, options.hubKey);
      return undefined;
    },
  });
  const infoPath = join(options.home, "bridge.json");
  await mkdir(options.home, { recursive: true, mode: 0o700 });
  await writeFile(infoPath, JSON.stringify({ pid: process.pid, port: bridge.port, origin: bridge.origin, certFingerprint: bridge.certFingerprint, hubPublicKey: Buffer.from(options.hubKey.publicKey).toString("base64") }, null, 2), { mode: 0o600 });
  options.log.info({ origin: bridge.origin, certFingerprint: bridge.certFingerprint }, "bridge serving the agent's vaults on /v1/<vault id> and /automerge");
  return {
    bridge,
    stop: async () => {
      await bridge.close();
      await unlink(infoPath).catch(() => {});
    },
  };
}
