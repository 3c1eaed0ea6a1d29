/**
 * Threat: a stranger routes a nats-server into a cluster of hubs and reads the vaults' traffic, or
 * a hub that was never given the cluster's keys joins it. Hubs route only with mutual TLS made from
 * the cluster key that `edgesync hub export` / `hub import` carries; everyone else is refused at the
 * handshake. The attackers are a stock nats-server with a hand-written config and a raw client.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, readText, type Sandbox } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";
import { startAgent, cli, publicKeyLine, type RunningAgent } from "../helpers/agents.js";
import {
  opensslSelfSigned,
  startStrangerServer,
  subscribeEverything,
  type StrangerServer,
} from "../helpers/stranger-nats.js";

const VAULT_SUBJECT = /^es\.v1\./;
const SYNC_TIMEOUT_MS = 60_000;
const HUB_CLUSTER_NAME = "edgesync-hubs";

/** Route links of an agent that are up now, from its `link up` / `link down` log lines. */
function routesUp(agent: RunningAgent): Set<string> {
  const up = new Set<string>();
  for (const line of agent.output().split("\n")) {
    if (!line.includes('"link":"route"')) continue;
    let entry: { id: string; msg: string };
    try {
      entry = JSON.parse(line) as { id: string; msg: string };
    } catch {
      continue; // the first line of a trimmed buffer
    }
    if (entry.msg === "link up") up.add(entry.id);
    else if (entry.msg === "link down") up.delete(entry.id);
  }
  return up;
}

const hubArgs = (extra: string[]) => [
  "--nats-role",
  "hub",
  "--nats-listen",
  "127.0.0.1:-1",
  "--leaf-listen",
  "127.0.0.1:-1",
  "--cluster-listen",
  "127.0.0.1:-1",
  ...extra,
];

