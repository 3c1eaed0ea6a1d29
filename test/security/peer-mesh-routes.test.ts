/**
 * Threat: a stranger routes a nats-server into a peer mesh and reads the vault's sync traffic.
 * Routes between peers are admitted only for keys in the vault's authorized_keys (mutual TLS with
 * certificates made from the device keys); a removed key's routes drop; the cluster listener is on
 * loopback unless the user asks for more. The attackers are a stock nats-server with a
 * hand-written config and a raw-protocol client.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { sandbox, stop, readText, run, type Sandbox } from "../helpers/cli.js";
import { startAgent, cli, deviceEnv, publicKeyLine, startMeshedPeers, type RunningAgent } from "../helpers/agents.js";
import {
  opensslSelfSigned,
  startStrangerServer,
  subscribeEverything,
  type StrangerServer,
} from "../helpers/stranger-nats.js";
import { waitFor } from "../helpers/wait.js";

const VAULT_SUBJECT = /^es\.v1\./;
const SYNC_TIMEOUT_MS = 30_000;

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

async function appendLine(path: string, line: string): Promise<void> {
  await writeFile(path, `${(await readText(path)) ?? ""}${line}\n`);
}

describe("peer mesh routes admit only the vault's keys", () => {
  let box: Sandbox;
  let a: string;
  let b: string;
  let pa: RunningAgent;
  let pb: RunningAgent;
  const agents: RunningAgent[] = [];
  const strangers: StrangerServer[] = [];
  const detail = () => agents.map((x) => x.output().slice(-6000)).join("\n---\n");
  const routeOfA = () => `nats-route://127.0.0.1:${pa.info.ports!.cluster}`;

  before(async () => {
    box = await sandbox("mesh-routes");
    ({ a, b, pa, pb } = await startMeshedPeers(box, agents));
  });

  after(async () => {
    for (const stranger of strangers) await stranger.stop();
    for (const agent of agents) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("lets two authorized peers sync through their route", async () => {
    await writeFile(join(b, "from-b.md"), "peer b\n");
    await writeFile(join(a, "from-a.md"), "peer a\n");
    await waitFor(
      "both files on both peers",
      async () =>
        (await readText(join(a, "from-b.md"))) === "peer b\n" && (await readText(join(b, "from-a.md"))) === "peer a\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
    assert.ok(routesUp(pa).size >= 1 && routesUp(pb).size >= 1, "the peers are joined by a route");
  });

  it("gives a stranger's stock nats-server that routes in without TLS no vault message", async () => {
    const dir = join(box.dir, "stranger-plain");
    await mkdir(dir);
    const stranger = await startStrangerServer(dir, { routeTo: routeOfA() });
    strangers.push(stranger);
    const spy = await subscribeEverything(stranger.clientPort);
    try {
      // The stranger has dialled A (and been let in, or been refused) before the edits start.
      await waitFor(
        "the stranger to dial the mesh",
        () => /Route connection (created|closed)|Router connection closed|route.*error/i.test(stranger.output()),
        15_000,
        stranger.output,
      );
      spy.publish("stranger.selftest", "x");
      await waitFor(
        "the spy's own message (its subscription works)",
        () => spy.subjects.includes("stranger.selftest"),
        5_000,
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
      await writeFile(join(b, "reply.md"), "reply from b\n");
      await waitFor(
        "B's reply on A",
        async () => (await readText(join(a, "reply.md"))) === "reply from b\n",
        SYNC_TIMEOUT_MS,
        detail,
      );
      const leaked = spy.subjects.filter((s) => VAULT_SUBJECT.test(s));
      assert.deepEqual(
        leaked,
        [],
        `the stranger received ${leaked.length} vault messages: ${leaked.slice(0, 5).join(", ")}`,
      );
      await waitFor(
        "A to log that it refused the route and what to do",
        () => /route refused.*upgrade/i.test(pa.output()),
        15_000,
        () => pa.output().slice(-4000),
      );
    } finally {
      spy.close();
    }
  });

  it("refuses a stranger whose own ed25519 certificate copies an authorized device's name", async () => {
    const dir = join(box.dir, "stranger-tls");
    await mkdir(dir);
    // What A presents in every handshake is public; the stranger copies its names, not its key.
    const presented = new X509Certificate(await readFile(join(pa.home, "nats", "peer", "route-tls", "route.crt")));
    const issuer = presented.issuer
      .split("\n")
      .map((part) => `/${part}`)
      .join("");
    assert.match(issuer, /CN=U/);
    const stranger = await startStrangerServer(dir, { routeTo: routeOfA(), tls: opensslSelfSigned(dir, issuer) });
    strangers.push(stranger);
    const spy = await subscribeEverything(stranger.clientPort);
    try {
      await waitFor(
        "the stranger to be refused at the handshake",
        () => /TLS route handshake error|Router connection closed/i.test(stranger.output()),
        15_000,
        stranger.output,
      );
      await writeFile(join(a, "secret.md"), "secret edit under a copied name\n");
      await waitFor(
        "the edit on B",
        async () => (await readText(join(b, "secret.md"))) === "secret edit under a copied name\n",
        SYNC_TIMEOUT_MS,
        detail,
      );
      await writeFile(join(b, "reply.md"), "second reply from b\n");
      await waitFor(
        "B's reply on A",
        async () => (await readText(join(a, "reply.md"))) === "second reply from b\n",
        SYNC_TIMEOUT_MS,
        detail,
      );
      assert.deepEqual(
        spy.subjects.filter((s) => VAULT_SUBJECT.test(s)),
        [],
      );
    } finally {
      spy.close();
    }
  });

  it("drops a removed key's routes and sends it nothing after", async () => {
    const c = join(box.dir, "c");
    const lineC = publicKeyLine(box, "pc");
    await appendLine(join(a, "authorized_keys"), lineC);
    await waitFor(
      "C's key on B",
      async () => ((await readText(join(b, "authorized_keys"))) ?? "").includes(lineC),
      SYNC_TIMEOUT_MS,
      detail,
    );
    const cloned = run(["clone", pa.info.natsUrl, c], {
      env: { ...deviceEnv(box, "pc"), EDGESYNC_NATS_CREDENTIALS: pa.info.natsCredentials },
    });
    assert.equal(cloned.code, 0, cloned.stderr);
    const pc = await startAgent(box, "pc", [
      "--nats-role",
      "peer",
      "--cluster-listen",
      "127.0.0.1:-1",
      "--peer",
      routeOfA(),
      "--cwd",
      c,
    ]);
    agents.push(pc);
    await writeFile(join(a, "before-removal.md"), "C may read this\n");
    await waitFor(
      "the file on C",
      async () => (await readText(join(c, "before-removal.md"))) === "C may read this\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
    await waitFor("C routed to both peers", () => routesUp(pc).size >= 2, SYNC_TIMEOUT_MS, detail);

    const savedAt = Date.now();
    const keys = (await readText(join(a, "authorized_keys"))) ?? "";
    await writeFile(
      join(a, "authorized_keys"),
      keys
        .split("\n")
        .filter((l) => l.trim() !== lineC.trim())
        .join("\n"),
    );
    await waitFor("every route of C to drop", () => routesUp(pc).size === 0, SYNC_TIMEOUT_MS, detail);
    const droppedMs = Date.now() - savedAt;
    console.log(`removed key's routes dropped ${droppedMs} ms after the save`);

    await writeFile(join(a, "after-removal.md"), "not for C\n");
    await writeFile(join(b, "after-removal-b.md"), "not for C either\n");
    await waitFor(
      "the files on A and B",
      async () =>
        (await readText(join(b, "after-removal.md"))) === "not for C\n" &&
        (await readText(join(a, "after-removal-b.md"))) === "not for C either\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
    // C keeps redialling A; give it the time of several attempts to be let in by mistake.
    const redialsSeen = (pc.output().match(/"link":"route"/g) ?? []).length;
    await waitFor(
      "C to redial at least twice",
      () =>
        (pc.output().match(/"link":"route"/g) ?? []).length >= redialsSeen + 2 || /route refused/i.test(pc.output()),
      15_000,
      detail,
    );
    assert.equal(routesUp(pc).size, 0, "C has no route");
    assert.equal(await readText(join(c, "after-removal.md")), undefined);
    assert.equal(await readText(join(c, "after-removal-b.md")), undefined);
  });
});

describe("the cluster listener's default address", () => {
  it("is loopback unless --cluster-listen says otherwise", async () => {
    const box = await sandbox("mesh-default");
    let agent: RunningAgent | undefined;
    try {
      const root = join(box.dir, "v");
      await mkdir(root);
      assert.equal(cli(box, "p", ["init", "--cwd", root]).code, 0);
      agent = await startAgent(box, "p", ["--nats-role", "peer", "--cwd", root]);
      const port = agent.info.ports!.cluster!;
      assert.equal(port, 6222);
      const conf = await readFile(join(agent.home, "nats", "peer", "nats-server.conf"), "utf8");
      assert.match(/cluster \{[\s\S]*?\n\}/.exec(conf)?.[0] ?? "", /host: "127\.0\.0\.1"/);
      const outside = Object.values(networkInterfaces())
        .flat()
        .find((i) => i && i.family === "IPv4" && !i.internal);
      if (outside) {
        const reached = await new Promise<boolean>((resolve) => {
          const socket = connect(port, outside.address);
          socket.once("connect", () => (socket.destroy(), resolve(true)));
          socket.once("error", () => resolve(false));
        });
        assert.equal(reached, false, `the cluster port answers on ${outside.address}`);
      }
    } finally {
      if (agent) await stop(agent, "SIGINT");
      await box.cleanup();
    }
  });
});
