import { Command, Option } from "clipanion";
import { resolve } from "node:path";
import { stat } from "node:fs/promises";
import { EdgesyncCommand, ExitCode } from "./base-command.js";
import type { NatsRole } from "../agent/nats/server-config.js";
import { loadVaultConfig } from "../agent/vault/config.js";
import { createLogger, asLog } from "./logger.js";
import { terminalConfirm } from "./trust-prompt.js";

const ROLES = new Set(["peer", "hub", "leaf"]);
const env = (name: string) => process.env[`EDGESYNC_${name}`] || undefined;

export class SyncStartCommand extends EdgesyncCommand {
  static override paths = [["sync", "start"]];
  static override usage = Command.Usage({
    description: "Run the agent: start (or attach to) NATS in a role, watch the vault folders, sync in real time",
    details: `
      Roles: \`hub\` (a server others reach: client port 4222 and leafnode port 7422 by default) keeps a copy of every vault it hears of;
      \`leaf\` (a laptop) starts a local NATS that dials the hub outward, so it works behind NAT; \`peer\` meshes with other peers through cluster routes.
      Peer routes use mutual TLS with certificates made from the device keys: only servers whose key is in the authorized_keys of every vault the
      peer syncs may route to it, and a key removed from the file loses its routes at once. The cluster listener is on 127.0.0.1 unless
      --cluster-listen says otherwise; a peer dialled by a name or address its certificate does not know needs --tls-hostname.
      Every flag has an environment twin (EDGESYNC_NATS_ROLE, EDGESYNC_HUB, EDGESYNC_NATS_LISTEN, EDGESYNC_LEAF_LISTEN, EDGESYNC_LEAF_WS_LISTEN, EDGESYNC_LEAF_WS_NO_TLS=1,
      EDGESYNC_CLUSTER_LISTEN, EDGESYNC_PEERS, EDGESYNC_NATS_UPSTREAM, EDGESYNC_METRICS, EDGESYNC_VAULTS, EDGESYNC_SERVER_DIR, EDGESYNC_BRIDGE,
      EDGESYNC_TLS_HOSTNAMES, EDGESYNC_NO_TLS=1, EDGESYNC_ACCEPT_HUB_KEY=1, EDGESYNC_INBOX, EDGESYNC_INBOX_URL, EDGESYNC_NOTIFY_NATS_URL,
      EDGESYNC_NOTIFY_NAME, EDGESYNC_REPLICA_IDLE_UNLOAD_MS) so a container needs no command line.
      Every agent also runs notify (\`edgesync notify …\`): messages for its human, synced like a vault; \`--inbox\` serves the web inbox.
      A hub runs NATS in operator mode: each vault is an account that only the keys in the vault's authorized_keys (and the hub) can use;
      its admins (EDGESYNC_AUTHORIZED_KEYS, merged on start, or .edgesync-server/authorized_keys) may add new vaults. Its listeners use TLS with a
      self-signed certificate that devices pin on first use; --no-tls is for a TLS-terminating proxy in front.
    `,
    examples: [
      ["A hub on a VPS", "edgesync sync start --nats-role hub"],
      ["A laptop", "edgesync sync start --nats-role leaf --hub nats-leaf://hub.example.org:7422 ~/notes"],
      [
        "A laptop with the notify web inbox",
        "edgesync sync start --hub nats-leaf://hub.example.org:7422 --inbox 127.0.0.1:8787 ~/notes",
      ],
      [
        "A second hub in the first one's cluster (after `edgesync hub import`)",
        "edgesync sync start --nats-role hub --cluster-listen 0.0.0.0:6222 --peer nats-route://hub1.example.org:6222",
      ],
      [
        "Two peers on a LAN (each key in the vault's authorized_keys)",
        "edgesync sync start --nats-role peer --cluster-listen 0.0.0.0:6222 --peer nats-route://10.0.0.2:6222",
      ],
    ],
  });
  dirs = Option.Rest({ name: "vault folders" });
  role = Option.String("--nats-role", {
    description: "peer | hub | leaf (default: leaf when a hub is known, else peer)",
  });
  natsListen = Option.String("--nats-listen", { description: "Client listener HOST:PORT" });
  leafListen = Option.String("--leaf-listen", {
    description: "Hub: leafnode listener HOST:PORT (default 0.0.0.0:7422)",
  });
  leafWsListen = Option.String("--leaf-ws-listen", {
    description:
      "Hub: leafnodes over websocket HOST:PORT (wss:// with the hub's certificate; leaves dial wss://HOST:PORT)",
  });
  leafWsNoTls = Option.Boolean("--leaf-ws-no-tls", false, {
    description:
      "Hub: the websocket listener is plain ws:// for a TLS-terminating proxy in front (leaves dial the proxy's wss://)",
  });
  hub = Option.Array("--hub", {
    description:
      "Leaf: the hub's leafnode URL, nats-leaf://HOST:7422; repeat it for the other hubs of a cluster, dialled when one is lost",
  });
  clusterListen = Option.String("--cluster-listen", {
    description:
      "Peer or hub: cluster listener HOST:PORT (default 127.0.0.1:6222; 0.0.0.0:6222 for other machines); a hub joins the hubs' cluster",
  });
  peers = Option.Array("--peer", {
    description: "Peer or hub: route URL of another peer, or of another hub of the cluster (repeatable)",
  });
  upstream = Option.String("--nats-upstream", { description: "Attach to this NATS server instead of starting one" });
  metrics = Option.String("--metrics", { description: "Serve Prometheus /metrics and /healthz on HOST:PORT" });
  identity = Option.String("--identity", { description: "Device key file" });
  inbox = Option.String("--inbox", {
    description: "Serve the notify web inbox on HOST:PORT (loopback unless a TLS proxy fronts it)",
  });
  inboxUrl = Option.String("--inbox-url", {
    description: "The inbox's address as browsers reach it, e.g. https://inbox.example.org behind a TLS proxy",
  });
  notifyNatsUrl = Option.String("--notify-nats-url", {
    description: "NATS URL put in notify pairing links, the hub's public client URL (default: this agent's server)",
  });
  notifyName = Option.String("--notify-name", { description: "This device's name in notify (default: the host name)" });
  identityAgent = Option.String("--identity-agent", {
    description:
      "ssh-agent socket holding the device key; its .pub beside --identity picks the key (or EDGESYNC_IDENTITY_AGENT)",
  });
  allowMassDelete = Option.Boolean("--allow-mass-delete", false, {
    description: "Let a scan delete most of the vault at once",
  });
  serverDir = Option.String("--server-dir", {
    description: "Hub: keys, certificate and hosted vaults (default ~/.edgesync/.edgesync-server)",
  });
  tlsHostnames = Option.Array("--tls-hostname", {
    description:
      "Hub: a name or address clients dial; peer: one other peers dial. Added to the certificate (repeatable)",
  });
  noTls = Option.Boolean("--no-tls", false, {
    description: "Hub: plain listeners for a TLS-terminating proxy; leaf: reach the hub through one",
  });
  acceptHubKey = Option.Boolean("--accept-hub-key", false, {
    description: "Leaf: trust the hub's certificate on first use without asking",
  });
  bridge = Option.String("--bridge", {
    description: "Also serve the vaults over WSS for peers without NATS on HOST:PORT (see `bridge serve --help`)",
  });
  bridgeNoTls = Option.Boolean("--bridge-no-tls", false, {
    description: "The bridge without TLS (behind a TLS-terminating proxy)",
  });
  replicaIdleUnloadMs = Option.String("--replica-idle-unload-ms", {
    description:
      "Hub: unload a vault's replica from memory after this many ms without work (default 300000); the next message loads it",
  });

