/**
 * Issue 2 end to end: the built binary on real folders — init, edits, status, snapshots, diff,
 * restore-at, compact, and bad input that must fail in one line without touching anything.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, mkdir, unlink, rename, chmod, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { sandbox, run, readText, listTree, type Sandbox } from "./helpers/cli.js";

let box: Sandbox;
let vault: string;
const cli = (args: string[], input?: string) => run([...args, "--cwd", vault], { env: box.env, input });
const oneLineError = (r: { code: number; stderr: string }, pattern: RegExp) => {
  assert.notEqual(r.code, 0, "exits non-zero");
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
};
/** Waits until the wall clock has moved past `t`, so change times are distinct. */
const tick = async (t = Date.now()) => {
  while (Date.now() <= t + 2) await new Promise((r) => setTimeout(r, 3));
  return Date.now();
};

before(async () => {
  box = await sandbox("vault-cli");
  vault = join(box.dir, "notes");
  await mkdir(vault);
});
after(() => box.cleanup());

describe("edgesync key", () => {
  it("generates an OpenSSH ed25519 key pair that ssh-keygen accepts, private key 0600", async () => {
    const r = run(["key", "generate"], { env: box.env });
    assert.equal(r.code, 0, r.stderr);
    const priv = join(box.home, "id_ed25519");
    assert.equal((await stat(priv)).mode & 0o777, 0o600);
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", `${priv}.pub`], { encoding: "utf8" });
    assert.match(fingerprint, /^256 SHA256:\S+ .*\(ED25519\)/);
    const shown = run(["key", "show"], { env: box.env });
    assert.equal(shown.code, 0);
    assert.match(shown.stdout, /ssh-ed25519 AAAA/);
    assert.ok(shown.stdout.includes(fingerprint.split(" ")[1]), "key show prints the same fingerprint as ssh-keygen");
  });

  it("refuses a private key readable by others, naming the fix", async () => {
    const priv = join(box.home, "id_ed25519");
    await chmod(priv, 0o644);
    oneLineError(run(["key", "show"], { env: box.env }), /chmod 600/);
    await chmod(priv, 0o600);
  });
});

describe("edgesync init and history", () => {
  it("initialises a folder, seeds authorized_keys with this device, and is safe to run twice", async () => {
    await writeFile(join(vault, "hello.md"), "# Hello\n");
    const first = cli(["init", "--name", "notes", "--json"]);
    assert.equal(first.code, 0, first.stderr);
    const info = JSON.parse(first.stdout);
    assert.match(info.id, /^[0-9a-f-]{36}$/);
    assert.equal(info.files, 3); // hello.md, authorized_keys, .syncignore
    const pub = await readFile(join(box.home, "id_ed25519.pub"), "utf8");
    assert.ok((await readText(join(vault, "authorized_keys")))?.includes(pub.split(" ")[1]));
    assert.match((await readText(join(vault, ".gitignore"))) ?? "", /^\.edgesync\/$/m);
    const second = cli(["init", "--json"]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).id, info.id);
    assert.equal(JSON.parse(second.stdout).created, false);
  });

  it("brings back exact bytes with snapshot restore and restore-at after edits, deletes and renames", async () => {
    await mkdir(join(vault, "projects/alpha"), { recursive: true });
    await writeFile(join(vault, "projects/alpha/plan.md"), "step 1\nstep 2\n");
    await writeFile(join(vault, "todo.md"), "- [ ] milk\n");
    assert.equal(cli(["snapshot", "create", "v1"]).code, 0);
    const beforeEdits = await tick();
    const expected = Object.fromEntries(
      await Promise.all((await listTree(vault)).map(async (p) => [p, await readText(join(vault, p))])),
    );
    await tick(beforeEdits);
    await writeFile(join(vault, "todo.md"), "- [x] milk\n- [ ] eggs\n");
    await unlink(join(vault, "hello.md"));
    await rename(join(vault, "projects/alpha/plan.md"), join(vault, "projects/alpha/roadmap.md"));
    const status = JSON.parse(cli(["status", "--json"]).stdout);
    assert.equal(status.files, 4);

    const diff = cli(["diff", "v1"]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /^--- a\/todo\.md$/m);
    assert.match(diff.stdout, /^-- \[ \] milk$/m);
    assert.match(diff.stdout, /^\+- \[x\] milk$/m);
    assert.match(diff.stdout, /^\+\+\+ \/dev\/null$/m); // hello.md deleted

    const restored = cli(["snapshot", "restore", "v1", "--json"]);
    assert.equal(restored.code, 0, restored.stderr);
    const after = Object.fromEntries(
      await Promise.all((await listTree(vault)).map(async (p) => [p, await readText(join(vault, p))])),
    );
    assert.deepEqual(after, expected);

    // Edit again, then go back in time by timestamp.
    await tick();
    await writeFile(join(vault, "todo.md"), "changed again\n");
    assert.equal(cli(["status"]).code, 0);
    const atTime = cli(["restore-at", String(beforeEdits), "--json"]);
    assert.equal(atTime.code, 0, atTime.stderr);
    assert.deepEqual(JSON.parse(atTime.stdout).changed, ["todo.md"]);
    assert.equal(await readText(join(vault, "todo.md")), "- [ ] milk\n");
  });

  it("lists and deletes snapshots, and reports compaction sizes", async () => {
    const list = JSON.parse(cli(["snapshot", "list", "--json"]).stdout);
    assert.deepEqual(
      list.map((l: { label: string }) => l.label),
      ["v1"],
    );
    assert.equal(cli(["snapshot", "delete", "v1"]).code, 0);
    assert.deepEqual(JSON.parse(cli(["snapshot", "list", "--json"]).stdout), []);
    const compacted = JSON.parse(cli(["compact", "--json"]).stdout);
    assert.ok(compacted.beforeBytes > 0 && compacted.afterBytes > 0);
    assert.ok(compacted.afterBytes <= compacted.beforeBytes);
    // History survives compaction: an age spec still resolves and diff still works.
    assert.equal(cli(["diff", "1w"]).code, 0);
  });

  it("prints completion scripts", () => {
    const r = run(["completions", "bash"], { env: box.env });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /complete -F _edgesync edgesync/);
  });
});

