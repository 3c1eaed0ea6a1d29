/**
 * automerge-repo under test: a websocket sync server (NodeWSServerAdapter, file storage) as the hub
 * and one node process per leaf (WebSocketClientAdapter, file storage), each a minimal folder sync
 * (see automerge-peer.ts). The peer script is transpiled once with esbuild so every process starts
 * as plain node, like the built `edgesync`.
 */
import { createInterface } from "node:readline";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import {
  benchDir, discardLater, startProcess, stopProcess, timedRun, waitUntil, writeVaultFiles, verifyVaultFiles,
  LIVE_VAULT_FILES, type BenchPlan, type Proc,
} from "./fixtures.js";
import { attempt, emptyResult, say, type SystemResult } from "./result.js";
import { measureFanout, measurePropagation, recordSetupFailure } from "./phases.js";

const NAME = "automerge-repo";
const PEER_JS = resolve("bench/.build/automerge-peer.mjs");

async function buildPeer(): Promise<void> {
  await mkdir(resolve("bench/.build"), { recursive: true });
  const entry = join(fileURLToPath(new URL(".", import.meta.url)), "automerge-peer.ts");
  await build({ entryPoints: [entry], outfile: PEER_JS, bundle: true, packages: "external", platform: "node", format: "esm", target: "node20", logLevel: "warning" });
}

type Peer = Proc & { events: Record<string, unknown>[] };

/** Starts a peer process and resolves once it emits `until` (or rejects when it exits first). */
async function startPeer(args: string[], until: string, timeoutMs = 120_000): Promise<Peer> {
  const child = startProcess(process.execPath, [PEER_JS, ...args]);
  const events: Record<string, unknown>[] = [];
  const peer = Object.assign(child, { events });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      /* a log line, not an event */
    }
  });
  await waitUntil(`automerge-repo ${args[0]} to be ${until}`, () => {
    if (events.some((e) => e.event === until)) return true;
    const error = events.find((e) => e.event === "error");
    if (error || child.exitCode !== null) throw new Error(`automerge-repo peer failed: ${String(error?.message ?? `exit ${child.exitCode}`)} ${child.output().slice(-1000)}`);
    return false;
  }, timeoutMs, () => child.output());
  return peer;
}

const event = (peer: Peer, name: string) => peer.events.find((e) => e.event === name) as Record<string, unknown>;

export async function runAutomergeRepo(plan: BenchPlan): Promise<SystemResult> {
  const result = emptyResult(NAME);
  result.setup.push(
    "@automerge/automerge-repo 2.5 + network-websocket: one sync server process (NodeWSServerAdapter, sharePolicy false: stores and relays), one client process per leaf (WebSocketClientAdapter)",
    "every repo has a NodeFS-like file storage (temp + fsync + rename per chunk); each client is a minimal folder sync: recursive fs.watch with edgesync's 15 ms debounce, remote changes written temp + fsync + rename",
    "one document per vault, { files: { path: ImmutableString } } — edgesync's data model (one Automerge doc of whole-file strings), so the comparison is of sync protocol, server and process rather than of data models; a doc per file would add one sync handshake per file and an index doc",
    "clone: a client process in --clone mode from spawn to exit (find the doc on the server, write every file), peak RSS via GNU time; the server holds the doc (a seeding client uploaded it and was stopped)",
  );
  const box = await benchDir("automerge");
  const procs: Peer[] = [];
  try {
    await buildPeer();
    const server = await startPeer(["server", "--store", join(box, "server-store")], "listening");
    procs.push(server);
    const url = `ws://127.0.0.1:${String(event(server, "listening").port)}`;
    const client = async (name: string, dir: string, doc: string | undefined, extra: string[] = []) => {
      const args = ["client", "--url", url, "--dir", dir, "--store", join(box, `${name}-store`), ...(doc ? ["--doc", doc] : ["--create"]), ...extra];
      const peer = await startPeer(args, "ready");
      procs.push(peer);
      return peer;
    };
    const a = join(box, "a");
    await writeVaultFiles(a, LIVE_VAULT_FILES);
    const docUrl = String(event(await client("a", a, undefined), "ready").url);
    const join_ = async (name: string) => {
      const dir = join(box, name);
      await client(name, dir, docUrl);
      return dir;
    };
    const b = await join_("b");
    const problem = await verifyVaultFiles(b, LIVE_VAULT_FILES);
    if (problem) throw new Error(`leaf B did not receive the vault: ${problem}`);
    const writer = { write: (rel: string, bytes: Buffer) => writeFile(join(a, rel), bytes) };
    await measurePropagation(result, plan, writer, b, "A → server → B");

    for (const files of plan.cloneSizes) {
      await attempt(result, `clone of ${files} files`, async () => {
        say(NAME, `clone: seeding ${files} files on the server`);
        const seedDir = join(box, `seed-${files}`);
        await writeVaultFiles(seedDir, files);
        const seeder = await startPeer(["client", "--url", url, "--dir", seedDir, "--store", join(box, `seed-${files}-store`), "--create"], "ready", 600_000);
        procs.push(seeder);
        const seedUrl = String(event(seeder, "ready").url);
        // The server has the whole doc once a probe clone through it succeeds; then the seeder leaves.
        // Each attempt in fresh folders (removed when the bench ends, see discardLater).
        let attempt = 0;
        await waitUntil(`the server to hold the ${files}-file doc`, async () => {
          const probeDir = join(box, `probe-${files}-${++attempt}`);
          discardLater(probeDir);
          discardLater(`${probeDir}-store`);
          const probe = await timedRun(process.execPath, [PEER_JS, "client", "--url", url, "--dir", probeDir, "--store", `${probeDir}-store`, "--doc", seedUrl, "--clone"], { timeoutMs: 600_000 });
          return probe.code === 0 && (await verifyVaultFiles(probeDir, files)) === undefined;
        }, 600_000);
        await stopProcess(seeder);
        const dir = join(box, `clone-${files}`);
        say(NAME, `clone: ${files} files`);
        const run = await timedRun(process.execPath, [PEER_JS, "client", "--url", url, "--dir", dir, "--store", join(box, `clone-${files}-store`), "--doc", seedUrl, "--clone"], { timeoutMs: 600_000 });
        if (run.code !== 0) throw new Error(`automerge-repo clone exited ${run.code}: ${run.output.slice(-1000)}`);
        const incomplete = await verifyVaultFiles(dir, files);
        if (incomplete) throw new Error(`clone incomplete: ${incomplete}`);
        result.clones.push({ files, wallMs: Math.round(run.wallMs), peakRssMiB: run.peakRssMiB, rssOf: "the cloning client process" });
        discardLater(dir);
        discardLater(seedDir);
      });
    }

    await measureFanout(result, plan, writer, async () => {
      const receivers = [b];
      for (let i = 1; i < plan.fanoutLeaves; i++) receivers.push(await join_(`leaf${i}`));
      return receivers;
    }, "A → server");
  } catch (error) {
    recordSetupFailure(result, error);
  } finally {
    for (const peer of procs.reverse()) await stopProcess(peer);
    discardLater(box);
  }
  return result;
}