  replicas = Option.String("--replicas", {
    description:
      "Hub in a cluster: how many hubs host each vault, chosen by rendezvous hashing over the live hubs (default 3, or every hub when fewer)",
  });
  replicaHandoverMs = Option.String("--replica-handover-ms", {
    description:
      "Hub in a cluster: how long a replica placed on other hubs stays while its successor catches up (default 30000)",
  });

  async run() {
    const roots = await this.vaultRoots();
    const hubFromConfig = roots.length > 0 ? (await loadVaultConfig(roots[0])).hub.leafUrl : undefined;
    const [hubUrl, ...moreHubUrls] =
      this.hub ?? env("HUB")?.split(",").filter(Boolean) ?? (hubFromConfig ? [hubFromConfig] : []);
    const role = (this.role ?? env("NATS_ROLE") ?? (hubUrl ? "leaf" : "peer")) as NatsRole;
    if (!ROLES.has(role)) throw new ExitCode(1, `unknown --nats-role ${JSON.stringify(role)}: use peer, hub or leaf`);
    const logger = createLogger();
    // The agent and its parts are loaded here, not at the top: every other command (a clone, a
    // status) would otherwise pay at start for importing code it never runs.
    const { assembleAgent } = await import("./assemble-agent.js");
    const bridgeListen = this.bridge ?? env("BRIDGE");
    const agentConfig = {
      roots,
      role,
      identityPath: this.identity,
      identityAgent: this.identityAgent,
      natsListen: this.natsListen ?? env("NATS_LISTEN"),
      leafListen: this.leafListen ?? env("LEAF_LISTEN"),
      leafWsListen: this.leafWsListen ?? env("LEAF_WS_LISTEN"),
      leafWsNoTls: this.leafWsNoTls || env("LEAF_WS_NO_TLS") === "1",
      hubUrl,
      moreHubUrls,
      clusterListen: this.clusterListen ?? env("CLUSTER_LISTEN"),
      peers: this.peers ?? env("PEERS")?.split(",").filter(Boolean),
      upstream: this.upstream ?? env("NATS_UPSTREAM"),
      metrics: this.metrics ?? env("METRICS"),
      allowMassDelete: this.allowMassDelete,
      replicaIdleUnloadMs: parseIdleUnloadMs(this.replicaIdleUnloadMs ?? env("REPLICA_IDLE_UNLOAD_MS")),
      replicas: parseReplicas(this.replicas ?? env("REPLICAS")),
      replicaHandoverMs: parseHandoverMs(this.replicaHandoverMs ?? env("REPLICA_HANDOVER_MS")),
      serverDir: this.serverDir ?? env("SERVER_DIR"),
      tlsHostnames: this.tlsHostnames ?? env("TLS_HOSTNAMES")?.split(",").filter(Boolean),
      authorizedKeys: env("AUTHORIZED_KEYS")?.replace(/\\n/g, "\n"),
      noTls: this.noTls || env("NO_TLS") === "1",
      trust: { accept: this.acceptHubKey || env("ACCEPT_HUB_KEY") === "1", confirm: terminalConfirm() },
      onFatal: (error: Error) => {
        fatalReason = error.message;
        fatal("fatal");
      },
      log: asLog(logger),
    };
    const agent = await assembleAgent({
      agent: agentConfig,
      notify: {
        inbox: this.inbox ?? env("INBOX"),
        inboxUrl: checkUrl(
          this.inboxUrl ?? env("INBOX_URL"),
          "--inbox-url",
          ["http:", "https:"],
          "https://inbox.example.org",
        ),
        notifyNatsUrl: checkUrl(
          this.notifyNatsUrl ?? env("NOTIFY_NATS_URL"),
          "--notify-nats-url",
          ["nats:", "tls:", "ws:", "wss:"],
          "nats://hub.example.org:4222",
        ),
        notifyName: this.notifyName ?? env("NOTIFY_NAME"),
      },
      ...(bridgeListen ? { bridge: { listen: bridgeListen, noTls: this.bridgeNoTls } } : {}),
    });
    let fatal: (reason: string) => void = () => {};
    let fatalReason: string | undefined;
    const stopped = new Promise<void>((done) => {
      const shutdown = (signal: string) => {
        logger.info({ signal }, "stopping");
        void agent.stop().finally(done);
      };
      process.once("SIGINT", () => shutdown("SIGINT"));
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      fatal = shutdown;
    });
    try {
      await agent.start();
    } catch (error) {
      await agent.stop();
      throw error;
    }
    logger.info({ role, natsUrl: agent.natsUrl, vaults: roots }, "agent running");
    await stopped;
    if (fatalReason)
      throw new ExitCode(1, `${fatalReason}; the agent stopped (run it under a service manager to restart it)`);
  }

