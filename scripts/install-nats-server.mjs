#!/usr/bin/env node
// Makes a nats-server binary available to edgesync; run by `npm install` (postinstall).
// Order: $EDGESYNC_NATS_SERVER → nats-server on PATH → Debian's package via apt (as root) →
// the official release with SHA-256 verification (needs the internet). It never fails the
// install: without a binary it prints the fix, and `edgesync doctor` reports it again.
// The resolved path is recorded in node_modules/.cache/edgesync/nats-server.json.
import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, constants, mkdirSync, writeFileSync, existsSync, chmodSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, dirname, delimiter } from "node:path";
import { fileURLToPath } from "node:url";
import { arch, platform, tmpdir } from "node:os";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = join(ROOT, "node_modules", ".cache", "edgesync", "nats-server.json");
const LOCAL_BIN = join(ROOT, ".edgesync-bin", "nats-server");
const RELEASE = "2.10.29";
const DOWNLOAD_TIMEOUT_MS = 15_000;

const say = (line) => process.stderr.write(`edgesync: ${line}\n`);

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function version(path) {
  const r = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000 });
  const match = /v?(\d+\.\d+\.\d+)/.exec(`${r.stdout}${r.stderr}`);
  return r.status === 0 && match ? match[1] : undefined;
}

function onPath() {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin", "/usr/bin"];
  return dirs.map((d) => join(d, "nats-server")).find(executable);
}

function record(path, source) {
  const v = version(path);
  if (!v) return false;
  mkdirSync(dirname(CACHE), { recursive: true });
  writeFileSync(CACHE, JSON.stringify({ path, version: v, source }, null, 2));
  say(`nats-server ${v} from ${source}: ${path}`);
  const [major, minor, patch] = v.split(".").map(Number);
  if (major === 2 && (minor < 9 || (minor === 9 && patch < 23) || (minor === 10 && patch < 4))) {
    say(`note: nats-server ${v} is affected by CVE-2023-47090; edgesync avoids the affected configuration, but upgrading is wise`);
  }
  return true;
}

function tryApt() {
  if (platform() !== "linux" || process.getuid?.() !== 0 || !executable("/usr/bin/apt-get")) return false;
  say("installing Debian's nats-server package with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let r = spawnSync("apt-get", ["install", "-y", "-qq", "nats-server"], { stdio: "ignore", env, timeout: 300_000 });
  if (r.status !== 0) {
    spawnSync("apt-get", ["update", "-qq"], { stdio: "ignore", env, timeout: 300_000 });
    r = spawnSync("apt-get", ["install", "-y", "-qq", "nats-server"], { stdio: "ignore", env, timeout: 300_000 });
  }
  const path = onPath();
  return r.status === 0 && path !== undefined && record(path, "apt (Debian package)");
}

async function fetchWithTimeout(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function tryRelease() {
  const os = { linux: "linux", darwin: "darwin" }[platform()];
  const cpu = { x64: "amd64", arm64: "arm64" }[arch()];
  if (!os || !cpu) return false;
  const name = `nats-server-v${RELEASE}-${os}-${cpu}`;
  const base = `https://github.com/nats-io/nats-server/releases/download/v${RELEASE}`;
  say(`downloading ${name} (official release)`);
  try {
    const sums = new TextDecoder().decode(await fetchWithTimeout(`${base}/SHA256SUMS`));
    const expected = sums.split("\n").find((l) => l.endsWith(`${name}.tar.gz`))?.split(/\s+/)[0];
    if (!expected) throw new Error(`${name}.tar.gz is not listed in SHA256SUMS`);
    const archive = await fetchWithTimeout(`${base}/${name}.tar.gz`);
    const actual = createHash("sha256").update(archive).digest("hex");
    if (actual !== expected) throw new Error(`checksum mismatch for ${name}.tar.gz (expected ${expected}, got ${actual})`);
    const temp = join(tmpdir(), `${name}.tar.gz`);
    writeFileSync(temp, archive);
    mkdirSync(dirname(LOCAL_BIN), { recursive: true });
    execFileSync("tar", ["-xzf", temp, "-C", dirname(LOCAL_BIN), "--strip-components=1", `${name}/nats-server`]);
    chmodSync(LOCAL_BIN, 0o755);
    return record(LOCAL_BIN, `official release v${RELEASE} (sha256 verified)`);
  } catch (error) {
    say(`download failed: ${error instanceof Error ? error.message : String(error)}`);
    return false;
  }
}

async function main() {
  const fromEnv = process.env.EDGESYNC_NATS_SERVER;
  if (fromEnv) {
    if (executable(fromEnv) && record(fromEnv, "$EDGESYNC_NATS_SERVER")) return;
    say(`$EDGESYNC_NATS_SERVER=${fromEnv} is not an executable nats-server; looking elsewhere`);
  }
  const found = onPath();
  if (found && record(found, "PATH")) return;
  if (existsSync(LOCAL_BIN) && record(LOCAL_BIN, "an earlier download")) return;
  if (tryApt()) return;
  if (await tryRelease()) return;
  say("no nats-server found. Fix: `apt-get install nats-server` (Debian/Ubuntu), `brew install nats-server` (macOS),");
  say("or download one from the NATS releases page and set EDGESYNC_NATS_SERVER=/path/to/nats-server. Then run `edgesync doctor`.");
}

main().catch((error) => {
  say(`nats-server setup failed: ${error instanceof Error ? error.message : String(error)}`);
});
