/**
 * Binary files as content-addressed blobs on a real vault folder, through the built CLI: the doc
 * holds hashes, `.edgesync/blobs/<sha256>` holds bytes, compaction collects only what no revision
 * in the whole history names, and restore-at brings back a binary known only to history.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, mkdir, readFile, readdir, stat } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { sandbox, run, type Sandbox } from "./helpers/cli.js";

let box: Sandbox;
let vault: string;
const cli = (args: string[]) => run([...args, "--cwd", vault], { env: box.env });
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
/** Random bytes with a NUL, so they are binary whatever else they hold. */
const binary = (n: number) => Buffer.concat([Buffer.from([0]), randomBytes(n - 1)]);
const blobsDir = () => join(vault, ".edgesync/blobs");
const waitPast = async (t: number) => {
  while (Date.now() <= t + 2) await new Promise((r) => setTimeout(r, 3));
};

before(async () => {
  box = await sandbox("blobs-cli");
  vault = join(box.dir, "v");
  await mkdir(vault);
  assert.equal(run(["key", "generate"], { env: box.env }).code, 0);
});
after(() => box.cleanup());

describe("binary files as blobs", () => {
  const first = binary(120_000);
  const second = binary(90_000);
  const orphan = binary(5_000);
  let beforeOverwrite = 0;

  it("keeps an ingested binary under .edgesync/blobs/<sha256> and only its hash in the doc", async () => {
    const init = cli(["init", "--name", "pics", "--json"]);
    assert.equal(init.code, 0, init.stderr);
    const configPath = join(vault, ".edgesync/config.toml");
    const config = await readFile(configPath, "utf8");
    assert.match(config, /^extensions = \[.*\]$/m);
    await writeFile(configPath, config.replace(/^extensions = \[.*\]$/m, 'extensions = ["md", "png"]'));
    await writeFile(join(vault, "photo.png"), first);
    assert.equal(cli(["status"]).code, 0); // ingests it
    assert.ok((await readFile(join(blobsDir(), sha(first)))).equals(first));
    const docBytes =
      (await stat(join(vault, ".edgesync/doc.bin")).then(
        (s) => s.size,
        () => 0,
      )) +
      (await stat(join(vault, ".edgesync/doc.log")).then(
        (s) => s.size,
        () => 0,
      ));
    assert.ok(docBytes < 20_000, `the doc holds ${docBytes} bytes beside a ${first.length}-byte binary`);
  });

  it("compact removes a blob no revision names and keeps one only history names", async () => {
    beforeOverwrite = Date.now();
    await waitPast(beforeOverwrite);
    await writeFile(join(vault, "photo.png"), second);
    assert.equal(cli(["status"]).code, 0); // ingests the overwrite
    await writeFile(join(blobsDir(), sha(orphan)), orphan); // as a crash between blob and change would leave
    const compacted = cli(["compact", "--json"]);
    assert.equal(compacted.code, 0, compacted.stderr);
    const result = JSON.parse(compacted.stdout);
    assert.equal(result.blobsRemoved, 1);
    assert.equal(result.blobBytesRemoved, orphan.length);
    assert.equal(result.blobsKept, 2);
    assert.deepEqual((await readdir(blobsDir())).sort(), [sha(first), sha(second)].sort());
    assert.match(cli(["compact"]).stdout, /blobs: removed 0 unreferenced \(0 B\), kept 2/);
  });

  it("restore-at brings back the overwritten binary from its blob, byte for byte", async () => {
    const restored = cli(["restore-at", String(beforeOverwrite), "--json"]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(JSON.parse(restored.stdout).changed, ["photo.png"]);
    assert.ok((await readFile(join(vault, "photo.png"))).equals(first));
  });

  it("diff names a binary change without reading its bytes", () => {
    const diff = cli(["diff", String(beforeOverwrite)]);
    assert.equal(diff.code, 0, diff.stderr);
  });
});
