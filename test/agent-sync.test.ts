/**
 * Issue 3 end to end: three real `edgesync` processes (hub and two leaves), each with its own real
 * nats-server child, on loopback — plus a peer mesh and attach mode.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, mkdir, unlink, rename, readFile, stat } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { sandbox, stop, readText, exists, type Sandbox } from "./helpers/cli.js";
import {
  startAgent,
  startHub,
  cli,
  pidAlive,
  publicKeyLine,
  startUpstreamServer,
  startMeshedPeers,
  type RunningAgent,
} from "./helpers/agents.js";
import { waitFor } from "./helpers/wait.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const same = async (p1: string, p2: string) => {
  const [a, b] = await Promise.all([readFile(p1).catch(() => undefined), readFile(p2).catch(() => undefined)]);
  return a !== undefined && b !== undefined && a.equals(b);
};

describe("hub and two leaves", () => {
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  let a: string;
  let b: string;
  let hubArgs: string[];
  let hubEnv: NodeJS.ProcessEnv;
  const detail = () =>
    `--- hub\n${hub?.output().slice(-3000)}\n--- A\n${leafA?.output().slice(-3000)}\n--- B\n${leafB?.output().slice(-3000)}`;

  before(async () => {
    box = await sandbox("agents");
    const started = await startHub(box, ["a"]);
    hub = started;
    [hubArgs, hubEnv] = [started.args, started.env];
    const ports = hub.info.ports!;
    a = join(box.dir, "a");
    b = join(box.dir, "b");
    await mkdir(a);
    await writeFile(join(a, "welcome.md"), "# Welcome\n");
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "team"]).code, 0);
    leafA = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${ports.leafnode}`,
      "--accept-hub-key",
      "--cwd",
      a,
    ]);
    // B may clone once A's authorized_keys lists it and the hub has applied that.
    await writeFile(
      join(a, "authorized_keys"),
      `${await readText(join(a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
    );
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "the hub to replicate the vault",
      () => {
        cloned = cli(box, "b", ["clone", `nats://127.0.0.1:${ports.client}`, b, "--json", "--accept-hub-key"]);
        return cloned.code === 0;
      },
      30_000,
      () => cloned.stderr + detail(),
    );
    assert.equal(await readText(join(b, "welcome.md")), "# Welcome\n");
    leafB = await startAgent(box, "b", ["--cwd", b]); // the leaf role and hub come from the clone's config
  });

  after(async () => {
    for (const agent of [leafA, leafB, hub]) if (agent) await stop(agent, "SIGINT");
    await box.cleanup();
  });

  it("brings a file written on leaf A to leaf B byte for byte", async () => {
    await writeFile(join(a, "note.md"), "written on A\n");
    await waitFor("note on B", () => same(join(a, "note.md"), join(b, "note.md")), 30_000, detail);
  });

  it("carries edits, deletes, renames and nested folders both ways", async () => {
    await mkdir(join(a, "projects/q4"), { recursive: true });
    await writeFile(join(a, "projects/q4/plan.md"), "plan v1\n");
    await waitFor(
      "nested create",
      () => same(join(a, "projects/q4/plan.md"), join(b, "projects/q4/plan.md")),
      30_000,
      detail,
    );
    await writeFile(join(b, "projects/q4/plan.md"), "plan v2 from B\n");
    await waitFor(
      "edit back to A",
      async () => (await readText(join(a, "projects/q4/plan.md"))) === "plan v2 from B\n",
      30_000,
      detail,
    );
    await rename(join(a, "projects/q4/plan.md"), join(a, "projects/q4/roadmap.md"));
    await waitFor(
      "rename",
      async () =>
        (await readText(join(b, "projects/q4/roadmap.md"))) === "plan v2 from B\n" &&
        !(await exists(join(b, "projects/q4/plan.md"))),
      30_000,
      detail,
    );
    await unlink(join(b, "note.md"));
    await waitFor("delete", async () => !(await exists(join(a, "note.md"))), 30_000, detail);
  });

  it("carries a binary attachment intact (hash-verified) as a blob in chunks, not inside the doc", async () => {
    const bytes = randomBytes(300_000); // over one 256 KiB blob chunk
    await writeFile(join(a, "diagram.md"), bytes); // not UTF-8: stored and synced as binary
    await waitFor(
      "binary",
      async () => (await readFile(join(b, "diagram.md")).catch(() => undefined))?.equals(bytes) === true,
      30_000,
      detail,
    );
    assert.equal(sha(await readFile(join(b, "diagram.md"))), sha(bytes));
    for (const dir of [a, b]) {
      assert.ok(
        (await readFile(join(dir, ".edgesync/blobs", sha(bytes)))).equals(bytes),
        `blob in ${dir}/.edgesync/blobs`,
      );
      const docBytes =
        (await stat(join(dir, ".edgesync/doc.bin")).then(
          (s) => s.size,
          () => 0,
        )) +
        (await stat(join(dir, ".edgesync/doc.log")).then(
          (s) => s.size,
          () => 0,
        ));
      assert.ok(
        docBytes < bytes.length / 3,
        `${dir}'s doc holds ${docBytes} bytes for a ${bytes.length}-byte attachment`,
      );
    }
  });

  it("keeps both devices' concurrent edits to different paragraphs", async () => {
    const base = "# Shared\n\nintro\n\nmiddle\n\nend\n";
    await writeFile(join(a, "shared.md"), base);
    await waitFor("base on B", () => same(join(a, "shared.md"), join(b, "shared.md")), 30_000, detail);
    await Promise.all([
      writeFile(join(a, "shared.md"), base.replace("intro", "intro from A")),
      writeFile(join(b, "shared.md"), base.replace("end", "end from B")),
    ]);
    const merged = "# Shared\n\nintro from A\n\nmiddle\n\nend from B\n";
    await waitFor(
      "merge everywhere",
      async () =>
        (await readText(join(a, "shared.md"))) === merged && (await readText(join(b, "shared.md"))) === merged,
      60_000,
      detail,
    );
  });

  it("lets leaf B catch up from the hub after being offline while A edited", async () => {
    await stop(leafB, "SIGINT");
    await writeFile(join(a, "while-away.md"), "B was away\n");
    await writeFile(join(a, "welcome.md"), "# Welcome, edited while B was away\n");
    // Offline edit on B too: it must survive the catch-up.
    await writeFile(join(b, "offline-b.md"), "written while offline\n");
    await waitFor("hub to have A's edit", () => cli(box, "a", ["status", "--cwd", a, "--json"]).code === 0);
    leafB = await startAgent(box, "b", ["--cwd", b]);
    await waitFor(
      "B to catch up",
      async () =>
        (await readText(join(b, "while-away.md"))) === "B was away\n" &&
        (await readText(join(b, "welcome.md")))?.includes("edited while B was away") === true,
      30_000,
      detail,
    );
    await waitFor(
      "B's offline edit to reach A",
      async () => (await readText(join(a, "offline-b.md"))) === "written while offline\n",
      30_000,
      detail,
    );
  });

  it("converges after the hub restarts mid-sync", async () => {
    await stop(hub, "SIGINT");
    await writeFile(join(a, "during-outage.md"), "hub was down\n");
    await writeFile(join(b, "also-during-outage.md"), "B too\n");
    hub = await startAgent(box, "hub", hubArgs, hubEnv);
    await waitFor(
      "both outage edits everywhere",
      async () =>
        (await readText(join(b, "during-outage.md"))) === "hub was down\n" &&
        (await readText(join(a, "also-during-outage.md"))) === "B too\n",
      60_000,
      detail,
    );
  });

  it("reports connection, role and peers in status --json", () => {
    const status = cli(box, "b", ["status", "--cwd", b, "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout);
    assert.equal(parsed.agent.role, "leaf");
    assert.equal(parsed.agent.connected, true);
    assert.ok(parsed.sync.peers.length >= 1);
  });

  it("leaves no nats-server behind when an agent is killed with SIGKILL", async () => {
    const natsPid = leafB.info.natsPid!;
    assert.ok(pidAlive(natsPid));
    leafB.kill("SIGKILL");
    await waitFor("nats-server of the killed agent to exit", () => !pidAlive(natsPid), 15_000);
    leafB = await startAgent(box, "b", ["--cwd", b]); // the stale lock of the killed agent is taken over
  });
});

describe("peer mesh and attach mode", () => {
  it("syncs two peers that mesh through cluster routes, without a hub", async () => {
    const box = await sandbox("peers");
    const agents: RunningAgent[] = [];
    try {
      const { a, b } = await startMeshedPeers(box, agents);
      await writeFile(join(b, "from-b.md"), "peer b\n");
      await writeFile(join(a, "from-a.md"), "peer a\n");
      await waitFor(
        "both files on both peers",
        async () =>
          (await readText(join(a, "from-b.md"))) === "peer b\n" &&
          (await readText(join(b, "from-a.md"))) === "peer a\n",
        30_000,
        () => agents.map((x) => x.output()).join("\n---\n"),
      );
    } finally {
      for (const agent of agents) await stop(agent, "SIGINT");
      await box.cleanup();
    }
  });

  it("attaches to a separately started nats-server with --nats-upstream", async () => {
    const box = await sandbox("attach");
    const server = await startUpstreamServer("upstream");
    const agents: RunningAgent[] = [];
    try {
      const a = join(box.dir, "a");
      const b = join(box.dir, "b");
      await mkdir(a);
      assert.equal(cli(box, "ua", ["init", "--cwd", a]).code, 0);
      agents.push(
        await startAgent(box, "ua", ["--nats-role", "peer", "--nats-upstream", server.clientUrl, "--cwd", a]),
      );
      assert.equal(cli(box, "ub", ["clone", server.clientUrl, b]).code, 0);
      agents.push(
        await startAgent(box, "ub", ["--nats-role", "peer", "--nats-upstream", server.clientUrl, "--cwd", b]),
      );
      await writeFile(join(a, "attached.md"), "via upstream\n");
      await waitFor(
        "file via the upstream server",
        async () => (await readText(join(b, "attached.md"))) === "via upstream\n",
        30_000,
      );
    } finally {
      for (const agent of agents) await stop(agent, "SIGINT");
      await server.stop();
      await box.cleanup();
    }
  });
});
