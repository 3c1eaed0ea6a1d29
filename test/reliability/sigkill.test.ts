/**
 * SIGKILL of a real agent process at random moments: while it writes files that arrive from another
 * device, while it ingests local edits into doc.log, and while it rewrites doc.bin (compaction).
 * After each kill: every file on disk is one whole version that was written (no torn file), the
 * stored document loads, every edit another device acknowledged is in it; after the restart no
 * temp file is left and both devices converge. One nats-server serves every trial.
 *
 * Trials and the seed are printed; replay with EDGESYNC_KILL_SEED=<seed>.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, start, type Sandbox } from "../helpers/cli.js";
import {
  startAgent,
  cli,
  deviceEnv,
  startUpstreamServer,
  type RunningAgent,
  type UpstreamServer,
} from "../helpers/agents.js";
import { seeded, sha, tempFiles, loadStoredDoc, docTexts, diskFiles } from "../helpers/trial.js";
import { waitFor } from "../helpers/wait.js";

const TRIALS_PER_TEST = Number(process.env.EDGESYNC_KILL_TRIALS ?? 25);
const SEED = Number(process.env.EDGESYNC_KILL_SEED ?? Date.now() % 1_000_000);

/** `name v7` + padding, so the version number is readable from any whole copy. */
const body = (name: string, version: number, padding: number) => `${name} v${version}\n${"x".repeat(padding)}\n`;
const versionOf = (text: string | undefined) => Number(/ v(\d+)\n/.exec(text ?? "")?.[1] ?? -1);

