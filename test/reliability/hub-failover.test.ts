/**
 * Three hubs in one cluster; leaf A knows all three (`--hub` repeated), leaf B was cloned from hub 3.
 * The hub A is linked to is SIGKILLed in the middle of a stream of edits: A's link moves to another
 * hub, every edit A saved reaches B once, and the killed hub, restarted, serves a clone holding
 * every file. Real binaries, real nats-servers, loopback.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, readText, listTree, type Sandbox } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";
import { startAgent, cli, publicKeyLine, type RunningAgent } from "../helpers/agents.js";

const SYNC_TIMEOUT_MS = 90_000;
const EDITS = 16;
const KILL_AFTER_EDIT = 6;

interface Ports {
  client: number;
  leafnode: number;
  cluster: number;
}
const portsOf = (agent: RunningAgent) => agent.info.ports as Ports;
const hubArgs = (ports: { client: number; leafnode: number; cluster: number }, peers: string[], dir: string) => [
  "--nats-role",
  "hub",
  "--nats-listen",
  `127.0.0.1:${ports.client}`,
  "--leaf-listen",
  `127.0.0.1:${ports.leafnode}`,
  "--cluster-listen",
  `127.0.0.1:${ports.cluster}`,
  ...peers.flatMap((p) => ["--peer", p]),
  "--cwd",
  dir,
];
const ephemeral = { client: -1, leafnode: -1, cluster: -1 };
const lines = (n: number) => Array.from({ length: n }, (_, i) => `edit ${i + 1}`).join("\n") + "\n";

describe("a leaf fails over to another hub of the cluster", () => {
  let box: Sandbox;
  let a: string;
  let b: string;
  const hubs: RunningAgent[] = [];
  const agents: RunningAgent[] = [];
  const detail = () => [...hubs, ...agents].map((x) => x.output().slice(-3000)).join("\n---\n");

  before(async () => {
    box = await sandbox("hub-failover");
    const adminEnv = { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") };
    hubs.push(await startAgent(box, "hub1", hubArgs(ephemeral, [], box.dir), adminEnv));
    a = join(box.dir, "a");
    b = join(box.dir, "b");
    await mkdir(a);
    await writeFile(join(a, "welcome.md"), "# Welcome\n");
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "team"]).code, 0);
    await writeFile(
      join(a, "authorized_keys"),
      `${await readText(join(a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
    );
    // A registers its vault with hub 1 first, so the bundle the other hubs import lists it.
    const first = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${portsOf(hubs[0]).leafnode}`,
      "--accept-hub-key",
      "--cwd",
      a,
    ]);
    await waitFor(
      "hub 1 to host A's vault",
      () => /the hub (now )?hosts this vault/.test(first.output()),
      SYNC_TIMEOUT_MS,
      () => first.output(),
    );
    await stop(first, "SIGINT");
    const bundle = join(box.dir, "bundle.json");
    assert.equal(cli(box, "hub1", ["hub", "export", "--out", bundle]).code, 0);
    const route1 = `nats-route://127.0.0.1:${portsOf(hubs[0]).cluster}`;
    for (const name of ["hub2", "hub3"]) {
      assert.equal(cli(box, name, ["hub", "import", bundle]).code, 0);
      hubs.push(await startAgent(box, name, hubArgs(ephemeral, [route1], box.dir), adminEnv));
    }
    const leafUrls = hubs.flatMap((h) => ["--hub", `nats-leaf://127.0.0.1:${portsOf(h).leafnode}`]);
    agents.push(await startAgent(box, "a", ["--nats-role", "leaf", ...leafUrls, "--accept-hub-key", "--cwd", a]));
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "B's clone from hub 3",
      () => {
        cloned = cli(box, "b", [
          "clone",
          `nats://127.0.0.1:${portsOf(hubs[2]).client}`,
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

  it("carries every edit A saves to B across a SIGKILLed hub, once each, and the restarted hub serves them all", async () => {
    await writeFile(join(a, "hello.md"), "from A\n");
    await waitFor(
      "A's first edit on B",
      async () => (await readText(join(b, "hello.md"))) === "from A\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
    const leafA = agents[0];
    const linkedPort = () => /"remote":"127\.0\.0\.1:(\d+)"[^}]*"msg":"link up"/g;
    const lastLinked = () => [...leafA.output().matchAll(linkedPort())].at(-1)?.[1];
    const victim = hubs.find((h) => String(portsOf(h).leafnode) === lastLinked());
    assert.ok(victim, `A's link is up to one of the hubs (last link up: ${lastLinked()})`);

    for (let i = 1; i <= EDITS; i++) {
      await writeFile(join(a, "stream.md"), lines(i));
      await writeFile(join(a, `edit-${i}.md`), `edit ${i}\n`);
      // Before the kill each edit is seen through the doomed hub; after it, the rest are saved at once.
      if (i <= KILL_AFTER_EDIT)
        await waitFor(
          `edit ${i} on B`,
          async () => (await readText(join(b, `edit-${i}.md`))) === `edit ${i}\n`,
          SYNC_TIMEOUT_MS,
          detail,
        );
      if (i === KILL_AFTER_EDIT) victim.kill("SIGKILL");
    }
    const expected = Array.from({ length: EDITS }, (_, i) => `edit-${i + 1}.md`).sort();
    const editFiles = async () => (await listTree(b)).filter((f) => f.startsWith("edit-")).sort();
    // Waited for file by file: stream.md's last version can land before the last edit files, since
    // each change a hub pushes is written as it comes and the first write already finds stream.md's
    // newest text in the doc.
    await waitFor(
      "every edit on B",
      async () =>
        (await readText(join(b, "stream.md"))) === lines(EDITS) &&
        JSON.stringify(await editFiles()) === JSON.stringify(expected),
      SYNC_TIMEOUT_MS,
      detail,
    );
    assert.deepEqual(await editFiles(), expected);
    for (let i = 1; i <= EDITS; i++) assert.equal(await readText(join(b, `edit-${i}.md`)), `edit ${i}\n`);
    // Waited for, not read at once: the killed agent's nats-server gets SIGINT from the kernel
    // (pdeathsig) and may carry the last edits over its routes while it shuts down, before A relinks.
    await waitFor(
      "A's link moved to another hub",
      () => lastLinked() !== String(portsOf(victim).leafnode),
      SYNC_TIMEOUT_MS,
      detail,
    );

    const index = hubs.indexOf(victim);
    const name = `hub${index + 1}`;
    const peers = hubs.filter((h) => h !== victim).map((h) => `nats-route://127.0.0.1:${portsOf(h).cluster}`);
    hubs[index] = await startAgent(box, name, hubArgs(portsOf(victim), peers, box.dir), {
      EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a"),
    });
    const fresh = join(box.dir, "fresh");
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "a fresh clone from the restarted hub with every file",
      async () => {
        await rm(fresh, { recursive: true, force: true });
        cloned = cli(box, "b", [
          "clone",
          `nats://127.0.0.1:${portsOf(hubs[index]).client}`,
          fresh,
          "--accept-hub-key",
          "--timeout-ms",
          "20000",
        ]);
        if (cloned.code !== 0) return false;
        return (await readText(join(fresh, "stream.md"))) === lines(EDITS);
      },
      SYNC_TIMEOUT_MS,
      () => cloned.stderr + detail(),
    );
    for (let i = 1; i <= EDITS; i++) assert.equal(await readText(join(fresh, `edit-${i}.md`)), `edit ${i}\n`);
  });
});
