/** `edgesync bridge serve`: WSS for peers that do not speak NATS (browsers, scripts, editor plug-ins). */
import { Command, Option } from "clipanion";
import { readFile, writeFile, mkdir, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EdgesyncCommand, ExitCode } from "./base-command.js";
import { createLogger, asLog } from "./logger.js";
import { edgesyncHome } from "../agent/auth/identity.js";
import { loadDeviceKey } from "../agent/auth/device-key.js";
import { parseListenAddress } from "../agent/metrics.js";
import { startBridge } from "../bridge/server/bridge-server.js";
import { folderVault } from "../bridge/server/folder-vault.js";
import { planBridgeTls } from "../bridge/server/agent-bridge.js";
import type { BridgeVault } from "../bridge/server/session.js";
import { CREDENTIALS_ENV, readLocalCredentials } from "../agent/auth/local-credentials.js";

const env = (name: string) => process.env[`EDGESYNC_${name}`] || undefined;

export class BridgeServeCommand extends EdgesyncCommand {
  static override paths = [["bridge", "serve"]];
  static override usage = Command.Usage({
    description:
      "Serve vaults over WebSocket (WSS) to peers that do not run NATS, with exactly the rights of each peer's own key",
    details: `
      Runs beside an agent (it relays to that agent's NATS server, from \`.edgesync/agent.json\` under EDGESYNC_HOME, or --nats).
      Peers connect to wss://HOST:PORT/v1/<vault id> with \`edgesync/client\`, authenticate with their ed25519 key (signed handshake bound to
      this TLS certificate, the hub key pinned on first use) and sync as one more peer of the vault. The certificate is its own
      (EDGESYNC_HOME/tls, made on first start) beside a leaf or peer. In open mode the vault folder's authorized_keys decides who may connect;
      beside a hub (operator mode, from agent.json) NATS enforces it too, through the user JWT each peer signs for the vault's account, and the
      bridge serves the hub's own certificate (.edgesync-server/tls.crt), which devices already pin. On a hub, \`sync start --bridge HOST:PORT\`
      serves every hosted vault, without a folder.
    `,
    examples: [
      ["Serve the vault in ~/notes", "edgesync bridge serve --cwd ~/notes --listen 0.0.0.0:8443"],
      [
        "Without TLS (behind a TLS-terminating proxy)",
        "edgesync bridge serve --cwd ~/notes --listen 127.0.0.1:8080 --no-tls",
      ],
    ],
  });
  dirs = Option.Rest({ name: "vault folders" });
  listen = Option.String("--listen", {
    description: "HOST:PORT to listen on (default 127.0.0.1:8443; port 0 = any free port)",
  });
  noTls = Option.Boolean("--no-tls", false, {
    description: "Plain ws:// (only behind a TLS-terminating proxy or on loopback)",
  });
  nats = Option.String("--nats", { description: "NATS URL to relay to (default: the running agent's)" });
  serverDir = Option.String("--server-dir", {
    description: "Beside a hub: its server folder (default ~/.edgesync/.edgesync-server)",
  });
  natsNoTls = Option.Boolean("--nats-no-tls", false, { description: "Beside a hub started with --no-tls: plain NATS" });
  identity = Option.String("--identity", { description: "Hub key file (default ~/.edgesync/id_ed25519)" });
  identityAgent = Option.String("--identity-agent", {
    description: "ssh-agent socket holding that key (or EDGESYNC_IDENTITY_AGENT)",
  });

  async run() {
    const home = edgesyncHome();
    const logger = createLogger();
    const log = asLog(logger);
    const { host, port } = parseListenAddress(this.listen ?? env("BRIDGE_LISTEN") ?? "127.0.0.1:8443", "--listen");
    if (port < 0) throw new ExitCode(1, "--listen needs a port from 0 to 65535");
    const agent = await agentInfo(home);
    const natsUrl = this.nats ?? env("BRIDGE_NATS") ?? agent?.natsUrl;
    if (!natsUrl)
      throw new ExitCode(
        1,
        "no NATS server to relay to: start the agent first (`edgesync sync start`) or pass --nats nats://HOST:4222",
      );
    const roots = (this.dirs.length > 0 ? this.dirs : [this.root]).map((d) => resolve(d));
    const { key: identity } = await loadDeviceKey({
      identityPath: this.identity,
      agentSocket: this.identityAgent,
      create: true,
    });
    // The agent's own leaf or peer server admits only its local user; any other server is the user's to configure.
    const credentialsFile =
      process.env[CREDENTIALS_ENV] || (natsUrl === agent?.natsUrl ? agent?.natsCredentials : undefined);
    const localNatsAuthenticator = credentialsFile
      ? (await readLocalCredentials(credentialsFile)).authenticator
      : undefined;
    const plan = await planBridgeTls({
      role: agent?.role ?? "attached",
      home,
      serverDir: this.serverDir ?? env("SERVER_DIR"),
      host,
      noTls: this.noTls,
      natsNoTls: this.natsNoTls,
      localNatsAuthenticator,
    });
    const vaults = new Map<string, BridgeVault>();
    for (const root of roots) {
      const vault = await folderVault(root, identity, plan.operatorMode);
      vaults.set(vault.id, vault);
    }
    const bridge = await startBridge({
      host,
      port,
      tls: plan.tls,
      hubKey: identity,
      vault: (id) => vaults.get(id),
      natsServers: natsUrl,
      natsOptions: plan.natsOptions,
      operatorMode: plan.operatorMode,
      log,
    });
    const info = {
      pid: process.pid,
      port: bridge.port,
      origin: bridge.origin,
      certFingerprint: bridge.certFingerprint,
      operatorMode: plan.operatorMode,
      hubKey: identity.fingerprint,
      hubPublicKey: Buffer.from(identity.publicKey).toString("base64"),
      vaults: [...vaults.values()].map((v) => ({ id: v.id, name: v.name, url: `${bridge.origin}/v1/${v.id}` })),
    };
    await mkdir(home, { recursive: true, mode: 0o700 });
    await writeFile(join(home, "bridge.json"), JSON.stringify(info, null, 2), { mode: 0o600 });
    for (const v of info.vaults)
      this.out(
        `bridge: vault ${v.name} on ${v.url} (automerge-repo clients: ${bridge.origin}/automerge with a signed token)`,
      );
    this.out(
      `bridge: hub key ${identity.fingerprint}${bridge.certFingerprint ? `, TLS certificate sha256 ${bridge.certFingerprint}` : ", no TLS"}${plan.operatorMode ? ", NATS operator mode" : ""}`,
    );
    await new Promise<void>((done) => {
      const shutdown = () =>
        void bridge
          .close()
          .finally(() => unlink(join(home, "bridge.json")).catch(() => {}))
          .finally(done);
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
    });
  }
}

async function agentInfo(
  home: string,
): Promise<{ natsUrl?: string; role?: string; natsCredentials?: string } | undefined> {
  const text = await readFile(join(home, "agent.json"), "utf8").catch(() => undefined);
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as { natsUrl?: unknown; role?: unknown; natsCredentials?: unknown };
    return {
      natsUrl: typeof parsed.natsUrl === "string" && parsed.natsUrl ? parsed.natsUrl : undefined,
      role: typeof parsed.role === "string" ? parsed.role : undefined,
      natsCredentials: typeof parsed.natsCredentials === "string" ? parsed.natsCredentials : undefined,
    };
  } catch {
    return undefined;
  }
}
