import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateHubState } from "./hub-state.js";
import { loadOrCreateClusterKey } from "./hub-routes.js";
import { exportHubBundle, importHubBundle, parseHubBundle } from "./hub-bundle.js";

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), "es-bundle-"));
  dirs.push(dir);
  return dir;
};
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe("hub bundle", () => {
  it("carries the operator, system and cluster keys, the TLS pair and the admins to a new hub", async () => {
    const first = join(await tempDir(), "server");
    await loadOrCreateHubState(first);
    await writeFile(
      join(first, "authorized_keys"),
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOTSyvYK0L6hXSYVTqYXBMCZeJYtQ5kE+0AHRJHBzoe5 admin\n",
    );
    const text = JSON.stringify(await exportHubBundle(first));
    const second = join(await tempDir(), "server");
    assert.equal(await importHubBundle(second, parseHubBundle(text, "bundle.json")), true);
    for (const file of ["operator.nk", "system.nk", "cluster.nk", "tls.crt", "tls.key", "authorized_keys"]) {
      assert.equal(await readFile(join(second, file), "utf8"), await readFile(join(first, file), "utf8"), file);
    }
    const [a, b] = await Promise.all([loadOrCreateClusterKey(first), loadOrCreateClusterKey(second)]);
    assert.equal(b.created, false);
    assert.equal(a.key.fingerprint, b.key.fingerprint);
    const state = await loadOrCreateHubState(second);
    assert.equal(state.tlsCreated, false, "the new hub presents the certificate leaves pinned");
  });

  it("does nothing on a second import of the same bundle, and refuses a folder holding another hub", async () => {
    const first = join(await tempDir(), "server");
    await loadOrCreateHubState(first);
    const bundle = parseHubBundle(JSON.stringify(await exportHubBundle(first)), "bundle.json");
    assert.equal(await importHubBundle(first, bundle), false);
    const other = join(await tempDir(), "server");
    await loadOrCreateHubState(other);
    await assert.rejects(importHubBundle(other, bundle), /already holds a hub with other keys/);
  });

  it("refuses text that is not a bundle, naming what is wrong", () => {
    assert.throws(() => parseHubBundle("{", "x.json"), /x\.json is not an edgesync hub bundle \(not JSON\)/);
    assert.throws(
      () =>
        parseHubBundle(JSON.stringify({ format: "edgesync-hub-bundle", version: 1, operatorSeed: "nope" }), "x.json"),
      /operatorSeed/,
    );
  });
});
