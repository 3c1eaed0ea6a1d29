/**
 * A leaf configured with one hub learns the other hubs of the cluster from it (nats-server gossips
 * every hub's leafnode URL to the leaves linked to any of them): when that hub dies, the leaf's link
 * moves to another hub it was never told about, with the same pinned trust, and its edits reach a
 * device linked to that other hub. Real binaries, real nats-servers, loopback.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, readText, type Sandbox } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";
import { startAgent, cli, publicKeyLine, type RunningAgent } from "../helpers/agents.js";

const SYNC_TIMEOUT_MS = 90_000;

interface Ports {
  client: number;
  leafnode: number;
  cluster: number;
}
const portsOf = (agent: RunningAgent) => agent.info.ports as Ports;
const hubArgs = (peers: string[], dir: string) => [
  "--nats-role",
  "hub",
  "--nats-listen",
  "127.0.0.1:-1",
  "--leaf-listen",
  "127.0.0.1:-1",
  "--cluster-listen",
  "127.0.0.1:-1",
  ...peers.flatMap((p) => ["--peer", p]),
  "--cwd",
  dir,
];

describe("a leaf learns the other hubs of the cluster", () => {
  let box: Sandbox;
  let a: string;
  let b: string;
  const hubs: RunningAgent[] = [];
  const agents: RunningAgent[] = [];
  const detail = () => [...hubs, ...agents].map((x) => x.output().slice(-3000)).join("\n---\n");

  before(async () => {
    box = await sandbox("leaf-learns-hubs");
    const adminEnv = { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") };
    hubs.push(await startAgent(box, "hub1", hubArgs([], box.dir), adminEnv));
    const bundle = join(box.dir, "bundle.json");
    assert.equal(cli(box, "hub1", ["hub", "export", "--out", bundle]).code, 0);
    assert.equal(cli(box, "hub2", ["hub", "import", bundle]).code, 0);
    hubs.push(
      await startAgent(box, "hub2", hubArgs([`nats-route://127.0.0.1:${portsOf(hubs[0]).cluster}`], box.dir), adminEnv),
    );
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
      `nats-leaf://127.0.0.1:${portsOf(hubs[0]).leafnode}`,
      "--accept-hub-key",
      "--cwd",
      a,
    ]);
    agents.push(leafA);
    await waitFor(
      "hub 1 to register A's vault",
      () => /the hub (now )?hosts this vault/.test(leafA.output()),
      SYNC_TIMEOUT_MS,
      detail,
    );
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "B's clone from hub 2",
      () => {
        cloned = cli(box, "b", [
          "clone",
          `nats://127.0.0.1:${portsOf(hubs[1]).client}`,
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
    for (const agent of [...agents, ...hubs].reverse()) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("moves the link of a leaf told only of hub 1 to hub 2 when hub 1 dies, and syncs through it", async () => {
    await writeFile(join(a, "before.md"), "before\n");
    await waitFor(
      "A's edit on B",
      async () => (await readText(join(b, "before.md"))) === "before\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
    hubs[0].kill("SIGKILL");
    const hub2Leaf = String(portsOf(hubs[1]).leafnode);
    const linkedTo = () =>
      [...agents[0].output().matchAll(/"remote":"127\.0\.0\.1:(\d+)"[^}]*"msg":"link up"/g)].at(-1)?.[1];
    await waitFor("A's link up to hub 2", () => linkedTo() === hub2Leaf, SYNC_TIMEOUT_MS, detail);
    await writeFile(join(a, "after.md"), "after\n");
    await waitFor(
      "A's edit through hub 2 on B",
      async () => (await readText(join(b, "after.md"))) === "after\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
  });
});
