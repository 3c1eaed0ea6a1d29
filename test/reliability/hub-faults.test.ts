/**
 * Hub and two leaves, each leaf dialling the hub through its own fault proxy: the hub is SIGKILLed
 * while the leaves keep editing, the links get latency and cuts, and partitions heal in both orders.
 * Every edit made anywhere must end up everywhere.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, readText, type Sandbox } from "../helpers/cli.js";
import { startAgent, startHub, cli, pidAlive, publicKeyLine, type RunningAgent } from "../helpers/agents.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { waitFor } from "../helpers/wait.js";

describe("hub outages, cuts and partitions", () => {
  let box: Sandbox;
  let hub: RunningAgent & { args: string[]; env: NodeJS.ProcessEnv };
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  let a: string;
  let b: string;
  let proxyA: FaultProxy;
  let proxyB: FaultProxy;
  /** path → content every device must end with. */
  const expected = new Map<string, string>();
  const detail = () =>
    `--- hub\n${hub?.output().slice(-2500)}\n--- A\n${leafA?.output().slice(-2500)}\n--- B\n${leafB?.output().slice(-2500)}`;

  async function edit(root: string, path: string, text: string) {
    expected.set(path, text);
    await writeFile(join(root, path), text);
  }

  async function converged(what: string, timeoutMs = 60_000) {
    await waitFor(
      what,
      async () => {
        for (const [path, text] of expected) {
          if ((await readText(join(a, path))) !== text || (await readText(join(b, path))) !== text) return false;
        }
        return true;
      },
      timeoutMs,
      detail,
    );
  }

  before(async () => {
    box = await sandbox("faults");
    hub = await startHub(box, ["a"]);
    const leafPort = hub.info.ports!.leafnode!;
    proxyA = new FaultProxy({ port: leafPort });
    proxyB = new FaultProxy({ port: leafPort });
    await Promise.all([proxyA.listen(), proxyB.listen()]);
    a = join(box.dir, "a");
    b = join(box.dir, "b");
    await mkdir(a);
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "faults"]).code, 0);
    leafA = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${proxyA.port}`,
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
        cloned = cli(box, "b", ["clone", `nats://127.0.0.1:${hub.info.ports!.client}`, b, "--accept-hub-key"]);
        return cloned.code === 0;
      },
      60_000,
      () => cloned.stderr + detail(),
    );
    leafB = await startAgent(box, "b", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${proxyB.port}`,
      "--accept-hub-key",
      "--cwd",
      b,
    ]);
    await edit(a, "start.md", "both leaves online\n");
    await converged("the first file");
  });

  after(async () => {
    for (const agent of [leafA, leafB, hub]) if (agent) await stop(agent, "SIGINT");
    await proxyA?.close();
    await proxyB?.close();
    await box?.cleanup();
  });

  it("converges after the hub is SIGKILLed while both leaves keep editing", async () => {
    const natsPid = hub.info.natsPid!;
    hub.kill("SIGKILL");
    await waitFor("the hub's nats-server to exit", () => !pidAlive(natsPid), 15_000);
    for (let i = 0; i < 5; i++) {
      await edit(a, `a-while-hub-dead-${i}.md`, `A ${i}\n`);
      await edit(b, `b-while-hub-dead-${i}.md`, `B ${i}\n`);
    }
    await edit(a, "start.md", "edited on A while the hub was dead\n");
    hub = Object.assign(await startAgent(box, "hub", hub.args, hub.env), { args: hub.args, env: hub.env });
    await converged("every edit made while the hub was dead");
  });

  it("keeps syncing through latency and repeated connection cuts", async () => {
    proxyA.setLatency(80);
    proxyB.setLatency(30);
    for (let round = 0; round < 4; round++) {
      await edit(a, `cut-a-${round}.md`, `A round ${round}\n`);
      await edit(b, `cut-b-${round}.md`, `B round ${round}\n`);
      (round % 2 === 0 ? proxyA : proxyB).cut();
    }
    await converged("edits made across cuts");
    proxyA.setLatency(0);
    proxyB.setLatency(0);
    assert.ok(proxyA.stats.cuts + proxyB.stats.cuts >= 4);
  });

  for (const order of [
    ["A", "B"],
    ["B", "A"],
  ] as const) {
    it(`converges after both leaves are partitioned and heal ${order[0]} first, then ${order[1]}`, async () => {
      const proxies = { A: proxyA, B: proxyB };
      proxyA.partition();
      await edit(a, `part-${order.join("")}-a1.md`, "A alone\n");
      await edit(b, `part-${order.join("")}-b1.md`, "B with the hub\n");
      proxyB.partition();
      await edit(a, `part-${order.join("")}-a2.md`, "A, everyone apart\n");
      await edit(b, `part-${order.join("")}-b2.md`, "B, everyone apart\n");
      await edit(a, "start.md", `both edited apart (${order.join("")}), A's version\n`);
      // The partition is real: nothing crossed it.
      assert.equal(await readText(join(b, `part-${order.join("")}-a1.md`)), undefined);
      assert.equal(await readText(join(a, `part-${order.join("")}-b2.md`)), undefined);
      proxies[order[0]].heal();
      await edit(order[0] === "A" ? a : b, `part-${order.join("")}-first-healed.md`, "healed first\n");
      proxies[order[1]].heal();
      await converged(`convergence after healing ${order.join(" then ")}`);
    });
  }
});