describe("a cluster of hubs admits only hubs holding its keys", () => {
  let box: Sandbox;
  let a: string;
  let b: string;
  let hub1: RunningAgent;
  let hub2: RunningAgent;
  const agents: RunningAgent[] = [];
  const strangers: StrangerServer[] = [];
  const detail = () => agents.map((x) => x.output().slice(-5000)).join("\n---\n");
  const routeOfHub1 = () => `nats-route://127.0.0.1:${(hub1.info.ports as { cluster?: number }).cluster}`;
  const bundle = () => join(box.dir, "hub-bundle.json");

  before(async () => {
    box = await sandbox("hub-cluster");
    hub1 = await startAgent(box, "hub1", hubArgs(["--cwd", box.dir]), {
      EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a"),
    });
    agents.push(hub1);
    a = join(box.dir, "a");
    b = join(box.dir, "b");
    await mkdir(a);
    await writeFile(join(a, "welcome.md"), "# Welcome\n");
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "team"]).code, 0);
    await writeFile(
      join(a, "authorized_keys"),
      `${await readText(join(a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
    );
    const leafA = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${hub1.info.ports!.leafnode}`,
      "--accept-hub-key",
      "--cwd",
      a,
    ]);
    agents.push(leafA);
    await waitFor(
      "hub 1 to host A's vault",
      () => /the hub (now )?hosts this vault/.test(leafA.output()),
      SYNC_TIMEOUT_MS,
      detail,
    );

    const exported = cli(box, "hub1", ["hub", "export", "--out", bundle()]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /SECRET/);
    assert.equal((await stat(bundle())).mode & 0o777, 0o600);
    const imported = cli(box, "hub2", ["hub", "import", bundle()]);
    assert.equal(imported.code, 0, imported.stderr);
    hub2 = await startAgent(box, "hub2", hubArgs(["--peer", routeOfHub1(), "--cwd", box.dir]));
    agents.push(hub2);

    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "B's clone through hub 1",
      () => {
        cloned = cli(box, "b", [
          "clone",
          `nats://127.0.0.1:${hub1.info.ports!.client}`,
          b,
          "--accept-hub-key",
          "--timeout-ms",
          "20000",
        ]);
        return cloned.code === 0;
      },
      SYNC_TIMEOUT_MS,
      () => cloned.stderr + detail(),
    );
    agents.push(await startAgent(box, "b", ["--cwd", b]));
  });

  after(async () => {
    for (const stranger of strangers) await stranger.stop();
    for (const agent of agents.reverse()) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("routes two hubs that share the imported bundle, and their leaves keep syncing", async () => {
    await waitFor(
      "a route between the hubs",
      () => routesUp(hub1).size >= 1 && routesUp(hub2).size >= 1,
      SYNC_TIMEOUT_MS,
      detail,
    );
    assert.doesNotMatch(hub1.output() + hub2.output(), /hub route refused/);
    await writeFile(join(a, "routed.md"), "from A\n");
    await waitFor(
      "A's edit on B",
      async () => (await readText(join(b, "routed.md"))) === "from A\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
    await writeFile(join(b, "back.md"), "from B\n");
    await waitFor(
      "B's edit on A",
      async () => (await readText(join(a, "back.md"))) === "from B\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
  });

  it("gives a stranger's stock nats-server that routes in, plain or with its own certificate, no vault message", async () => {
    const plainDir = join(box.dir, "stranger-plain");
    const tlsDir = join(box.dir, "stranger-tls");
    await mkdir(plainDir);
    await mkdir(tlsDir);
    const plain = await startStrangerServer(plainDir, { routeTo: routeOfHub1(), clusterName: HUB_CLUSTER_NAME });
    const withCert = await startStrangerServer(tlsDir, {
      routeTo: routeOfHub1(),
      clusterName: HUB_CLUSTER_NAME,
      tls: opensslSelfSigned(tlsDir, "/CN=edgesync hub cluster"),
    });
    strangers.push(plain, withCert);
    const spies = [await subscribeEverything(plain.clientPort), await subscribeEverything(withCert.clientPort)];
    try {
      for (const s of [plain, withCert])
        await waitFor(
          "the stranger to dial hub 1",
          () => /Route connection (created|closed)|Router connection closed|route.*error/i.test(s.output()),
          15_000,
          s.output,
        );
      for (let i = 1; i <= 3; i++) {
        await writeFile(join(a, "secret.md"), `secret edit ${i}\n`);
        await waitFor(
          `edit ${i} on B`,
          async () => (await readText(join(b, "secret.md"))) === `secret edit ${i}\n`,
          SYNC_TIMEOUT_MS,
          detail,
        );
      }
      for (const spy of spies) {
        const leaked = spy.subjects.filter((s) => VAULT_SUBJECT.test(s));
        assert.deepEqual(
          leaked,
          [],
          `a stranger received ${leaked.length} vault messages: ${leaked.slice(0, 5).join(", ")}`,
        );
      }
      await waitFor(
        "hub 1 to say why it refused the route",
        () => /hub route refused/.test(hub1.output()),
        15_000,
        () => hub1.output().slice(-4000),
      );
    } finally {
      for (const spy of spies) spy.close();
    }
  });

  it("refuses a hub started with its own keys instead of the imported bundle, and will not import over them", async () => {
    const hub3 = await startAgent(box, "hub3", hubArgs(["--peer", routeOfHub1(), "--cwd", box.dir]));
    agents.push(hub3);
    // Hub 1 refuses hub 3's certificate at the handshake; hub 3 hears a TLS alert and says why.
    await waitFor(
      "hub 3 to be refused and say why",
      () => /hub route refused: the other server does not hold this cluster's key/.test(hub3.output()),
      SYNC_TIMEOUT_MS,
      detail,
    );
    await waitFor("hub 3 without a route between its redials", () => routesUp(hub3).size === 0, 15_000, detail);
    const imported = cli(box, "hub3", ["hub", "import", bundle()]);
    assert.equal(imported.code, 1);
    assert.match(imported.stderr, /^edgesync: .*already holds a hub with other keys.*\n$/);
  });
});
