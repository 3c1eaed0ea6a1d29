/**
 * Leaves that reach their hub over websocket: straight to the hub's wss:// listener, and through a
 * TLS-terminating proxy (wss:// from the leaf, plain ws:// from the proxy to the hub) — the path of a
 * leaf behind NAT that may only make outbound HTTPS. Real binaries, real nats-servers, real sockets.
 */
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, readText, runAsync, type Sandbox } from "./helpers/cli.js";
import { waitFor } from "./helpers/wait.js";
import { startAgent, cli, deviceEnv, publicKeyLine, type RunningAgent } from "./helpers/agents.js";
import { startTlsTerminator, type TlsTerminator } from "./helpers/tls-terminator.js";

const SYNC_TIMEOUT_MS = 60_000;

interface Rig {
  box: Sandbox;
  hub: RunningAgent;
  a: string;
  leaf?: RunningAgent;
  proxy?: TlsTerminator;
}

let rig: Rig | undefined;

afterEach(async () => {
  if (!rig) return;
  for (const agent of [rig.leaf, rig.hub]) if (agent) await stop(agent, "SIGINT");
  await rig.proxy?.close();
  await rig.box.cleanup();
  rig = undefined;
});

/** A hub with a websocket leafnode listener, and device A's vault (B already in its authorized_keys). */
async function hubWithVault(hubFlags: string[]): Promise<Rig> {
  const box = await sandbox("leaf-ws");
  const env = { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") };
  const hub = await startAgent(
    box,
    "hub",
    [
      "--nats-role",
      "hub",
      "--nats-listen",
      "127.0.0.1:-1",
      "--leaf-listen",
      "127.0.0.1:-1",
      "--leaf-ws-listen",
      "127.0.0.1:-1",
      ...hubFlags,
      "--cwd",
      box.dir,
    ],
    env,
  );
  const a = join(box.dir, "a");
  await mkdir(a);
  await writeFile(join(a, "welcome.md"), "# Welcome\n");
  assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "team"]).code, 0);
  await writeFile(
    join(a, "authorized_keys"),
    `${await readText(join(a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
  );
  rig = { box, hub, a };
  return rig;
}

const websocketPort = (hub: RunningAgent) => (hub.info.ports as { websocket?: number } | undefined)?.websocket ?? 0;
const detail = (r: Rig) => () =>
  `--- hub\n${r.hub.output().slice(-3000)}\n--- leaf\n${r.leaf?.output().slice(-6000)}${r.proxy ? `\n--- proxy: ${r.proxy.connections()} connections` : ""}`;

/**
 * A fresh clone from the hub holds `file` with `text`: the vault and A's latest edit reached the hub.
 * The clone runs without blocking this process, which serves the proxy the leaf's link goes through.
 */
async function waitForHubToHold(r: Rig, file: string, text: string): Promise<void> {
  const b = join(r.box.dir, "b");
  const hubUrl = `nats://127.0.0.1:${r.hub.info.ports!.client}`;
  let last = "";
  await waitFor(
    `the hub to hold ${file}`,
    async () => {
      await rm(b, { recursive: true, force: true });
      const cloned = await runAsync(["clone", hubUrl, b, "--accept-hub-key", "--timeout-ms", "10000"], {
        env: deviceEnv(r.box, "b"),
      });
      last = cloned.stderr;
      return cloned.code === 0 && (await readText(join(b, file))) === text;
    },
    SYNC_TIMEOUT_MS,
    () => `${last}\n${detail(r)()}`,
  );
}

describe("leafnodes over websocket", () => {
  it("syncs a leaf to the hub's wss:// listener, pinning the hub's certificate on first use", async () => {
    const r = await hubWithVault([]);
    r.leaf = await startAgent(r.box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `wss://127.0.0.1:${websocketPort(r.hub)}`,
      "--accept-hub-key",
      "--cwd",
      r.a,
    ]);
    await waitForHubToHold(r, "welcome.md", "# Welcome\n");
    await writeFile(join(r.a, "later.md"), "written once the link is up\n");
    await waitForHubToHold(r, "later.md", "written once the link is up\n");
  });

  it("syncs a leaf through a TLS-terminating proxy to the hub's plain ws:// listener", async () => {
    const r = await hubWithVault(["--leaf-ws-no-tls"]);
    r.proxy = await startTlsTerminator(websocketPort(r.hub));
    r.leaf = await startAgent(r.box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `wss://127.0.0.1:${r.proxy.port}`,
      "--accept-hub-key",
      "--cwd",
      r.a,
    ]);
    await waitForHubToHold(r, "welcome.md", "# Welcome\n");
    await writeFile(join(r.a, "later.md"), "through the proxy\n");
    await waitForHubToHold(r, "later.md", "through the proxy\n");
    assert.ok(r.proxy.connections() > 0, "the leaf's link went through the proxy");
  });

  it("says in one line what to change when a leaf dials ws:// and the hub speaks TLS", async () => {
    const r = await hubWithVault([]);
    r.leaf = await startAgent(r.box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `ws://127.0.0.1:${websocketPort(r.hub)}`,
      "--no-tls",
      "--cwd",
      r.a,
    ]);
    await waitFor(
      "the leaf to explain the TLS mismatch",
      () => /the hub's websocket listener speaks TLS.*wss:\/\//.test(r.leaf?.output() ?? ""),
      SYNC_TIMEOUT_MS,
      detail(r),
    );
  });
});
