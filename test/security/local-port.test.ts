/**
 * Threat: another user (or any process) on the device's machine uses the agent's local NATS port.
 * A leaf's and a peer's nats-server listen on loopback for the agent, the CLI and notify; without
 * credentials anyone on the machine could subscribe to `>` there (every sync and notify message of
 * the vault) and publish as the device through its leaf link. The attacker here is a hand-written
 * NATS client on a raw TCP socket, run as a separate process (and, as root, as another uid).
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { sandbox, stop, readText, type Sandbox } from "../helpers/cli.js";
import { startAgent, startHub, cli, publicKeyLine, startMeshedPeers, type RunningAgent } from "../helpers/agents.js";
import { loadVaultConfig } from "../../agent/vault/config.js";
import type * as Client from "../../bridge/client/index.js";
import type * as ClientNode from "../../bridge/node/index.js";
import { waitFor } from "../helpers/wait.js";

/**
 * The attacker: connects to 127.0.0.1:PORT, answers the server's INFO with a CONNECT built from
 * argv[2] (JSON), subscribes to `>` and pings, and prints every chunk it receives as a JSON line
 * until the server closes the socket or it is killed. With argv[3] it first tries to read that file
 * (the agent's credentials) and says what happened. Plain Node, no NATS library.
 */
const RAW_CLIENT = String.raw`
const net = require("node:net");
const fs = require("node:fs");
const [port, connectJson, credentialsPath] = process.argv.slice(1);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
if (credentialsPath) {
  try { fs.readFileSync(credentialsPath); say({ credentials: "read" }); } catch (e) { say({ credentials: e.code }); }
}
const socket = net.connect(Number(port), "127.0.0.1");
let greeted = false;
socket.on("data", (chunk) => {
  say({ data: chunk.toString("latin1") });
  if (greeted) return;
  greeted = true;
  socket.write("CONNECT " + connectJson + "\r\nSUB > 1\r\nPING\r\n");
});
socket.on("error", (e) => say({ error: e.code }));
socket.on("close", () => { say({ closed: true }); process.exit(0); });
`;

const PLAIN_CONNECT = JSON.stringify({ verbose: false, pedantic: false, protocol: 1, name: "local-attacker" });

interface Attacker {
  /** Everything the server sent, concatenated. */
  received(): string;
  credentials(): string | undefined;
  closed(): boolean;
  stop(): Promise<void>;
}

function attack(
  port: number,
  options: { connect?: string; credentialsPath?: string; asNobody?: boolean } = {},
): Attacker {
  const args = [
    "-e",
    RAW_CLIENT,
    String(port),
    options.connect ?? PLAIN_CONNECT,
    ...(options.credentialsPath ? [options.credentialsPath] : []),
  ];
  const child = options.asNobody
    ? spawn("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        cwd: "/",
      })
    : spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: Record<string, unknown>[] = [];
  let pending = "";
  child.stdout.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    for (const line of parts) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    received: () =>
      lines.map((l) => (typeof l.data === "string" ? l.data : "")).join("") + (stderr ? `\n[stderr] ${stderr}` : ""),
    credentials: () => lines.find((l) => l.credentials !== undefined)?.credentials as string | undefined,
    closed: () => lines.some((l) => l.closed === true),
    stop: () => stop(child, "SIGTERM", 5_000),
  };
}

interface AgentJson {
  natsUrl: string;
  natsCredentials?: string;
}

const agentJson = async (agent: RunningAgent) =>
  JSON.parse(await readFile(join(agent.home, "agent.json"), "utf8")) as AgentJson;
const clientPort = (agent: RunningAgent) => Number(new URL(agent.info.natsUrl).port);

/**
 * An edit on `from` reaches `to` while the attacker listens on `from`'s local port; the attacker
 * must have been refused and have received no message.
 */
async function assertRefusedWhileAnEditSyncs(
  target: RunningAgent,
  from: string,
  to: string,
  detail: () => string,
): Promise<void> {
  const attacker = attack(clientPort(target));
  try {
    await waitFor(
      "the server to answer the attacker",
      () => attacker.received().includes("INFO "),
      10_000,
      attacker.received,
    );
    const body = `secret written at ${Date.now()}\n`;
    await writeFile(join(from, "secret.md"), body);
    await waitFor(
      "the edit on the other device",
      async () => (await readText(join(to, "secret.md"))) === body,
      30_000,
      detail,
    );
    await waitFor("the server to close the attacker's socket", attacker.closed, 10_000, attacker.received);
    const got = attacker.received();
    assert.match(got, /-ERR 'Authorization Violation'/, got);
    assert.doesNotMatch(got, /\bMSG /, "the attacker received a message");
    assert.doesNotMatch(got, /\+PONG/, "the attacker's PING was answered: it was admitted");
    assert.doesNotMatch(got, /secret written/);
  } finally {
    await attacker.stop();
  }
}

async function assertCredentialModes(agent: RunningAgent): Promise<string> {
  const { natsCredentials } = await agentJson(agent);
  assert.ok(natsCredentials, "agent.json names the local NATS credentials file");
  assert.ok(natsCredentials.startsWith(agent.home), `${natsCredentials} is under the agent's home ${agent.home}`);
  assert.equal((await stat(natsCredentials)).mode & 0o777, 0o600);
  assert.equal((await stat(dirname(natsCredentials))).mode & 0o777, 0o700);
  return natsCredentials;
}

