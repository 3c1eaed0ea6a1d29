#!/usr/bin/env node
// Makes a nats-server binary available to edgesync; run by `npm install` (postinstall).
//
// Order: $EDGESYNC_NATS_SERVER → nats-server on PATH (and /usr/sbin, /usr/local/bin) → an earlier
// download → Debian's package via apt-get (as root) → the official GitHub release, verified
// against the release's SHA256SUMS. It never fails the install: without a binary it prints the
// fix and exits 0, and `edgesync doctor` reports it again. The resolved absolute path is recorded
// in node_modules/.cache/edgesync/nats-server.json, where agent/nats/binary.ts looks first.
//
// Environment (all optional):
//   EDGESYNC_NATS_SERVER       use this binary
//   EDGESYNC_NATS_SOURCES      which sources to try, in order (default "path,apt,release");
//                              e.g. "release" fetches a current release even when Debian's
//                              older package is on PATH
//   EDGESYNC_NATS_VERSION      release to download (default below)
//   EDGESYNC_NATS_RELEASE_URL  base URL holding SHA256SUMS and the archives (a mirror)
// Plain Node ESM with no dependencies: it runs before anything else is built.
import { spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  mkdirSync,
  writeFileSync,
  existsSync,
  chmodSync,
  renameSync,
  rmSync,
  mkdtempSync,
  copyFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { join, dirname, delimiter } from "node:path";
import { fileURLToPath } from "node:url";
import { arch, platform } from "node:os";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = join(ROOT, "node_modules", ".cache", "edgesync", "nats-server.json");
const LOCAL_BIN = join(ROOT, ".edgesync-bin", "nats-server");
// 2.10.x: the line closest to 2.9.10 (the behaviour DESIGN.md §3 describes) that has the CVE-2023-47090 fix.
const RELEASE = process.env.EDGESYNC_NATS_VERSION || "2.10.29";
const RELEASE_URL = (
  process.env.EDGESYNC_NATS_RELEASE_URL || `https://github.com/nats-io/nats-server/releases/download/v${RELEASE}`
).replace(/\/+$/, "");
const SOURCES = (process.env.EDGESYNC_NATS_SOURCES || "path,apt,release")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
// Offline machines must not hang `npm install`: the small checksum file decides within this.
const CHECKSUMS_TIMEOUT_MS = 15_000;
const ARCHIVE_TIMEOUT_MS = 180_000;
const ARCHIVE_BYTES_MAX = 64 * 1024 * 1024;
const CHECKSUMS_BYTES_MAX = 256 * 1024;
const APT_TIMEOUT_MS = 300_000;
const FIX =
  "Fix: `apt-get install nats-server` (Debian/Ubuntu) or `brew install nats-server` (macOS), or download a release from " +
  "https://github.com/nats-io/nats-server/releases and set EDGESYNC_NATS_SERVER=/path/to/nats-server; then run `edgesync doctor`.";

const say = (line) => process.stderr.write(`edgesync: ${line}\n`);
const message = (error) => (error instanceof Error ? error.message : String(error));

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `nats-server --version` prints `nats-server: v2.9.10`. */
function version(path) {
  const r = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000 });
  const match = /v?(\d+\.\d+\.\d+)/.exec(`${r.stdout ?? ""}${r.stderr ?? ""}`);
  return r.status === 0 && match ? match[1] : undefined;
}

function onPath() {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin", "/usr/bin"];
  return dirs
    .filter(Boolean)
    .map((d) => join(d, "nats-server"))
    .find(executable);
}

/** Fixed in 2.9.23 and 2.10.2 (GHSA-fr2g-9hjm-wr23); keep in step with agent/nats/binary.ts. */
function cveAffected(v) {
  const [major, minor, patch] = v.split(".").map(Number);
  if (major !== 2) return major < 2;
  return minor < 9 || (minor === 9 && patch < 23) || (minor === 10 && patch < 2);
}

function record(path, source) {
  const v = version(path);
  if (!v) {
    say(`${path} does not answer \`--version\` like nats-server; skipping it`);
    return false;
  }
  mkdirSync(dirname(CACHE), { recursive: true });
  const temp = `${CACHE}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify({ path, version: v, source }, null, 2)}\n`);
  renameSync(temp, CACHE);
  say(`using nats-server ${v} from ${source}: ${path}`);
  if (cveAffected(v)) {
    say(
      `note: nats-server ${v} has CVE-2023-47090 (fixed in 2.9.23/2.10.2). edgesync never writes the affected configuration,`,
    );
    say(
      `      but a current release is better: EDGESYNC_NATS_SOURCES=release node scripts/install-nats-server.mjs (needs the internet)`,
    );
  }
  return true;
}

function tryPath() {
  const found = onPath();
  return found !== undefined && record(found, "PATH");
}

