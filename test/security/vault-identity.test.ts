/**
 * Issue 21, item 9: a member rewrites the vault's identity in the document. A real hub (with its
 * bridge) and two real leaves; member M, a hand-written NATS client holding its own member key,
 * pushes a change to `meta.vaultId` and `meta.name` made with @automerge/automerge to the hub.
 * The identity stays the one fixed at `init`: the bridge still serves the real id, sync goes on,
 * status shows the configured name and id, a restarted device still opens the vault, and each
 * receiving agent logs the ignored change once.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import * as A from "@automerge/automerge";
import { stop, readText, type Sandbox } from "../helpers/cli.js";
import { startAgent, cli, type RunningAgent } from "../helpers/agents.js";
import { RawMember } from "../helpers/raw-member.js";
import { startTeamVault, connectMember, type TeamVault } from "./team-vault-rig.js";
import { bucketOfPath, sha256Hex } from "../helpers/vault-layout.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { waitFor } from "../helpers/wait.js";

const IGNORED_LINE = /ignored a change to the vault's identity/g;
const AFTER = "written after the rewrite\n";

/** The first thing the bridge says on /v1/<id>: its hello, or the close code it hangs up with. */
function firstWordFromBridge(origin: string, vaultId: string): Promise<{ text?: string; closeCode?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${origin}/v1/${vaultId}`, { rejectUnauthorized: false });
    const timer = setTimeout(() => reject(new Error("the bridge said nothing within 10 s")), 10_000);
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? "" : String(data);
      if (/"t":"error"/.test(text)) return; // the close that follows carries the code
      clearTimeout(timer);
      resolve({ text });
      ws.close();
    });
    ws.on("close", (code) => {
      clearTimeout(timer);
      resolve({ closeCode: code });
    });
    ws.on("error", () => {});
  });
}

describe("a member's change to the vault's identity fields", () => {
  let team: TeamVault;
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  let mallory: NatsConnection | undefined;
  let vaultId = "";
  let bridgeOrigin = "";
  const dirs = { a: "", b: "" };
  const detail = () =>
    `--- hub\n${hub?.output().slice(-4000)}\n--- A\n${leafA?.output().slice(-3000)}\n--- B\n${leafB?.output().slice(-3000)}`;

  before(async () => {
    team = await startTeamVault("identity", {
      hubArgs: ["--bridge", "127.0.0.1:0"],
      detail,
      started: (agent, role) =>
        void (role === "hub" ? (hub = agent) : role === "a" ? (leafA = agent) : (leafB = agent)),
    });
    ({ box, vaultId } = team);
    Object.assign(dirs, team.dirs);
    bridgeOrigin = (JSON.parse(await readFile(join(hub.home, "bridge.json"), "utf8")) as { origin: string }).origin;

    // M, a member, rewrites the identity by hand and pushes it to the hub.
    const { key, nc } = await connectMember(team);
    mallory = nc;
    const member = new RawMember({ nc: mallory, vaultId, self: key.nkeyPublic });
    await member.start();
    await member.push((doc) => {
      doc.meta.vaultId = new A.ImmutableString(randomUUID());
      doc.meta.name = new A.ImmutableString("hijacked");
    });
    // M's next note builds on the rewrite: once A has written it, A and the hub hold the rewrite.
    await member.push((doc) => {
      const bucket = doc.files[bucketOfPath("after.md")] as Record<string, unknown>;
      bucket["after.md"] = {
        text: new A.ImmutableString(AFTER),
        sha256: new A.ImmutableString(sha256Hex(AFTER)),
        size: AFTER.length,
        mtime: Date.now(),
        by: new A.ImmutableString(key.nkeyPublic),
      };
    });
    await waitFor(
      "M's note written after the rewrite on A",
      async () => (await readText(join(dirs.a, "after.md"))) === AFTER,
      30_000,
      detail,
    );
  });

  after(async () => {
    await mallory?.close().catch(() => {});
    for (const agent of [leafB, leafA, hub]) if (agent) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("leaves the hub's bridge serving the vault under its real id", async () => {
    const word = await firstWordFromBridge(bridgeOrigin, vaultId);
    assert.notEqual(word.closeCode, 4004, `the bridge refused the real vault id:\n${detail()}`);
    assert.ok(word.text !== undefined && word.text.length > 0, `no hello from the bridge: ${JSON.stringify(word)}`);
  });

  it("keeps sync working both ways", async () => {
    await writeFile(join(dirs.a, "still.md"), "A still syncs\n");
    await writeFile(join(dirs.b, "still-b.md"), "B still syncs\n");
    await waitFor(
      "A's note on B",
      async () => (await readText(join(dirs.b, "still.md"))) === "A still syncs\n",
      30_000,
      detail,
    );
    await waitFor(
      "B's note on A",
      async () => (await readText(join(dirs.a, "still-b.md"))) === "B still syncs\n",
      30_000,
      detail,
    );
  });

  it("shows the configured name and id in status", () => {
    const status = cli(box, "a", ["status", "--json", "--cwd", dirs.a]);
    assert.equal(status.code, 0, status.stderr);
    const vault = (JSON.parse(status.stdout) as { vault: { id: string; name: string } }).vault;
    assert.deepEqual({ id: vault.id, name: vault.name }, { id: vaultId, name: "team" });
  });

  it("logs the ignored change once on each agent that received it", () => {
    assert.equal((hub.output().match(IGNORED_LINE) ?? []).length, 1, detail());
    assert.equal((leafA.output().match(IGNORED_LINE) ?? []).length, 1, detail());
  });

  it("still opens the vault on a device restarted after the rewrite", async () => {
    await stop(leafA, "SIGINT");
    leafA = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`,
      "--cwd",
      dirs.a,
    ]);
    await writeFile(join(dirs.b, "after-restart.md"), "A came back\n");
    await waitFor(
      "B's note on the restarted A",
      async () => (await readText(join(dirs.a, "after-restart.md"))) === "A came back\n",
      30_000,
      detail,
    );
  });
});