  /** Folders from the arguments, EDGESYNC_VAULTS, or the current folder when it is a vault. */
  async vaultRoots(): Promise<string[]> {
    const given = this.dirs.length > 0 ? this.dirs : (env("VAULTS")?.split(",").filter(Boolean) ?? []);
    if (given.length > 0) return given.map((d) => resolve(d));
    const here = this.root;
    const isVault = await stat(resolve(here, ".edgesync/config.toml")).then(
      () => true,
      () => false,
    );
    return isVault ? [here] : [];
  }
}

/** An optional URL flag: undefined, or a URL with one of `schemes` (else a one-line error with an example). */
function checkUrl(value: string | undefined, flag: string, schemes: string[], example: string): string | undefined {
  if (value === undefined) return undefined;
  const parsed = URL.canParse(value) ? new URL(value) : undefined;
  if (parsed === undefined || !schemes.includes(parsed.protocol) || !parsed.hostname) {
    throw new ExitCode(
      1,
      `${flag} ${JSON.stringify(value)} is not a ${schemes.map((s) => s.slice(0, -1)).join("/")} URL: write e.g. ${example}`,
    );
  }
  return value;
}

/** Bare `edgesync` and `edgesync <dir>` run the agent on that folder. */
export class DefaultCommand extends SyncStartCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({ description: "Run the agent on the given folder (same as `sync start`)" });

  override async run() {
    for (const dir of this.dirs) {
      const isDir = await stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!isDir)
        throw new ExitCode(
          1,
          `unknown command or folder ${JSON.stringify(dir)} — run \`edgesync --help\` for the list of commands`,
        );
    }
    return super.run();
  }
}

/** More would only multiply every edit's traffic: each replica syncs with every device of its vault. */
const REPLICAS_MAX = 16;

/** Whole milliseconds, at least 1; undefined keeps the agent's default. */
function parseIdleUnloadMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(ms) || ms < 1)
    throw new ExitCode(
      1,
      `--replica-idle-unload-ms ${JSON.stringify(value)} is not a positive whole number of milliseconds (e.g. 300000 for five minutes)`,
    );
  return ms;
}

/** Replicas per vault: a whole number from 1 to REPLICAS_MAX. */
function parseReplicas(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > REPLICAS_MAX)
    throw new ExitCode(
      1,
      `--replicas ${JSON.stringify(value)} is not a whole number from 1 to ${REPLICAS_MAX} (hubs hosting each vault; 3 keeps a vault through two hub failures)`,
    );
  return n;
}

/** Whole milliseconds, 0 or more (0: release at once); undefined keeps the agent's default. */
function parseHandoverMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(ms))
    throw new ExitCode(
      1,
      `--replica-handover-ms ${JSON.stringify(value)} is not a whole number of milliseconds (e.g. 30000 for half a minute)`,
    );
  return ms;
}