describe("bad input", () => {
  it("rejects a bad time spec in one line", () =>
    oneLineError(cli(["restore-at", "yesterday-ish"]), /bad time .*5m, 2h, 1d, 1w/));
  it("rejects an unknown command in one line", () =>
    oneLineError(run(["frobnicate"], { env: box.env }), /edgesync --help/));
  it("rejects an unknown snapshot in one line", () =>
    oneLineError(cli(["snapshot", "restore", "nope"]), /no snapshot named "nope"/));
  it("refuses a folder that is not a vault", () =>
    oneLineError(run(["status", "--cwd", box.dir], { env: box.env }), /not an edgesync vault.*edgesync init/));
  it("rejects port 0 for --cluster-listen in one line with exit 1, not as an internal error", () => {
    const r = cli(["sync", "start", "--cluster-listen", "127.0.0.1:0"]);
    assert.equal(r.code, 1, r.stderr);
    oneLineError(r, /^edgesync: --cluster-listen "127\.0\.0\.1:0": .*-1 for any free port$/);
  });
  it("rejects a peer URL nats-server cannot route to in one line with exit 1, before anything is set up", () => {
    const r = cli(["sync", "start", "--peer", "http://10.0.0.2:6222"]);
    assert.equal(r.code, 1, r.stderr);
    oneLineError(
      r,
      /^edgesync: nats-server config: cluster route "http:\/\/10\.0\.0\.2:6222" must start with nats-route:\/\//,
    );
  });

  it("names the broken field of a malformed config.toml and changes nothing", async () => {
    const path = join(vault, ".edgesync/config.toml");
    const good = await readFile(path, "utf8");
    const before = await listTree(vault);
    await writeFile(path, good.replace(/^id = .*$/m, 'id = "nope"'));
    oneLineError(cli(["status"]), /vault\.id must be a lowercase UUID/);
    await writeFile(path, "[vault\nid=");
    oneLineError(cli(["snapshot", "create", "x"]), /not valid TOML/);
    assert.deepEqual(await listTree(vault), before);
    await writeFile(path, good);
  });

  it("reports a corrupt doc.bin in one line and leaves the files alone", async () => {
    const doc = join(vault, ".edgesync/doc.bin");
    const good = await readFile(doc);
    const files = Object.fromEntries(
      await Promise.all((await listTree(vault)).map(async (p) => [p, await readText(join(vault, p))])),
    );
    await writeFile(doc, Buffer.from("this is not an automerge document"));
    oneLineError(cli(["status"]), /unreadable/);
    const after = Object.fromEntries(
      await Promise.all((await listTree(vault)).map(async (p) => [p, await readText(join(vault, p))])),
    );
    assert.deepEqual(after, files);
    await writeFile(doc, good);
    assert.equal(cli(["status"]).code, 0);
  });
});
