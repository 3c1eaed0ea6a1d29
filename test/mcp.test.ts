/**
 * Issue 18 part 1 end to end: the built `edgesync mcp` driven by the MCP SDK's own Client over
 * stdio — every tool, path confinement and limits, resources and their update notifications — on
 * its own (it opens the vault itself) and beside a running agent (through its control socket).
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, mkdir, readFile, symlink, readdir } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, run, stop, readText, exists, type Sandbox } from "./helpers/cli.js";
import { startAgent, startHub, cli, deviceEnv, publicKeyLine, type RunningAgent } from "./helpers/agents.js";
import { connectMcp, type McpSession } from "./helpers/mcp-client.js";
import { waitFor } from "./helpers/wait.js";

/** A size limit small enough that the over-limit test sends little. */
const FILE_BYTES_MAX = 256 * 1024;

async function initVault(box: Sandbox, env: NodeJS.ProcessEnv, name: string): Promise<{ root: string; id: string }> {
  const root = join(box.dir, name);
  await mkdir(root);
  await writeFile(join(root, "welcome.md"), "# Welcome\nThe vault of the MCP tests.\n");
  const init = run(["init", "--cwd", root, "--json"], { env });
  assert.equal(init.code, 0, init.stderr);
  const config = join(root, ".edgesync", "config.toml");
  await writeFile(
    config,
    (await readFile(config, "utf8")).replace(/file_bytes_max = \d+/, `file_bytes_max = ${FILE_BYTES_MAX}`),
  );
  return { root, id: JSON.parse(init.stdout).id as string };
}

