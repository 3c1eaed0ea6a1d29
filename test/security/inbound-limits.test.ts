/**
 * Issue 21, item 10: size limits hold for what arrives, not only for what leaves. A real hub and two
 * real leaves, A with a 1 MiB `sync.file_bytes_max`. Members bypass their own agent's outgoing
 * check: M, a hand-written NATS client with its own member key, pushes a 20 MB text made with
 * @automerge/automerge, over the 16 MiB inline limit; B raises its own limit and offers a 20 MB binary.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, stat, readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import * as A from "@automerge/automerge";
import { stop, readText, exists, type Sandbox } from "../helpers/cli.js";
import { startAgent, cli, type RunningAgent } from "../helpers/agents.js";
import { bucketOfPath, sha256Hex, storeHoldsChange } from "../helpers/vault-layout.js";
import { RawMember } from "../helpers/raw-member.js";
import { startTeamVault, connectMember, type TeamVault } from "./team-vault-rig.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { waitFor } from "../helpers/wait.js";

/** Over the 16 MiB inline limit; a larger file behaves alike but is slow for Automerge to make. */
const HUGE_TEXT_BYTES = 20 * 1000 * 1000;
const A_LIMIT_BYTES = 1024 * 1024;
const BIG_BINARY_BYTES = 20 * 1024 * 1024;

async function setConfig(root: string, edit: (toml: string) => string): Promise<void> {
  const path = join(root, ".edgesync/config.toml");
  await writeFile(path, edit(await readFile(path, "utf8")));
}

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

async function dirBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile()) sum += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return sum;
}

describe("size limits on what arrives", () => {
  let team: TeamVault;
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  let mallory: NatsConnection | undefined;
  let vaultId = "";
  const dirs = { a: "", b: "" };
  const detail = () =>
    `--- hub\n${hub?.output().slice(-4000)}\n--- A\n${leafA?.output().slice(-3000)}\n--- B\n${leafB?.output().slice(-3000)}`;
  const statusOfA = () => {
    const status = cli(box, "a", ["status", "--json", "--cwd", dirs.a]);
    assert.equal(status.code, 0, status.stderr);
    return JSON.parse(status.stdout) as { overLimit?: { path: string; size: number }[] };
  };

  before(async () => {
    team = await startTeamVault("limits", {
      // A takes 1 MiB at most and rescans often: a warning repeated per rescan would show at once.
      configureA: (t) =>
        t
          .replace(/file_bytes_max = \d+/, `file_bytes_max = ${A_LIMIT_BYTES}`)
          .replace(/rescan_interval_ms = \d+/, "rescan_interval_ms = 300"),
      detail,
      started: (agent, role) =>
        void (role === "hub" ? (hub = agent) : role === "a" ? (leafA = agent) : (leafB = agent)),
    });
    ({ box, vaultId } = team);
    Object.assign(dirs, team.dirs);
  });

  after(async () => {
    await mallory?.close().catch(() => {});
    for (const agent of [leafB, leafA, hub]) if (agent) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("keeps a text over the receiver's own limit in the vault but off its disk, logged once and listed by status", async () => {
    const text = "2 MB of notes\n".repeat(150_000);
    // Renamed in whole, as editors save: a half-written first version could be under A's limit.
    await writeFile(join(box.dir, "long.tmp"), text);
    await rename(join(box.dir, "long.tmp"), join(dirs.b, "long.md"));
    await waitFor(
      "A to list long.md as over its limit",
      () => (statusOfA().overLimit ?? []).some((e) => e.path === "long.md"),
      30_000,
      detail,
    );
    // Several rescans later: still not on disk, still one line.
    const rescansFrom = Date.now();
    await waitFor("a few of A's rescans", () => Date.now() - rescansFrom > 2_000);
    assert.equal(await exists(join(dirs.a, "long.md")), false, "A wrote a file over its sync.file_bytes_max");
    assert.equal(count(leafA.output(), /long\.md/g), 1, `A should log long.md once:\n${leafA.output().slice(-3000)}`);
    const entry = statusOfA().overLimit!.find((e) => e.path === "long.md")!;
    assert.equal(entry.size, Buffer.byteLength(text));
  });

  it("refuses a member's hand-made 20 MB text at the hub: stored nowhere, written nowhere, logged once", async () => {
    const { key, nc } = await connectMember(team);
    mallory = nc;
    const member = new RawMember({ nc: mallory, vaultId, self: key.nkeyPublic });
    await member.start();
    const huge = "x".repeat(HUGE_TEXT_BYTES);
    const pushed = await member.push((doc) => {
      (doc.files[bucketOfPath("huge.md")] as Record<string, unknown>)["huge.md"] = {
        text: new A.ImmutableString(huge),
        sha256: new A.ImmutableString(sha256Hex(huge)),
        size: 1,
        mtime: Date.now(),
        by: new A.ImmutableString(key.nkeyPublic),
      };
    }, 15_000);
    const hubStored = () => storeHoldsChange(join(hub.home, "replicas", vaultId), pushed.hash);
    await waitFor(
      "the hub to refuse the change, or to store it",
      async () => /over the inline entry limit/.test(hub.output()) || (await hubStored()),
      60_000,
      detail,
    );
    assert.equal(await hubStored(), false, "the hub stored the 20 MB change");
    assert.equal(pushed.accepted, false, `the hub took the 20 MB change:\n${detail()}`);
    assert.equal(await exists(join(dirs.a, "huge.md")), false, "A wrote the 20 MB text");
    // M kept offering it (it restarts the exchange every 2 s): the hub still logs it once.
    assert.equal(count(hub.output(), /over the inline entry limit/g), 1, detail());
    assert.ok(hub.output().includes(pushed.hash), "the hub's line names the refused change");
    // Everyone else keeps syncing: A's edit still reaches B.
    await writeFile(join(dirs.a, "still.md"), "A still syncs\n");
    await waitFor(
      "A's note on B",
      async () => (await readText(join(dirs.b, "still.md"))) === "A still syncs\n",
      30_000,
      detail,
    );
  });

  it("never stores on the hub a binary over its blob limit, though the member's agent offers it", async () => {
    await stop(leafB, "SIGINT");
    await setConfig(dirs.b, (t) => t.replace(/file_bytes_max = \d+/, `file_bytes_max = ${64 * 1024 * 1024}`));
    leafB = await startAgent(box, "b", ["--cwd", dirs.b]);
    const bytes = randomBytes(BIG_BINARY_BYTES);
    // Written aside and renamed in: a watcher catching a 20 MB write half done would sync a smaller first version.
    await writeFile(join(box.dir, "big.bin.tmp"), Buffer.concat([Buffer.from([0xff, 0x00]), bytes]));
    await rename(join(box.dir, "big.bin.tmp"), join(dirs.b, "big.bin.md"));
    await waitFor(
      "A to list the binary as over its limit",
      () => (statusOfA().overLimit ?? []).some((e) => e.path === "big.bin.md"),
      30_000,
      detail,
    );
    const waitFrom = Date.now();
    await waitFor("time for a fetch", () => Date.now() - waitFrom > 3_000);
    assert.equal(await exists(join(dirs.a, "big.bin.md")), false, `A wrote the binary over its limit:\n${detail()}`);
    const replicaBlobs = await dirBytes(join(hub.home, "replicas", vaultId, "blobs"));
    assert.ok(replicaBlobs < BIG_BINARY_BYTES, `the hub stored ${replicaBlobs} bytes of blobs`);
  });
});
