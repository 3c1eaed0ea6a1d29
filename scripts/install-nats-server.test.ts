/**
 * The postinstall script, run as `npm install` runs it, from a copy in a temp "package root" so the
 * shared node_modules is left alone. The release path is exercised against a loopback HTTP server
 * that serves a stand-in archive and its SHA256SUMS, so the checksum check is tested for real.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { arch, platform, tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = new URL("./install-nats-server.mjs", import.meta.url).pathname;
const VERSION = "9.8.7";
const dirs: string[] = [];
const servers: Server[] = [];
after(async () => {
  for (const s of servers) s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function packageRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "es-install-"));
  dirs.push(root);
  await mkdir(join(root, "scripts"));
  await copyFile(SCRIPT, join(root, "scripts", "install-nats-server.mjs"));
  return root;
}

function run(root: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [join(root, "scripts", "install-nats-server.mjs")], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
}

const cacheOf = async (root: string) =>
  JSON.parse(await readFile(join(root, "node_modules", ".cache", "edgesync", "nats-server.json"), "utf8")) as {
    path: string;
    version: string;
    source: string;
  };

/** A release archive laid out like upstream's: nats-server-vX-os-arch/nats-server. */
async function releaseServer(tamper: boolean): Promise<string> {
  const os = platform() === "darwin" ? "darwin" : "linux";
  const cpu = arch() === "arm64" ? "arm64" : "amd64";
  const name = `nats-server-v${VERSION}-${os}-${cpu}`;
  const work = await mkdtemp(join(tmpdir(), "es-release-"));
  dirs.push(work);
  await mkdir(join(work, name));
  await writeFile(join(work, name, "nats-server"), `#!/bin/sh\necho "nats-server: v${VERSION}"\n`);
  await chmod(join(work, name, "nats-server"), 0o755);
  assert.equal(spawnSync("tar", ["-czf", join(work, `${name}.tar.gz`), "-C", work, name]).status, 0);
  const archive = await readFile(join(work, `${name}.tar.gz`));
  const digest = createHash("sha256")
    .update(tamper ? Buffer.from("something else") : archive)
    .digest("hex");
  const sums = `${"0".repeat(64)}  nats-server-v${VERSION}-windows-amd64.zip\n${digest}  ${name}.tar.gz\n`;
  const server = createServer((req, res) => {
    if (req.url === "/SHA256SUMS") res.end(sums);
    else if (req.url === `/${name}.tar.gz`) res.end(archive);
    else res.writeHead(404).end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe("scripts/install-nats-server.mjs", () => {
  it("records $EDGESYNC_NATS_SERVER and says which binary and version it uses", async () => {
    const root = await packageRoot();
    const fake = join(root, "my-nats-server");
    await writeFile(fake, `#!/bin/sh\necho "nats-server: v2.10.29"\n`);
    await chmod(fake, 0o755);
    const { code, stderr } = await run(root, { EDGESYNC_NATS_SERVER: fake });
    assert.equal(code, 0);
    assert.match(stderr, /using nats-server 2\.10\.29 from \$EDGESYNC_NATS_SERVER/);
    assert.deepEqual(await cacheOf(root), { path: fake, version: "2.10.29", source: "$EDGESYNC_NATS_SERVER" });
  });

  it("installs a release whose archive matches SHA256SUMS", async () => {
    const root = await packageRoot();
    const url = await releaseServer(false);
    const { code, stderr } = await run(root, {
      EDGESYNC_NATS_SOURCES: "release",
      EDGESYNC_NATS_VERSION: VERSION,
      EDGESYNC_NATS_RELEASE_URL: url,
    });
    assert.equal(code, 0, stderr);
    const cache = await cacheOf(root);
    assert.equal(cache.path, join(root, ".edgesync-bin", "nats-server"));
    assert.equal(cache.version, VERSION);
    assert.match(cache.source, /sha256 verified/);
    assert.match(spawnSync(cache.path, ["--version"], { encoding: "utf8" }).stdout, new RegExp(`v${VERSION}`));
  });

  it("refuses an archive whose checksum does not match, prints the fix and still exits 0", async () => {
    const root = await packageRoot();
    const url = await releaseServer(true);
    const { code, stderr } = await run(root, {
      EDGESYNC_NATS_SOURCES: "release",
      EDGESYNC_NATS_VERSION: VERSION,
      EDGESYNC_NATS_RELEASE_URL: url,
    });
    assert.equal(code, 0);
    assert.match(stderr, /checksum mismatch/);
    assert.match(stderr, /Fix: .*EDGESYNC_NATS_SERVER=/);
    await assert.rejects(readFile(join(root, ".edgesync-bin", "nats-server")));
    await assert.rejects(cacheOf(root));
  });

  it("fails fast with the fix when the release cannot be fetched", async () => {
    const root = await packageRoot();
    const started = Date.now();
    const { code, stderr } = await run(root, {
      EDGESYNC_NATS_SOURCES: "release",
      EDGESYNC_NATS_RELEASE_URL: "http://127.0.0.1:9/none",
    });
    assert.equal(code, 0);
    assert.match(stderr, /download failed/);
    assert.match(stderr, /Fix: /);
    assert.ok(Date.now() - started < 15_000);
  });
});