function tryApt() {
  if (platform() !== "linux") return false;
  if (process.getuid?.() !== 0) {
    say("apt-get skipped: not running as root");
    return false;
  }
  if (!["/usr/bin/apt-get", "/bin/apt-get"].some(executable)) return false;
  say("installing Debian's nats-server package with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () =>
    spawnSync("apt-get", ["install", "-y", "-qq", "nats-server"], {
      stdio: ["ignore", "ignore", "pipe"],
      env,
      timeout: APT_TIMEOUT_MS,
    });
  let r = install();
  if (r.status !== 0) {
    // A fresh container has empty package lists: refresh them once and retry.
    spawnSync("apt-get", ["update", "-qq"], { stdio: "ignore", env, timeout: APT_TIMEOUT_MS });
    r = install();
  }
  if (r.status !== 0) {
    say(
      `apt-get install nats-server failed: ${
        String(r.stderr ?? r.error ?? "")
          .trim()
          .split("\n")
          .pop() || `exit ${r.status}`
      }`,
    );
    return false;
  }
  const path = onPath();
  return path !== undefined && record(path, "apt-get (Debian package)");
}

/** Reads a response body, refusing more than `limit` bytes. */
async function download(url, timeoutMs, limit) {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  if (!response.ok || !response.body) throw new Error(`${url}: HTTP ${response.status}`);
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > limit) throw new Error(`${url}: ${declared} bytes is more than the ${limit} allowed`);
  const parts = [];
  let total = 0;
  for await (const part of response.body) {
    total += part.length;
    if (total > limit) throw new Error(`${url}: more than the ${limit} bytes allowed`);
    parts.push(part);
  }
  return Buffer.concat(parts, total);
}

function releaseName() {
  const os = { linux: "linux", darwin: "darwin", freebsd: "freebsd" }[platform()];
  const cpu = { x64: "amd64", arm64: "arm64", ia32: "386" }[arch()];
  return os && cpu ? `nats-server-v${RELEASE}-${os}-${cpu}` : undefined;
}

async function tryRelease() {
  const name = releaseName();
  if (!name) {
    say(`no official release archive is known for ${platform()}/${arch()}`);
    return false;
  }
  const archiveName = `${name}.tar.gz`;
  say(`downloading ${archiveName} from ${RELEASE_URL} (official release, SHA-256 verified)`);
  let work;
  try {
    const sums = (await download(`${RELEASE_URL}/SHA256SUMS`, CHECKSUMS_TIMEOUT_MS, CHECKSUMS_BYTES_MAX)).toString(
      "utf8",
    );
    const line = sums
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f.length === 2 && f[1].replace(/^\*/, "") === archiveName);
    const expected = line?.[0]?.toLowerCase();
    if (!expected || !/^[0-9a-f]{64}$/.test(expected)) throw new Error(`${archiveName} is not listed in SHA256SUMS`);
    const archive = await download(`${RELEASE_URL}/${archiveName}`, ARCHIVE_TIMEOUT_MS, ARCHIVE_BYTES_MAX);
    const actual = createHash("sha256").update(archive).digest("hex");
    if (actual !== expected)
      throw new Error(
        `checksum mismatch for ${archiveName} (SHA256SUMS says ${expected}, got ${actual}); not installed`,
      );
    mkdirSync(dirname(LOCAL_BIN), { recursive: true });
    // Unpack next to the destination (same file system), then rename into place.
    work = mkdtempSync(join(dirname(LOCAL_BIN), ".unpack-"));
    writeFileSync(join(work, archiveName), archive);
    const tar = spawnSync("tar", ["-xzf", join(work, archiveName), "-C", work, `${name}/nats-server`], {
      encoding: "utf8",
    });
    if (tar.status !== 0)
      throw new Error(`tar could not unpack ${archiveName}: ${(tar.stderr || String(tar.error ?? "")).trim()}`);
    const staged = join(work, "nats-server");
    copyFileSync(join(work, name, "nats-server"), staged);
    chmodSync(staged, 0o755);
    renameSync(staged, LOCAL_BIN);
    return record(LOCAL_BIN, `official release v${RELEASE} (sha256 verified)`);
  } catch (error) {
    const cause = error?.cause ? ` (${message(error.cause)})` : "";
    say(`download failed: ${message(error)}${cause}`);
    return false;
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
}

async function main() {
  const fromEnv = process.env.EDGESYNC_NATS_SERVER;
  if (fromEnv) {
    if (executable(fromEnv) && record(fromEnv, "$EDGESYNC_NATS_SERVER")) return;
    say(`$EDGESYNC_NATS_SERVER=${fromEnv} is not an executable nats-server; looking elsewhere`);
  }
  const tries = { path: tryPath, apt: tryApt, release: tryRelease };
  for (const source of SOURCES) {
    const attempt = tries[source];
    if (!attempt) {
      say(`unknown source "${source}" in EDGESYNC_NATS_SOURCES (known: ${Object.keys(tries).join(", ")})`);
      continue;
    }
    if (await attempt()) return;
    // An earlier verified download beats apt and the network; checked right after PATH.
    if (source === "path" && existsSync(LOCAL_BIN) && record(LOCAL_BIN, "an earlier verified download")) return;
  }
  say(
    "no nats-server is available, so edgesync cannot start its own server (attaching with --nats-upstream still works).",
  );
  say(FIX);
}

main()
  .catch((error) => {
    say(`nats-server setup failed: ${message(error)}`);
    say(FIX);
  })
  .finally(() => {
    process.exitCode = 0; // never fail `npm install`
  });
