/**
 * Files changing while the agent starts and scans: a writer keeps rewriting files in place
 * (truncate, then write) and creating new ones (temp + rename) from before `init` until after the
 * second device is syncing. Real agents on a real nats-server. Afterwards both devices hold the
 * last write of every file, and no state of any file in either device's history is empty or
 * partial — each is one whole version the writer wrote.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile, rename, readFile } from "node:fs/promises";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { sandbox, stop, runAsync, type Sandbox } from "../helpers/cli.js";
import {
  startAgent,
  deviceEnv,
  startUpstreamServer,
  type RunningAgent,
  type UpstreamServer,
} from "../helpers/agents.js";
import { seeded, sha, loadStoredDoc } from "../helpers/trial.js";
import { readStored, entryFromStored, type Doc } from "../../agent/vault/model/vault-doc.js";
import { waitFor } from "../helpers/wait.js";

const SEED = Number(process.env.EDGESYNC_SCAN_RACE_SEED ?? Date.now() % 1_000_000);
const FILLER = 500;
const HOT = 8;

describe(`files changing during the start-up scan (seed ${SEED})`, () => {
  let box: Sandbox;
  let server: UpstreamServer;
  let agentA: RunningAgent | undefined;
  let agentB: RunningAgent | undefined;
  const rng = seeded(SEED);
  /** path → sha256 of every version written; the last one is what both devices must end with. */
  const written = new Map<string, string[]>();
  const last = new Map<string, string>();
  let writes = 0;
  const detail = () => `seed ${SEED}\n--- A\n${agentA?.output().slice(-3000)}\n--- B\n${agentB?.output().slice(-3000)}`;

  /** `path vN` and padding: one write() (< 4 KiB), so a reader sees it empty or whole, never torn. */
  function version(path: string): string {
    const n = (written.get(path)?.length ?? 0) + 1;
    const text = `${path} v${n}\n${"x".repeat(rng.int(3000))}\n`;
    written.set(path, [...(written.get(path) ?? []), sha(text)]);
    last.set(path, text);
    writes++;
    return text;
  }

  before(async () => {
    box = await sandbox("scanrace");
    server = await startUpstreamServer("scan-race");
  });

  after(async () => {
    if (agentA) await stop(agentA, "SIGINT");
    if (agentB) await stop(agentB, "SIGINT");
    await server?.stop();
    await box?.cleanup();
  });

  it("ends with the last write everywhere and never syncs an empty or partial file", async () => {
    const a = join(box.dir, "a");
    const b = join(box.dir, "b");
    await mkdir(join(a, "filler"), { recursive: true });
    for (let i = 0; i < FILLER; i++) await writeFile(join(a, "filler", `f${i}.md`), `filler ${i}\n`);
    for (let i = 0; i < HOT; i++) await writeFile(join(a, `hot-${i}.md`), version(`hot-${i}.md`));

    let writing = true;
    let created = 0;
    const writer = (async () => {
      while (writing) {
        if (rng.int(4) === 0) {
          // A new file, as editors create one: temp (never synced: *.tmp), then rename into place.
          const path = `new-${created++}.md`;
          await writeFile(join(a, `${path}.tmp`), version(path));
          await rename(join(a, `${path}.tmp`), join(a, path));
        } else {
          // Rewrite in place: O_TRUNC, then one write — an empty file is visible in between.
          const path = rng.pick([...written.keys()]);
          await writeFile(join(a, path), version(path));
        }
        await new Promise((r) => setTimeout(r, 5 + rng.int(30)));
      }
    })();

    const url = server.clientUrl;
    const init = await runAsync(["init", "--cwd", a], { env: deviceEnv(box, "a") });
    assert.equal(init.code, 0, init.stderr);
    agentA = await startAgent(box, "a", ["--nats-role", "peer", "--nats-upstream", url, "--cwd", a]);
    const clone = await runAsync(["clone", url, b], { env: deviceEnv(box, "b") });
    assert.equal(clone.code, 0, clone.stderr);
    agentB = await startAgent(box, "b", ["--nats-role", "peer", "--nats-upstream", url, "--cwd", b]);
    // Keep writing until the clone has caught up with something written after it started.
    const mark = written.get("hot-0.md")!.length;
    const versionOn = async (root: string) =>
      Number(/ v(\d+)\n/.exec(await readFile(join(root, "hot-0.md"), "utf8").catch(() => ""))?.[1] ?? -1);
    try {
      await waitFor(
        "the clone to sync a write made after it started",
        async () => (await versionOn(b)) >= mark,
        120_000,
        detail,
      );
    } finally {
      writing = false;
      await writer;
    }

    let behind = "";
    await waitFor(
      "both devices to hold the last write of every file",
      async () => {
        for (const [path, text] of last) {
          for (const [device, root] of [
            ["A", a],
            ["B", b],
          ]) {
            const got = await readFile(join(root, path), "utf8").catch(() => undefined);
            behind = `${path} on ${device}: ${got === undefined ? "missing" : got.split("\n")[0]}, want ${text.split("\n")[0]}`;
            if (got !== text) return false;
          }
        }
        return true;
      },
      120_000,
      () => `${behind}\n${detail()}`,
    );

    await stop(agentA, "SIGINT");
    await stop(agentB, "SIGINT");
    const logs = `--- A\n${agentA.output().slice(-3000)}\n--- B\n${agentB.output().slice(-3000)}`;
    [agentA, agentB] = [undefined, undefined];
    for (const [device, root] of [
      ["A", a],
      ["B", b],
    ] as const) {
      const doc = await loadStoredDoc(root);
      let states = 0;
      for (const change of A.getHistory(doc)) {
        const snapshot = change.snapshot as Doc;
        for (const [path, versions] of written) {
          const rev = readStored(snapshot, path);
          if (rev === undefined) continue;
          states++;
          const bytes = entryFromStored(path, rev).bytes;
          assert.ok(
            bytes !== undefined,
            `${device}'s history holds ${path} as a binary blob; the writer only writes text`,
          );
          assert.ok(
            versions.includes(sha(bytes)),
            `${device}'s history holds ${path} as ${bytes.length} bytes that no write produced (empty or partial): ${JSON.stringify(Buffer.from(bytes).toString().slice(0, 40))}, change by ${change.change.actor.slice(0, 8)}: ${JSON.stringify(change.change.message)}; seed ${SEED}\n${logs}`,
          );
        }
      }
      assert.ok(states > 0);
    }
    console.log(`# scan race: ${writes} writes (${created} new files) over ${FILLER} filler files; seed ${SEED}`);
  });
});
