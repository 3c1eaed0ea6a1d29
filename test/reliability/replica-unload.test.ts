/**
 * A hub with a small idle limit unloads the replica of a vault nobody edits, says so in
 * `status --json` and /metrics, and loads it again for the next edit or clone: leaf A's edits
 * reach leaf B through it, bursts of edits made while it unloads or loads are all kept, and a
 * fresh clone from the hub holds every file. Real binaries, real nats-servers, loopback.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, readText, listTree, type Sandbox } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";
import { startAgent, cli, publicKeyLine, type RunningAgent } from "../helpers/agents.js";

const SYNC_TIMEOUT_MS = 90_000;
/** Small, so the test sees several unloads; the default is minutes. */
const IDLE_UNLOAD_MS = 1_500;
const BURSTS = 3;
const EDITS_PER_BURST = 6;

interface ReplicaReport {
  id: string;
  replica?: { state: string; savedBytes: number; loads: number; unloads: number; lastLoad?: { heapBytes: number } };
}

describe("a hub unloads an idle replica and loads it again on demand", () => {
  let box: Sandbox;
  let a: string;
  let b: string;
  let hubVault: string;
  let vaultId: string;
  let metricsPort: number;
  const agents: RunningAgent[] = [];
  const detail = () => agents.map((x) => x.output().slice(-4000)).join("\n---\n");

  /** The hub's own view of the replica, through `edgesync status --json` on the hub's folder. */
  function replicaStatus(): ReplicaReport["replica"] {
    const status = cli(box, "hub", ["status", "--json", "--cwd", hubVault]);
    assert.equal(status.code, 0, status.stderr);
    const agent = (JSON.parse(status.stdout) as { agent?: { vaults: ReplicaReport[] } }).agent;
    return agent?.vaults.find((v) => v.id === vaultId)?.replica;
  }

  async function metric(name: string): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{vault="${vaultId}"} `));
    return line === undefined ? undefined : Number(line.split(" ")[1]);
  }

  async function waitUnloaded(what: string): Promise<void> {
    await waitFor(what, () => replicaStatus()?.state === "unloaded", SYNC_TIMEOUT_MS, detail);
  }

  before(async () => {
    box = await sandbox("replica-unload");
    [a, b, hubVault] = ["a", "b", "hub-vault"].map((name) => join(box.dir, name));
    await Promise.all([a, hubVault].map((dir) => mkdir(dir)));
    // The hub runs with a folder of its own, whose control socket answers `status --json`.
    assert.equal(cli(box, "hub", ["init", "--cwd", hubVault, "--name", "hub-notes"]).code, 0);
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
        "--metrics",
        "127.0.0.1:0",
        "--replica-idle-unload-ms",
        String(IDLE_UNLOAD_MS),
        "--cwd",
        hubVault,
      ],
      { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") },
    );
    agents.push(hub);
    await waitFor("the hub's metrics port", () => /"port":\d+[^}]*"msg":"metrics on/.test(hub.output()), 30_000);
    metricsPort = Number(/"port":(\d+)[^}]*"msg":"metrics on/.exec(hub.output())![1]);

    await writeFile(join(a, "welcome.md"), "# Welcome\n");
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "team"]).code, 0);
    await writeFile(
      join(a, "authorized_keys"),
      `${await readText(join(a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
    );
    vaultId = /id\s*=\s*"([0-9a-f-]{36})"/.exec((await readText(join(a, ".edgesync", "config.toml"))) ?? "")![1];
    const hubUrl = `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`;
    const leafA = await startAgent(box, "a", ["--nats-role", "leaf", "--hub", hubUrl, "--accept-hub-key", "--cwd", a]);
    agents.push(leafA);
    await waitFor(
      "the hub to host A's vault",
      () => /the hub (now )?hosts this vault/.test(leafA.output()),
      SYNC_TIMEOUT_MS,
      detail,
    );
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "B's clone from the hub",
      () => {
        cloned = cli(box, "b", ["clone", `nats://127.0.0.1:${hub.info.ports!.client}`, b, "--accept-hub-key"]);
        return cloned.code === 0;
      },
      SYNC_TIMEOUT_MS,
      () => cloned.stderr + detail(),
    );
    agents.push(await startAgent(box, "b", ["--cwd", b]));
  });

  after(async () => {
    for (const agent of [...agents].reverse()) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("reports the idle replica unloaded, then carries A's edit to B through it, loading it again", async () => {
    await waitUnloaded("the idle replica to unload");
    const unloaded = replicaStatus()!;
    assert.ok(unloaded.savedBytes > 0, "an unloaded replica reports its saved document's size");
    assert.ok(unloaded.unloads >= 1);
    await waitFor(
      "/metrics to say the replica is unloaded",
      async () => (await metric("edgesync_replica_loaded")) === 0,
      SYNC_TIMEOUT_MS,
      detail,
    );
    assert.ok(((await metric("edgesync_replica_saved_bytes")) ?? 0) > 0);

    await writeFile(join(a, "hello.md"), "from A, while the hub's replica was unloaded\n");
    await waitFor(
      "A's edit on B",
      async () => (await readText(join(b, "hello.md"))) === "from A, while the hub's replica was unloaded\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
    const reloaded = replicaStatus()!;
    assert.ok(
      reloaded.loads > unloaded.loads,
      `the replica was loaded again (loads ${unloaded.loads} → ${reloaded.loads})`,
    );
    assert.ok(((await metric("edgesync_replica_loads_total")) ?? 0) >= reloaded.loads);
    assert.match(agents[0].output(), /loading an unloaded replica for a message/);
  });

  it("keeps every edit of bursts made while the replica unloads and loads", async () => {
    const expected = new Map<string, string>();
    for (let burst = 1; burst <= BURSTS; burst++) {
      await waitUnloaded(`the replica to unload before burst ${burst}`);
      // The first edit wakes the replica; the rest are saved while it loads (or, for the last burst's
      // tail, while the next idle unload may already run).
      for (let i = 1; i <= EDITS_PER_BURST; i++) {
        const path = `burst-${burst}-${i}.md`;
        const body = `burst ${burst}, edit ${i}\n`;
        expected.set(path, body);
        await writeFile(join(a, path), body);
      }
    }
    await waitFor(
      "every burst's edit on B",
      async () => {
        for (const [path, body] of expected) if ((await readText(join(b, path))) !== body) return false;
        return true;
      },
      SYNC_TIMEOUT_MS,
      detail,
    );
    assert.ok(replicaStatus()!.unloads >= BURSTS, "the replica was unloaded before every burst");
  });

  it("serves a fresh clone holding every file from an unloaded replica", async () => {
    await waitUnloaded("the replica to unload before the clone");
    const idle = replicaStatus()!;
    const c = join(box.dir, "c");
    const cloned = cli(box, "b", ["clone", `nats://127.0.0.1:${agents[0].info.ports!.client}`, c, "--accept-hub-key"]);
    assert.equal(cloned.code, 0, cloned.stderr + detail());
    // B is a clone too: the same files, and each with the content A wrote.
    const visible = (files: string[]) => files.filter((f) => !f.startsWith(".edgesync")).sort();
    const files = visible(await listTree(c));
    assert.deepEqual(files, visible(await listTree(b)));
    assert.ok(files.includes("hello.md") && files.includes(`burst-${BURSTS}-${EDITS_PER_BURST}.md`));
    for (const file of files.filter((f) => f.endsWith(".md")))
      assert.equal(await readText(join(c, file)), await readText(join(a, file)), file);
    const reloaded = replicaStatus()!;
    assert.ok(reloaded.loads > idle.loads, "the clone loaded the replica");
    assert.ok(reloaded.lastLoad !== undefined, "a loaded replica reports what its load measured");
  });

  it("comes back unloaded after the hub restarts, and loads for A's next edit to B", async () => {
    const hub = agents[0];
    const ports = hub.info.ports!;
    await stop(hub, "SIGINT");
    const restarted = await startAgent(
      box,
      "hub",
      [
        "--nats-role",
        "hub",
        "--nats-listen",
        `127.0.0.1:${ports.client}`,
        "--leaf-listen",
        `127.0.0.1:${ports.leafnode}`,
        "--metrics",
        "127.0.0.1:0",
        "--replica-idle-unload-ms",
        String(IDLE_UNLOAD_MS),
        "--cwd",
        hubVault,
      ],
      { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") },
    );
    agents[0] = restarted;
    // The leaves' links come back at once and their resynchronisation may already have loaded it: the log says how it opened.
    await waitFor(
      "the restarted hub to open the replica unloaded",
      () => /replica opened unloaded, as it was left/.test(restarted.output()),
      SYNC_TIMEOUT_MS,
      detail,
    );
    await writeFile(join(a, "after-restart.md"), "after the hub restarted\n");
    await waitFor(
      "A's edit on B after the hub restarted",
      async () => (await readText(join(b, "after-restart.md"))) === "after the hub restarted\n",
      SYNC_TIMEOUT_MS,
      detail,
    );
    assert.ok(replicaStatus()!.loads >= 1, "the edit loaded the replica");
  });

  it("refuses an idle limit that is not a positive whole number of milliseconds, in one line", () => {
    const refused = cli(box, "hub", ["sync", "start", "--nats-role", "hub", "--replica-idle-unload-ms", "5min"]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr.trim(),
      /^.*--replica-idle-unload-ms "5min" is not a positive whole number of milliseconds/,
    );
    assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
  });
});
