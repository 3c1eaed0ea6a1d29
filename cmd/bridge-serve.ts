/** `edgesync bridge serve`: WSS for peers that do not speak NATS (browsers, scripts, editor plug-ins). */
import { Command, Option } from "clipanion";
import { readFile, writeFile, mkdir, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EdgesyncCommand, ExitCode } from "./base-command.js";
import { createLogger, asLog } from "./logger.js";
import { loadOrCreateIdentity, defaultIdentityPath, edgesyncHome } from "../agent/auth/identity.js";
import { ensureHubTls } from "../agent/auth/tls.js";
import { parseListenAddress } from "../agent/metrics.js";
import { startBridge } from "../bridge/server/bridge-server.js";
import { folderVault } from "../bridge/server/folder-vault.js";
import type { BridgeVault } from "../bridge/server/session.js";

const env = (name: string) => process.env[`EDGESYNC_${name}`] || undefined;

export class BridgeServeCommand extends EdgesyncCommand {
  static override paths = [["bridge", "serve"]];
  static override usage = Command.Usage({
    description: "Serve vaults over WebSocket (WSS) to peers that do not run NATS, with exactly the rights of each peer's own key",
    details: `
      Runs beside an agent (it relays to that agent's NATS server, from \`.edgesync/agent.json\` under EDGESYNC_HOME, or --nats).
      Peers connect to wss://HOST:PORT/v1/<vault id> with \`edgesync/client\`, authenticate with their ed25519 key (signed handshake bound to
      this TLS certificate, the hub key pinned on first use) and sync as one more peer of the vault. The certificate is the hub's
      (EDGESYNC_HOME/tls, made on first start). In open mode the vault folder's authorized_keys decides who may connect; with
      --vault-account (a NATS server in operator mode) the peer's self-issued user JWT does, enforced by NATS.
    `,
    examples: [
      ["Serve the vault in ~/notes", "edgesync bridge serve --cwd ~/notes --listen 0.0.0.0:8443"],
      ["Without TLS (behind a TLS-terminating proxy)", "edgesync bridge serve --cwd ~/notes --listen 127.0.0.1:8080 --no-tls"],
    ],
  });
  dirs = Option.Rest({ name: "vault folders" });
  listen = Option.String("--listen", { description: "HOST:PORT to listen on (default 127.0.0.1:8443; port 0 = any free port)" });
  noTls = Option.Boolean("--no-tls", false, { description: "Plain ws:// (only behind a TLS-terminating proxy or on loopback)" });
  nats = Option.String("--nats", { description: "NATS URL to relay to (default: the running agent's)" });
  account = Option.String("--vault-account", { description: "The vault's NATS account (A…) when the server runs in operator mode" });
  identity = Option.String("--identity", { description: "Hub key file (default ~/.edgesync/id_ed25519)" });

  async run() {
    const home = edgesyncHome();
    const logger = createLogger();
    const log = asLog(logger);
    const { host, port } = parseListenAddress(this.listen ?? env("BRIDGE_LISTEN") ?? "127.0.0.1:8443", "--listen");
    if (port < 0) throw new ExitCode(1, "--listen needs a port from 0 to 65535");
    if (this.account !== undefined && !/^A[A-Z2-7]{55}$/.test(this.account)) throw new ExitCode(1, `--vault-account ${JSON.stringify(this.account)} is not a NATS account public key (A… , 56 characters)`);
    const natsUrl = this.nats ?? env("BRIDGE_NATS") ?? (await agentNatsUrl(home));
    if (!natsUrl) throw new ExitCode(1, "no NATS server to relay to: start the agent first (`edgesync sync start`) or pass --nats nats://HOST:4222");
    const roots = (this.dirs.length > 0 ? this.dirs : [this.root]).map((d) => resolve(d));
    const { identity } = await loadOrCreateIdentity(this.identity ?? defaultIdentityPath(), true);
    if (roots.length > 1 && this.account) throw new ExitCode(1, "--vault-account names one vault's account: serve one folder per bridge in operator mode");
    const vaults = new Map<string, BridgeVault>();
    for (const root of roots) {
      const vault = await folderVault(root, identity, this.account);
      vaults.set(vault.id, vault);
    }
    let tls: { certPem: string; keyPem: string } | undefined;
    if (!this.noTls) {
      const files = await ensureHubTls(join(home, "tls"), { hostnames: host === "0.0.0.0" || host === "::" ? [] : [host] });
      tls = { certPem: files.certPem, keyPem: await readFile(files.keyFile, "utf8") };
      if (files.created) log.info({ fingerprint: files.fingerprint }, "created the hub's TLS certificate");
    }
    const bridge = await startBridge({ host, port, tls, hubKey: identity, vault: (id) => vaults.get(id), natsServers: natsUrl, log });
    const info = { pid: process.pid, port: bridge.port, origin: bridge.origin, certFingerprint: bridge.certFingerprint, hubKey: identity.fingerprint, hubPublicKey: Buffer.from(identity.publicKey).toString("base64"), vaults: [...vaults.values()].map((v) => ({ id: v.id, name: v.name, url: `${bridge.origin}/v1/${v.id}` })) };
    await mkdir(home, { recursive: true, mode: 0o700 });
    await writeFile(join(home, "bridge.json"), JSON.stringify(info, null, 2), { mode: 0o600 });
    for (const v of info.vaults) this.out(`bridge: vault ${v.name} on ${v.url}`);
    this.out(`bridge: hub key ${identity.fingerprint}${bridge.certFingerprint ? `, TLS certificate sha256 ${bridge.certFingerprint}` : ", no TLS"}`);
    await new Promise<void>((done) => {
      const shutdown = () => void bridge.close().finally(() => unlink(join(home, "bridge.json")).catch(() => {})).finally(done);
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
    });
  }
}

async function agentNatsUrl(home: string): Promise<string | undefined> {
  const text = await readFile(join(home, "agent.json"), "utf8").catch(() => undefined);
  if (!text) return undefined;
  try {
    const url = (JSON.parse(text) as { natsUrl?: unknown }).natsUrl;
    return typeof url === "string" && url ? url : undefined;
  } catch {
    return undefined;
  }
}