describe(`SIGKILL trials (seed ${SEED})`, () => {
  let box: Sandbox;
  let server: UpstreamServer;
  let a: string;
  let b: string;
  let agentA: RunningAgent | undefined;
  let agentB: RunningAgent;
  const rng = seeded(SEED);
  /** sha256 of every version ever written, per path: a file on disk must be one of them. */
  const written = new Map<string, Set<string>>();
  const versions = new Map<string, number>();
  let trialsRun = 0;
  let killsMidCompaction = 0;

  const argsFor = (dir: string) => ["--nats-role", "peer", "--nats-upstream", server.clientUrl, "--cwd", dir];
  const detail = () => `seed ${SEED}\n--- A\n${agentA?.output().slice(-4000)}\n--- B\n${agentB?.output().slice(-4000)}`;

  async function put(root: string, path: string, padding: number) {
    const version = (versions.get(path) ?? 0) + 1;
    versions.set(path, version);
    const text = body(path, version, padding);
    if (!written.has(path)) written.set(path, new Set());
    written.get(path)!.add(sha(text));
    await writeFile(join(root, path), text);
  }

  before(async () => {
    box = await sandbox("kill");
    server = await startUpstreamServer("kill-trials");
    a = join(box.dir, "a");
    b = join(box.dir, "b");
    await mkdir(a);
    assert.equal(cli(box, "a", ["init", "--cwd", a]).code, 0);
    agentA = await startAgent(box, "a", argsFor(a));
    assert.equal(cli(box, "b", ["clone", server.clientUrl, b]).code, 0);
    agentB = await startAgent(box, "b", argsFor(b));
  });

  after(async () => {
    if (agentA) await stop(agentA, "SIGINT");
    if (agentB) await stop(agentB, "SIGINT");
    await server?.stop();
    await box?.cleanup();
    console.log(`# kill trials: ${trialsRun} run (${killsMidCompaction} during a compaction), seed ${SEED}`);
  });

  /** One trial: start A if needed, run `workload`, SIGKILL A after a random delay, check, restart, converge. */
  async function trial(workload: (signal: { killed: boolean }) => Promise<void>) {
    agentA ??= await startAgent(box, "a", argsFor(a));
    const signal = { killed: false };
    const work = workload(signal);
    await new Promise((r) => setTimeout(r, rng.int(300)));
    agentA.kill("SIGKILL");
    signal.killed = true;
    await new Promise<void>((r) =>
      agentA!.exitCode !== null || agentA!.signalCode !== null ? r() : agentA!.once("exit", () => r()),
    );
    agentA = undefined;
    await work;
    trialsRun++;
    const started = Date.now();

    // No torn file: everything on A's disk is one whole version somebody wrote.
    for (const [path, bytes] of await diskFiles(a)) {
      const known = written.get(path);
      if (known)
        assert.ok(
          known.has(sha(bytes)),
          `${path} on A is not any written version (torn?): ${bytes.length} bytes, ${detail()}`,
        );
    }
    // The stored document loads, and holds every edit of A that B acknowledged by having it.
    const stored = docTexts(await loadStoredDoc(a));
    for (const [path, bytes] of await diskFiles(b)) {
      if (!path.startsWith("local-")) continue;
      assert.ok(
        versionOf(stored.get(path)) >= versionOf(bytes.toString()),
        `B has ${path} v${versionOf(bytes.toString())} but A's store has v${versionOf(stored.get(path))}; ${detail()}`,
      );
    }
    // Restart: temp files swept, and both devices converge on the newest version of everything.
    agentA = await startAgent(box, "a", argsFor(a));
    const restarted = Date.now();
    let behind = "";
    await waitFor(
      "A and B to converge after the restart",
      async () => {
        const [da, db] = await Promise.all([diskFiles(a), diskFiles(b)]);
        for (const [path, version] of versions) {
          const [va, vb] = [versionOf(da.get(path)?.toString()), versionOf(db.get(path)?.toString())];
          behind = `${path}: want v${version}, A has v${va}, B has v${vb}`;
          if (va !== version || vb !== version) return false;
        }
        const temps = await tempFiles(a);
        behind = `temp files on A: ${temps.join(", ")}`;
        return temps.length === 0;
      },
      60_000,
      () => `${behind}\n${detail()}`,
    );
    // Each file has one writer, so a crash must never turn a device's edits into a conflict.
    for (const [device, files] of [
      ["A", await diskFiles(a)],
      ["B", await diskFiles(b)],
    ] as const) {
      const conflicts = [...files.keys()].filter((path) => path.includes(".conflict-"));
      assert.deepEqual(conflicts, [], `conflict copies on ${device} after the restart; ${detail()}`);
    }
    if (process.env.EDGESYNC_KILL_VERBOSE)
      console.log(`# trial ${trialsRun}: restart ${restarted - started} ms, converge ${Date.now() - restarted} ms`);
  }

  it("keeps every file whole and every acknowledged edit when killed while writing files", async () => {
    for (let t = 0; t < TRIALS_PER_TEST; t++) {
      await trial(async (signal) => {
        // B sends A a burst of files and edits; A writes them to disk and may die at any point.
        for (let i = 0; i < 12 && !signal.killed; i++) await put(b, `remote-${rng.int(6)}.md`, rng.int(60_000));
        // A's own edits too, so A's store is appending while it dies.
        for (let i = 0; i < 4 && !signal.killed; i++) await put(a, `local-${rng.int(4)}.md`, rng.int(20_000));
      });
    }
  });

  it("keeps the vault loadable and every acknowledged edit when killed while saving doc.bin", async () => {
    for (let t = 0; t < TRIALS_PER_TEST; t++) {
      await trial(async (signal) => {
        for (let i = 0; i < 3; i++) await put(a, `local-${rng.int(4)}.md`, rng.int(100_000));
        // Compaction through the agent's control socket rewrites doc.bin; kill lands during it or near it.
        const compact = start(["compact", "--cwd", a], { env: deviceEnv(box, "a") });
        killsMidCompaction++;
        while (!signal.killed && compact.exitCode === null) await new Promise((r) => setTimeout(r, 5));
        // With the agent gone the command may fall back to compacting offline: killed too, mid-save or not.
        compact.kill("SIGKILL");
        await new Promise<void>((r) =>
          compact.exitCode !== null || compact.signalCode !== null ? r() : compact.once("exit", () => r()),
        );
      });
    }
  });
});
