import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNatsServer, isCve2023_47090Affected, NatsServerMissingError, parseNatsVersion } from "./binary.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A stand-in that answers `--version` the way nats-server does. */
async function fakeServer(version: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "es-bin-"));
  dirs.push(dir);
  const path = join(dir, "nats-server");
  await writeFile(path, `#!/bin/sh\necho "nats-server: v${version}"\n`);
  await chmod(path, 0o755);
  return path;
}

describe("nats-server versions", () => {
  it("reads the version from nats-server's --version line", () => {
    assert.equal(parseNatsVersion("nats-server: v2.9.10\n"), "2.9.10");
    assert.equal(parseNatsVersion("nats-server: v2.10.29-beta.1"), "2.10.29");
    assert.equal(parseNatsVersion("no version here"), undefined);
  });

  it("flags CVE-2023-47090 before 2.9.23 and in 2.10.0-2.10.1, not after the fixes", () => {
    for (const v of ["2.2.0", "2.9.10", "2.9.22", "2.10.0", "2.10.1", "1.4.1"])
      assert.equal(isCve2023_47090Affected(v), true, v);
    for (const v of ["2.9.23", "2.9.25", "2.10.2", "2.10.29", "2.11.0", "2.12.7", "3.0.0"])
      assert.equal(isCve2023_47090Affected(v), false, v);
    assert.throws(() => isCve2023_47090Affected("two"), RangeError);
  });
});

describe("findNatsServer", () => {
  it("uses $EDGESYNC_NATS_SERVER when it points at a nats-server", async () => {
    const path = await fakeServer("2.10.29");
    assert.deepEqual(
      await findNatsServer({ env: { EDGESYNC_NATS_SERVER: path, PATH: "" }, cacheFiles: [], systemDirs: [] }),
      { path, version: "2.10.29", source: "$EDGESYNC_NATS_SERVER" },
    );
  });

  it("refuses a $EDGESYNC_NATS_SERVER that is not an executable nats-server, naming it", async () => {
    await assert.rejects(
      findNatsServer({ env: { EDGESYNC_NATS_SERVER: "/nonexistent/nats-server", PATH: "/usr/sbin" } }),
      (e: Error) =>
        e instanceof NatsServerMissingError && e.message.includes("EDGESYNC_NATS_SERVER=/nonexistent/nats-server"),
    );
  });

  it("prefers the path recorded by npm install over PATH", async () => {
    const recordedPath = await fakeServer("2.10.29");
    const onPath = await fakeServer("2.9.10");
    const cache = join(dirs[dirs.length - 1], "nats-server.json");
    await writeFile(cache, JSON.stringify({ path: recordedPath, version: "2.10.29", source: "PATH" }));
    const found = await findNatsServer({ env: { PATH: join(onPath, "..") }, cacheFiles: [cache], systemDirs: [] });
    assert.deepEqual(found, { path: recordedPath, version: "2.10.29", source: "npm install" });
  });

  it("falls back to PATH when the record is damaged or stale", async () => {
    const onPath = await fakeServer("2.9.10");
    const cache = join(dirs[dirs.length - 1], "nats-server.json");
    await writeFile(cache, "{ not json");
    const found = await findNatsServer({
      env: { PATH: join(onPath, "..") },
      cacheFiles: [cache, "/nonexistent.json"],
      systemDirs: [],
    });
    assert.equal(found.path, onPath);
    assert.equal(found.source, "PATH");
  });

  it("says how to install one when there is none", async () => {
    await assert.rejects(
      findNatsServer({ env: { PATH: "" }, cacheFiles: [], systemDirs: [] }),
      (e: Error) =>
        e instanceof NatsServerMissingError &&
        /apt-get install nats-server/.test(e.message) &&
        /EDGESYNC_NATS_SERVER/.test(e.message),
    );
  });

  it("finds the real nats-server this machine has", async () => {
    const found = await findNatsServer();
    assert.match(found.version, /^\d+\.\d+\.\d+$/);
  });
});
