/**
 * Issue 18: a third-party client writing the vault document by hand (docs/vault-schema.md). A
 * real agent (`edgesync sync start --bridge`, its own nats-server) and an unmodified automerge-repo
 * `Repo` in its own process, writing through the bridge's /automerge path with
 * `edgesync/automerge-repo`: every malformed entry is logged once with its path and what is wrong,
 * nothing of it reaches the disk (an existing file is not deleted by a bad entry over it), and
 * `status` counts only the valid files.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { sandbox, stop, readText, exists, listTree, type Sandbox } from "./helpers/cli.js";
import { waitFor } from "./helpers/wait.js";
import { startAgent, cli, type RunningAgent } from "./helpers/agents.js";
import { keyFromSeed, sshPublicLineOf, type SigningKey } from "../bridge/client/handshake.js";
import { connect } from "../bridge/client/index.js";
import { nodeSocket } from "../bridge/node/index.js";
import { bucketOf } from "../agent/vault/model/bucket.js";

const CLIENT = resolve("test/helpers/automerge-repo-adapter-client.mjs");
const LOG_MESSAGE =
  "ignoring an invalid vault entry written by a peer; it is not written to disk (see docs/vault-schema.md)";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const otherBucket = (path: string) => ((parseInt(bucketOf(path), 16) + 1) % 256).toString(16).padStart(2, "0");
const good = (text: string) => ({
  text,
  sha256: sha(text),
  size: Buffer.byteLength(text),
  mtime: 1_700_000_000_000,
  by: "third-party",
});
const without = (entry: Record<string, unknown>, field: string) =>
  Object.fromEntries(Object.entries(entry).filter(([k]) => k !== field));

interface Case {
  path: string;
  /** The command for the client (automerge-repo-adapter-client.mjs `raw`). */
  raw: { entry: unknown; bucket?: string; plain?: string[] };
  problem: RegExp;
}

const CASES: Case[] = [
  {
    path: "no-sha256.md",
    raw: { entry: without(good("no hash\n"), "sha256") },
    problem: /^sha256 is missing, not an ImmutableString$/,
  },
  {
    path: "no-size.md",
    raw: { entry: without(good("no size\n"), "size") },
    problem: /^size is missing, not a whole number of bytes$/,
  },
  {
    path: "wrong-bucket.md",
    raw: { entry: good("wrong bucket\n"), bucket: otherBucket("wrong-bucket.md") },
    problem: new RegExp(
      `^it is in bucket "${otherBucket("wrong-bucket.md")}" but FNV-1a of its UTF-8 path mod 256 puts it in bucket "${bucketOf("wrong-bucket.md")}"$`,
    ),
  },
  {
    path: "wrong-sha256.md",
    raw: { entry: { ...good("the content\n"), sha256: sha("other content\n") } },
    problem: /^sha256 is not the SHA-256 of the content$/,
  },
  {
    path: "wrong-size.md",
    raw: { entry: { ...good("sized\n"), size: 999 } },
    problem: /^size is 999 but the content has 6 bytes$/,
  },
  {
    path: "plain-text.md",
    raw: { entry: good("a plain string\n"), plain: ["text"] },
    problem: /^text is a plain string \(Automerge collaborative text\), not an ImmutableString$/,
  },
  {
    path: "plain-sha256.md",
    raw: { entry: good("plain hash\n"), plain: ["sha256"] },
    problem: /^sha256 is a plain string \(Automerge collaborative text\), not an ImmutableString$/,
  },
  {
    path: "wrong-types.md",
    raw: { entry: { ...good("types\n"), size: "6", mtime: "yesterday", by: 7 } },
    problem:
      /^size is an ImmutableString, not a whole number of bytes; mtime is an ImmutableString, not a time in ms; by is the number 7, not an ImmutableString$/,
  },
  {
    path: "no-content.md",
    raw: { entry: without(good("nothing\n"), "text") },
    problem: /^it has no content: set exactly one of text, blob \(or legacy data\)$/,
  },
  {
    path: "not-a-map.md",
    raw: { entry: "just a string" },
    problem: /^the entry is an ImmutableString, not a map of revision fields$/,
  },
];