describe("a leaf's local NATS port", () => {
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  let a: string;
  let b: string;
  const detail = () => [hub, leafA, leafB].map((x) => x?.output().slice(-2500)).join("\n---\n");

  before(async () => {
    box = await sandbox("local-port");
    hub = await startHub(box, ["a"]);
    const ports = hub.info.ports!;
    a = join(box.dir, "a");
    b = join(box.dir, "b");
    await mkdir(a);
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "private"]).code, 0);
    leafA = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${ports.leafnode}`,
      "--accept-hub-key",
      "--cwd",
      a,
    ]);
    await writeFile(
      join(a, "authorized_keys"),
      `${await readText(join(a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
    );
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "the hub to replicate the vault",
      () => {
        cloned = cli(box, "b", ["clone", `nats://127.0.0.1:${ports.client}`, b, "--accept-hub-key"]);
        return cloned.code === 0;
      },
      30_000,
      () => cloned.stderr + detail(),
    );
    // B also serves its vaults to bridge peers: the bridge inside the agent relays through the local port.
    leafB = await startAgent(box, "b", ["--cwd", b, "--bridge", "127.0.0.1:0"]);
  });

  after(async () => {
    for (const agent of [leafA, leafB, hub]) if (agent) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("refuses a client without credentials, which receives nothing while the vault syncs an edit through the hub", async () => {
    await assertRefusedWhileAnEditSyncs(leafA, a, b, detail);
  });

  it("refuses a client that presents a user and password, a token, or an nkey it does not know", async () => {
    for (const fields of [
      { user: "edgesync", pass: "edgesync" },
      { auth_token: "edgesync" },
      { nkey: "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4", sig: "AAAA" },
    ]) {
      const attacker = attack(clientPort(leafA), {
        connect: JSON.stringify({ verbose: false, pedantic: false, protocol: 1, ...fields }),
      });
      try {
        await waitFor("the server to close the socket", attacker.closed, 10_000, attacker.received);
        assert.match(attacker.received(), /-ERR 'Authorization Violation'/, JSON.stringify(fields));
        assert.doesNotMatch(attacker.received(), /\+PONG|\bMSG /, JSON.stringify(fields));
      } finally {
        await attacker.stop();
      }
    }
  });

  it("keeps the credentials in a 0600 file in a 0700 folder under the agent's home", async () => {
    await assertCredentialModes(leafA);
  });

  it("stops another uid: it cannot read the credentials file, and without it the port refuses it", async () => {
    assert.equal(
      process.getuid?.(),
      0,
      "this test switches to uid nobody with setpriv: it needs root (CI runs as root); run it as root",
    );
    const credentials = await assertCredentialModes(leafA);
    // Open every folder above the credentials' own folder to other users, so that only that folder's
    // and the file's own modes stand between the other uid and the secret.
    for (const dir of [box.dir, leafA.home]) await chmod(dir, 0o711);
    const attacker = attack(clientPort(leafA), { credentialsPath: credentials, asNobody: true });
    try {
      await waitFor("the other uid's client to finish", attacker.closed, 10_000, attacker.received);
      assert.equal(attacker.credentials(), "EACCES");
      assert.match(attacker.received(), /-ERR 'Authorization Violation'/);
      assert.doesNotMatch(attacker.received(), /\+PONG|\bMSG /);
    } finally {
      await attacker.stop();
      await chmod(box.dir, 0o700);
    }
  });

  it("still serves the CLI's notify commands, and says how to get in to one that lacks the credentials", async () => {
    const devices = cli(box, "a", ["notify", "devices", "--json"]);
    assert.equal(devices.code, 0, devices.stderr);
    publicKeyLine(box, "stranger");
    const stranger = cli(box, "stranger", ["notify", "devices", "--nats", leafA.info.natsUrl]);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /^edgesync: .*credentials.*EDGESYNC_NATS_CREDENTIALS/);
    assert.equal(stranger.stderr.trim().split("\n").length, 1, stranger.stderr);
  });

  it("still relays a bridge peer of `sync start --bridge` through the local port, as the agent's user", async () => {
    const client = (await import("edgesync/client" as string)) as typeof Client;
    const { nodeSocket } = (await import("edgesync/client/node" as string)) as typeof ClientNode;
    const key = await client.keyFromSeed(new Uint8Array(32).fill(7));
    await writeFile(
      join(a, "authorized_keys"),
      `${await readText(join(a, "authorized_keys"))}${client.sshPublicLineOf(key.publicKey, "bridge-peer")}\n`,
    );
    const { origin } = JSON.parse(await readFile(join(leafB.home, "bridge.json"), "utf8")) as { origin: string };
    const vaultId = (await loadVaultConfig(b)).vault.id;
    let vault: Client.BridgeVault | undefined;
    let last = "";
    await waitFor(
      "B's bridge to let the new key in",
      async () => {
        try {
          vault = await client.connect({ url: origin, vaultId, key, socket: nodeSocket, readyTimeoutMs: 10_000 });
          return true;
        } catch (error) {
          last = String(error);
          if (error instanceof client.BridgeError && error.kind === "auth") return false;
          throw error;
        }
      },
      60_000,
      () => `${last}\n${detail()}`,
    );
    try {
      await vault?.writeFile("via-bridge.md", "through B's local port\n");
      await waitFor(
        "the bridge peer's file on A",
        async () => (await readText(join(a, "via-bridge.md"))) === "through B's local port\n",
        30_000,
        detail,
      );
    } finally {
      await vault?.close();
    }
  });
});

describe("a peer's local NATS port", () => {
  let box: Sandbox;
  const agents: RunningAgent[] = [];

  after(async () => {
    for (const agent of agents) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("refuses a client without credentials, which receives nothing while the vault syncs an edit to another peer", async () => {
    box = await sandbox("local-port-peer");
    const { a, b, pa } = await startMeshedPeers(box, agents);
    await assertRefusedWhileAnEditSyncs(pa, a, b, () => agents.map((x) => x.output().slice(-2500)).join("\n---\n"));
    await assertCredentialModes(pa);
  });
});