describe("edgesync mcp on its own", () => {
  let box: Sandbox;
  let vault: string;
  let vaultId: string;
  let mcp: McpSession;

  before(async () => {
    box = await sandbox("mcp");
    ({ root: vault, id: vaultId } = await initVault(box, box.env, "notes"));
    mcp = await connectMcp(vault, box.env);
  });
  after(async () => {
    await mcp?.close();
    await box.cleanup();
  });

  it("offers every vault tool with a JSON schema naming its arguments", async () => {
    const { tools } = await mcp.client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    for (const name of [
      "list_files",
      "read_file",
      "write_file",
      "edit_file",
      "delete_file",
      "move_file",
      "search",
      "file_history",
      "diff",
      "restore",
      "snapshot",
    ]) {
      assert.ok(byName.has(name), `tool ${name}`);
      assert.ok((byName.get(name)?.description ?? "").length > 20, `${name} has a description`);
    }
    assert.deepEqual(byName.get("write_file")?.inputSchema.required, ["path", "content"]);
    assert.deepEqual(byName.get("search")?.inputSchema.required, ["query"]);
  });

  it("writes a file as an ordinary vault change: on disk, listed, readable, in history with this device", async () => {
    const wrote = await mcp.call("write_file", { path: "projects/plan.md", content: "# Plan\n- step one\n" });
    assert.equal(wrote.isError, false, wrote.text);
    assert.equal(await readText(join(vault, "projects/plan.md")), "# Plan\n- step one\n");
    assert.equal((await mcp.call("read_file", { path: "projects/plan.md" })).text, "# Plan\n- step one\n");
    const listed = JSON.parse((await mcp.call("list_files", { prefix: "projects/" })).text) as {
      path: string;
      by: string;
    }[];
    assert.deepEqual(
      listed.map((f) => f.path),
      ["projects/plan.md"],
    );
    const status = JSON.parse(run(["status", "--json", "--cwd", vault], { env: box.env }).stdout);
    assert.equal(status.files, 4, "welcome.md, authorized_keys, .syncignore and the new file");
    const history = JSON.parse((await mcp.call("file_history", { path: "projects/plan.md" })).text);
    assert.equal(history.versions.length, 1);
    assert.equal(history.versions[0].change, "added");
    assert.equal(history.versions[0].by, listed[0].by);
    assert.match(history.versions[0].by, /^U[A-Z2-7]{55}$/, "the device's peer id");
  });

  it("edits one exact snippet, and refuses a missing or repeated one without changing the file", async () => {
    await mcp.call("write_file", { path: "todo.md", content: "- [ ] milk\n- [ ] bread\n- [ ] milk\n" });
    const missing = await mcp.call("edit_file", { path: "todo.md", old_text: "- [ ] eggs", new_text: "- [x] eggs" });
    assert.equal(missing.isError, true);
    assert.match(missing.text, /not found in todo\.md.*read_file/);
    const twice = await mcp.call("edit_file", { path: "todo.md", old_text: "- [ ] milk", new_text: "- [x] milk" });
    assert.equal(twice.isError, true);
    assert.match(twice.text, /occurs 2 times.*surrounding lines/);
    assert.equal(await readText(join(vault, "todo.md")), "- [ ] milk\n- [ ] bread\n- [ ] milk\n");
    const edited = await mcp.call("edit_file", { path: "todo.md", old_text: "- [ ] bread", new_text: "- [x] bread" });
    assert.equal(edited.isError, false, edited.text);
    assert.equal(await readText(join(vault, "todo.md")), "- [ ] milk\n- [x] bread\n- [ ] milk\n");
    const history = JSON.parse((await mcp.call("file_history", { path: "todo.md" })).text);
    assert.deepEqual(
      history.versions.map((v: { change: string }) => v.change),
      ["modified", "added"],
    );
  });

  it("moves and deletes files, and restore brings a deleted file back from its history", async () => {
    await mcp.call("write_file", { path: "draft.md", content: "draft\n" });
    const moved = await mcp.call("move_file", { path: "draft.md", new_path: "archive/final.md" });
    assert.equal(moved.isError, false, moved.text);
    assert.equal(await exists(join(vault, "draft.md")), false);
    assert.equal(await readText(join(vault, "archive/final.md")), "draft\n");
    const history = JSON.parse((await mcp.call("file_history", { path: "archive/final.md" })).text);
    const deleted = await mcp.call("delete_file", { path: "archive/final.md" });
    assert.equal(deleted.isError, false, deleted.text);
    assert.equal(await exists(join(vault, "archive/final.md")), false);
    const restored = await mcp.call("restore", { at: history.versions[0].hash, path: "archive/final.md" });
    assert.equal(restored.isError, false, restored.text);
    assert.equal(await readText(join(vault, "archive/final.md")), "draft\n");
  });

  it("diffs against a snapshot and restores the whole vault to it", async () => {
    await mcp.call("write_file", { path: "journal.md", content: "monday\n" });
    assert.equal((await mcp.call("snapshot", { label: "before-tuesday" })).isError, false);
    assert.match((await mcp.call("snapshot")).text, /before-tuesday/);
    await mcp.call("write_file", { path: "journal.md", content: "monday\ntuesday\n" });
    await mcp.call("write_file", { path: "extra.md", content: "new\n" });
    const diff = await mcp.call("diff", { from: "before-tuesday", path: "journal.md" });
    assert.match(diff.text, /^\+tuesday$/m);
    assert.doesNotMatch(diff.text, /extra\.md/);
    const tooEarly = await mcp.call("restore", { at: "1w" });
    assert.equal(tooEarly.isError, true);
    assert.match(tooEarly.text, /did not exist yet at 1w; pick a later point/);
    assert.match((await mcp.call("restore", { at: "1w", path: "journal.md" })).text, /did not exist yet/);
    const restored = await mcp.call("restore", { at: "before-tuesday" });
    assert.equal(restored.isError, false, restored.text);
    assert.equal(await readText(join(vault, "journal.md")), "monday\n");
    assert.equal(await exists(join(vault, "extra.md")), false);
  });

  it("searches ranked with the matching lines, and follows an edit made on disk", async () => {
    await mcp.call("write_file", {
      path: "recipes/soup.md",
      content: "# Soup\nonions and carrots\nsimmer the carrots\n",
    });
    await mcp.call("write_file", { path: "recipes/cake.md", content: "# Cake\nflour, sugar, one carrot\n" });
    const hits = JSON.parse((await mcp.call("search", { query: "carrots" })).text) as {
      path: string;
      lines: { line: number; text: string }[];
    }[];
    assert.equal(hits[0].path, "recipes/soup.md", "the file that says it twice ranks first");
    assert.deepEqual(hits[0].lines, [
      { line: 2, text: "onions and carrots" },
      { line: 3, text: "simmer the carrots" },
    ]);
    await writeFile(join(vault, "recipes/cake.md"), "# Cake\nflour, sugar, blueberries\n");
    await waitFor(
      "search to see the edit on disk",
      async () => {
        const text = (await mcp.call("search", { query: "blueberries" })).text;
        return text.includes("recipes/cake.md");
      },
      30_000,
      mcp.stderr,
    );
    assert.match((await mcp.call("search", { query: "zucchini" })).text, /^no file matches/);
  });

  it("lists and reads every file as a resource, and a subscribed file edited on disk raises resources/updated", async () => {
    const uri = `edgesync://${vaultId}/welcome.md`;
    const { resources } = await mcp.client.listResources();
    assert.ok(
      resources.some((r) => r.uri === uri),
      `listed: ${resources.map((r) => r.uri).join(" ")}`,
    );
    const read = await mcp.client.readResource({ uri });
    assert.equal((read.contents[0] as { text: string }).text, "# Welcome\nThe vault of the MCP tests.\n");
    await mcp.client.subscribeResource({ uri });
    await writeFile(join(vault, "welcome.md"), "# Welcome\nedited in an editor\n");
    await waitFor("resources/updated for welcome.md", () => mcp.updated.includes(uri), 30_000, mcp.stderr);
    await assert.rejects(mcp.client.readResource({ uri: `edgesync://${vaultId}/nothing-here.md` }), /not in the vault/);
    const before = mcp.listChanges();
    await mcp.call("write_file", { path: "a new file.md", content: "new\n" });
    await waitFor("resources/list_changed for a new file", () => mcp.listChanges() > before, 30_000, mcp.stderr);
    const spaced = `edgesync://${vaultId}/a%20new%20file.md`;
    assert.ok((await mcp.client.listResources()).resources.some((r) => r.uri === spaced));
    assert.equal(((await mcp.client.readResource({ uri: spaced })).contents[0] as { text: string }).text, "new\n");
  });

  it("confines paths to the vault: climbing, absolute, state-folder, symlinked and authorized_keys writes fail with what to do", async () => {
    for (const [path, pattern] of [
      ["../outside.md", /climbs.*relative to the vault's root/],
      ["/tmp/outside.md", /absolute path.*relative to the vault's root/],
      [".edgesync/config.md", /inside \.edgesync/],
      ["authorized_keys", /by hand/],
      ["notes/run.sh", /would not sync.*\.md/],
    ] as const) {
      const result = await mcp.call("write_file", { path, content: "x\n" });
      assert.equal(result.isError, true, path);
      assert.match(result.text, pattern, path);
    }
    const outside = join(box.dir, "outside-folder");
    await mkdir(outside);
    await symlink(outside, join(vault, "linked"));
    const throughLink = await mcp.call("write_file", { path: "linked/x.md", content: "x\n" });
    assert.equal(throughLink.isError, true);
    assert.match(throughLink.text, /symbolic link.*real folder/);
    assert.deepEqual(await readdir(outside), []);
    assert.equal((await mcp.call("read_file", { path: "../../etc/passwd" })).isError, true);
    assert.equal((await mcp.call("move_file", { path: "welcome.md", new_path: "../escaped.md" })).isError, true);
    assert.equal(await exists(join(box.dir, "outside.md")), false);
    assert.equal(await exists(join(box.dir, "escaped.md")), false);
    assert.equal(await exists(join(vault, "welcome.md")), true);
  });

  it("refuses a write over the vault's size limit and a missing file, and keeps serving", async () => {
    const huge = await mcp.call("write_file", { path: "huge.md", content: "x".repeat(FILE_BYTES_MAX + 1) });
    assert.equal(huge.isError, true);
    assert.match(huge.text, /over this vault's limit of 262144.*split it/);
    assert.equal(await exists(join(vault, "huge.md")), false);
    const missing = await mcp.call("read_file", { path: "no/such/file.md" });
    assert.equal(missing.isError, true);
    assert.match(missing.text, /not in the vault; list_files/);
    assert.equal((await mcp.call("delete_file", { path: "no-such.md" })).isError, true);
    assert.equal((await mcp.call("diff", { from: "no-such-label" })).isError, true);
    assert.equal((await mcp.call("read_file", { path: "welcome.md" })).isError, false, "still serving");
  });
});

describe("edgesync mcp with the default size limit", () => {
  let box: Sandbox;
  let mcp: McpSession;
  let vault: string;

  before(async () => {
    box = await sandbox("mcp-huge");
    vault = join(box.dir, "notes");
    await mkdir(vault);
    assert.equal(run(["init", "--cwd", vault], { env: box.env }).code, 0);
    mcp = await connectMcp(vault, box.env);
  });
  after(async () => {
    await mcp?.close();
    await box.cleanup();
  });

  it("refuses a 20 MiB write with the limit named, still takes a 15 MiB one, and keeps serving", async () => {
    // Both are over the SDK's 10 MiB default for one stdio message: the server raises it to fit its limit.
    const huge = await mcp.client.callTool(
      { name: "write_file", arguments: { path: "huge.md", content: "y".repeat(20 * 1024 * 1024) } },
      undefined,
      { timeout: 120_000 },
    );
    assert.equal(huge.isError, true);
    assert.match(JSON.stringify(huge.content), /over this vault's limit of 16777216/);
    const large = await mcp.client.callTool(
      { name: "write_file", arguments: { path: "large.md", content: "z".repeat(15 * 1024 * 1024) } },
      undefined,
      { timeout: 120_000 },
    );
    assert.equal(large.isError, undefined, JSON.stringify(large.content));
    assert.equal((await readFile(join(vault, "large.md"))).length, 15 * 1024 * 1024);
    assert.equal((await mcp.call("list_files", { prefix: "large" })).isError, false);
  });
});

describe("edgesync mcp beside a running agent", () => {
  let box: Sandbox;
  let vault: string;
  let vaultId: string;
  let agent: RunningAgent;
  let mcp: McpSession;

  before(async () => {
    box = await sandbox("mcp-agent");
    ({ root: vault, id: vaultId } = await initVault(box, deviceEnv(box, "p"), "notes"));
    agent = await startAgent(box, "p", ["--nats-role", "peer", "--cluster-listen", "127.0.0.1:-1", "--cwd", vault]);
    mcp = await connectMcp(vault, deviceEnv(box, "p"));
  });
  after(async () => {
    await mcp?.close();
    if (agent) await stop(agent, "SIGINT");
    await box.cleanup();
  });

  it("writes and edits through the agent, which keeps the vault, and reports changes made on disk", async () => {
    // The agent holds the vault's lock: only its control socket can make these changes.
    const wrote = await mcp.call("write_file", { path: "shared.md", content: "one\n" });
    assert.equal(wrote.isError, false, `${wrote.text}\n${mcp.stderr()}`);
    assert.equal(await readText(join(vault, "shared.md")), "one\n");
    assert.equal((await mcp.call("edit_file", { path: "shared.md", old_text: "one", new_text: "two" })).isError, false);
    assert.equal(await readText(join(vault, "shared.md")), "two\n");
    const uri = `edgesync://${vaultId}/shared.md`;
    await mcp.client.subscribeResource({ uri });
    await writeFile(join(vault, "shared.md"), "three\n");
    await waitFor("resources/updated for shared.md", () => mcp.updated.includes(uri), 30_000, mcp.stderr);
    await waitFor(
      "the agent to take in the disk edit",
      async () => (await mcp.call("read_file", { path: "shared.md" })).text === "three\n",
      30_000,
      () => agent.output(),
    );
    const history = JSON.parse((await mcp.call("file_history", { path: "shared.md" })).text);
    assert.equal(history.versions.length, 3);
    // A request line carries the whole file: far over the control socket's few-hundred-byte requests.
    const big = `${"a line of a long note\n".repeat(10_000)}`;
    assert.equal((await mcp.call("write_file", { path: "big.md", content: big })).isError, false);
    assert.equal(await readText(join(vault, "big.md")), big);
    assert.equal(agent.exitCode, null, "the agent still runs");
    assert.equal(cli(box, "p", ["status", "--cwd", vault]).code, 0);
  });
  it("sends, lists and reads notify messages, and notify_ask returns the human's answer or says none came", async () => {
    const sent = await mcp.call("notify_send", { project: "repo", content: "deploy finished" });
    assert.match(sent.text, /^sent [0-9a-z]{20} to repo\/general$/, sent.text);
    assert.match((await mcp.call("notify_threads")).text, /"thread": "general"/);
    assert.match((await mcp.call("notify_log", { thread: "general", project: "repo" })).text, /deploy finished/);
    const asking = mcp.call("notify_ask", {
      project: "repo",
      thread: "release",
      content: "merge PR 12?",
      actions: ["yes:Merge", "no:Wait"],
      timeout_seconds: 120,
    });
    let questionId = "";
    await waitFor(
      "the question to be in the thread",
      async () => {
        const log = await mcp.call("notify_log", { thread: "release", project: "repo" });
        questionId = log.isError
          ? ""
          : ((JSON.parse(log.text.startsWith("[") ? log.text : "[]") as { id: string; body: string }[]).find(
              (m) => m.body === "merge PR 12?",
            )?.id ?? "");
        return questionId !== "";
      },
      30_000,
      mcp.stderr,
    );
    const reply = run(["notify", "reply", questionId, "--action", "yes"], { env: deviceEnv(box, "p"), cwd: vault });
    assert.equal(reply.code, 0, reply.stderr);
    const answer = await asking;
    assert.equal(answer.isError, false, answer.text);
    assert.equal(JSON.parse(answer.text).action, "yes");
    const unanswered = await mcp.call("notify_ask", { project: "repo", content: "anyone?", timeout_seconds: 1 });
    assert.match(unanswered.text, /^no answer yet to [0-9a-z]{20} after 1 s; read the thread later with notify_log/);
    assert.match(
      (await mcp.call("notify_send", { project: "repo", content: "x", actions: ["bad-spec"] })).text,
      /malformed action/,
    );
  });
});

describe("edgesync mcp on two devices through a hub", () => {
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  let a: string;
  let b: string;
  let vaultId: string;
  let mcpA: McpSession;
  let mcpB: McpSession;
  const detail = () =>
    [hub, leafA, leafB].map((p) => p?.output().slice(-2000)).join("\n---\n") + `\n--- mcp B\n${mcpB?.stderr()}`;

  before(async () => {
    box = await sandbox("mcp-hub");
    hub = await startHub(box, ["a"]);
    const ports = hub.info.ports!;
    ({ root: a, id: vaultId } = await initVault(box, deviceEnv(box, "a"), "a"));
    leafA = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${ports.leafnode}`,
      "--accept-hub-key",
      "--cwd",
      a,
    ]);
    await writeFile(
      join(a, "authorized_keys"),
      `${await readText(join(a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
    );
    b = join(box.dir, "b");
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "B to clone the vault through the hub",
      () => {
        cloned = cli(box, "b", ["clone", `nats://127.0.0.1:${ports.client}`, b, "--json", "--accept-hub-key"]);
        return cloned.code === 0;
      },
      60_000,
      () => cloned.stderr + detail(),
    );
    leafB = await startAgent(box, "b", ["--cwd", b]);
    mcpA = await connectMcp(a, deviceEnv(box, "a"));
    mcpB = await connectMcp(b, deviceEnv(box, "b"));
  });
  after(async () => {
    await mcpA?.close();
    await mcpB?.close();
    for (const agent of [leafA, leafB, hub]) if (agent) await stop(agent, "SIGINT");
    await box.cleanup();
  });

  it("brings a write on device A to device B, where a subscriber hears of it and search finds it", async () => {
    const uri = `edgesync://${vaultId}/welcome.md`;
    await mcpB.client.subscribeResource({ uri });
    const wrote = await mcpA.call("write_file", {
      path: "welcome.md",
      content: "# Welcome\nwritten by the agent on A: pineapple\n",
    });
    assert.equal(wrote.isError, false, wrote.text);
    await waitFor(
      "the write to reach B's disk",
      async () => (await readText(join(b, "welcome.md")))?.includes("pineapple") === true,
      60_000,
      detail,
    );
    await waitFor("B's subscriber to hear of it", () => mcpB.updated.includes(uri), 30_000, detail);
    await waitFor(
      "B's search to find it",
      async () => (await mcpB.call("search", { query: "pineapple" })).text.includes("welcome.md"),
      30_000,
      detail,
    );
    const history = JSON.parse((await mcpB.call("file_history", { path: "welcome.md" })).text);
    const onA = JSON.parse((await mcpA.call("file_history", { path: "welcome.md" })).text);
    assert.equal(history.versions[0].by, onA.versions[0].by, "attributed to device A on both devices");
  });
});