describe("entries a third-party client writes into the vault document", () => {
  let box: Sandbox;
  let root: string;
  let agent: RunningAgent;
  let client: ChildProcess;
  let clientOutput = "";
  let reader: SigningKey;
  let bridgeInfo: { origin: string; certFingerprint: string };
  let vaultId: string;
  const clientLines: Record<string, unknown>[] = [];
  const detail = () => `--- agent\n${agent?.output().slice(-4000)}\n--- client\n${clientOutput.slice(-3000)}`;
  const send = (command: Record<string, unknown>) => client.stdin?.write(`${JSON.stringify(command)}\n`);
  const invalidLogLines = () =>
    agent
      .output()
      .split("\n")
      .filter((line) => line.includes(LOG_MESSAGE))
      .map((line) => JSON.parse(line) as { path: string; bucket: string; problem: string });

  before(async () => {
    box = await sandbox("vault-schema");
    root = join(box.dir, "notes");
    await mkdir(root);
    await writeFile(join(root, "existing.md"), "on disk before\n");
    const seed = new Uint8Array(randomBytes(32));
    const key = await keyFromSeed(seed);
    assert.equal(cli(box, "p", ["init", "--cwd", root, "--name", "schema"]).code, 0);
    reader = await keyFromSeed(new Uint8Array(randomBytes(32)));
    await appendFile(
      join(root, "authorized_keys"),
      `${sshPublicLineOf(key.publicKey, "third-party")}\n${sshPublicLineOf(reader.publicKey, "reader")}\n`,
    );
    agent = await startAgent(box, "p", [
      "--nats-role",
      "peer",
      "--cluster-listen",
      "127.0.0.1:-1",
      "--cwd",
      root,
      "--bridge",
      "127.0.0.1:0",
    ]);
    const infoPath = join(agent.home, "bridge.json");
    await waitFor("the bridge to listen", () => exists(infoPath), 30_000, detail);
    const info = JSON.parse(await readFile(infoPath, "utf8")) as { origin: string; certFingerprint: string };
    bridgeInfo = info;
    vaultId = (JSON.parse(cli(box, "p", ["status", "--cwd", root, "--json"]).stdout) as { vault: { id: string } }).vault
      .id;
    client = spawn(
      process.execPath,
      [CLIENT, info.origin, vaultId, Buffer.from(seed).toString("hex"), info.certFingerprint],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    client.stdout?.on("data", (chunk: Buffer) => {
      clientOutput += chunk.toString();
      for (const line of chunk.toString().split("\n").filter(Boolean))
        clientLines.push(JSON.parse(line) as Record<string, unknown>);
    });
    client.stderr?.on("data", (chunk: Buffer) => (clientOutput += chunk.toString()));
    // The key counts once the agent has ingested authorized_keys into the document.
    await waitFor("the client to find the vault", () => clientLines.some((l) => l.step === "found"), 60_000, detail);
  });

  after(async () => {
    client?.kill("SIGKILL");
    if (agent) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("logs each malformed entry once with its path and what is wrong, writes none of them, and keeps a file a bad entry overwrote", async () => {
    for (const c of CASES) send({ raw: c.path, ...c.raw });
    // A bad revision over a file that is on disk must not read as its deletion.
    send({ raw: "existing.md", entry: without(good("replaced\n"), "sha256") });
    send({ write: "valid.md", text: "a valid entry\n" });
    await waitFor(
      "the valid entry on disk",
      async () => (await readText(join(root, "valid.md"))) === "a valid entry\n",
      30_000,
      detail,
    );
    await waitFor(
      "a log line for every malformed entry",
      () => CASES.every((c) => invalidLogLines().some((l) => l.path === JSON.stringify(c.path))),
      30_000,
      detail,
    );

    const lines = invalidLogLines();
    for (const c of CASES) {
      const mine = lines.filter((l) => l.path === JSON.stringify(c.path));
      assert.equal(mine.length, 1, `one line for ${c.path}: ${JSON.stringify(mine)}`);
      assert.match(mine[0].problem, c.problem, c.path);
      assert.equal(await exists(join(root, c.path)), false, `${c.path} must not be written`);
    }
    assert.equal(
      await readText(join(root, "existing.md")),
      "on disk before\n",
      "the bad entry over existing.md neither replaced nor deleted it",
    );
    assert.match(lines.find((l) => l.path === JSON.stringify("existing.md"))?.problem ?? "", /^sha256 is missing/);
    assert.deepEqual(
      clientLines.filter((l) => l.step === "crashed"),
      [],
    );
  });

  it("counts only valid files in status, lists the invalid ones, and never prints a null size", async () => {
    const json = cli(box, "p", ["status", "--cwd", root, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const status = JSON.parse(json.stdout) as {
      files: number;
      bytes: number;
      invalid: { path: string; bucket: string; problem: string }[];
    };
    // Every file on disk is a valid entry, except existing.md, whose entry a bad revision replaced,
    // and .gitignore, which init writes for git and the extension filter keeps out of the vault.
    const onDisk = (await listTree(root)).filter((p) => p !== "existing.md" && p !== ".gitignore");
    assert.ok(onDisk.includes("valid.md") && onDisk.includes("authorized_keys"), onDisk.join());
    const sizes = await Promise.all(onDisk.map(async (p) => (await readFile(join(root, p))).length));
    assert.equal(status.files, onDisk.length, `${onDisk.join()} ${JSON.stringify(status)}`);
    assert.equal(
      status.bytes,
      sizes.reduce((a, b) => a + b, 0),
    );
    assert.deepEqual(status.invalid.map((e) => e.path).sort(), [...CASES.map((c) => c.path), "existing.md"].sort());
    const human = cli(box, "p", ["status", "--cwd", root]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^files     ${onDisk.length} \\(\\d+ B\\)`, "m"));
    assert.doesNotMatch(human.stdout, /null|NaN|undefined/);
    assert.match(
      human.stdout,
      /^invalid {3}no-sha256\.md \(bucket [0-9a-f]{2}\): sha256 is missing, not an ImmutableString; not counted, not written to disk \(docs\/vault-schema\.md\)$/m,
    );
  });

  it("leaves the invalid entries out of what edgesync/client lists and reads", async () => {
    const vault = await connect({
      url: bridgeInfo.origin,
      vaultId,
      key: reader,
      socket: nodeSocket,
      certFingerprint: bridgeInfo.certFingerprint,
    });
    try {
      await waitFor(
        "the valid file at the client",
        () => vault.readText("valid.md") === "a valid entry\n",
        30_000,
        detail,
      );
      const listed = vault.listFiles().map((f) => f.path);
      for (const path of [...CASES.map((c) => c.path), "existing.md"]) {
        assert.equal(listed.includes(path), false, `${path} listed: ${listed.join()}`);
        assert.equal(vault.readText(path), undefined, `${path} read`);
      }
      assert.ok(listed.includes("valid.md"));
    } finally {
      await vault.close();
    }
  });
});
