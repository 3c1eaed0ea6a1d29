import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { configPath, defaultSyncConfig, saveVaultConfig } from "../agent/vault/config.js";
import { resolveNotifySet, writeJoined } from "./connect.js";
import { NotifyInputError } from "./errors.js";

describe("the notify set a command speaks in", () => {
  let dir = "";
  const vaultId = randomUUID();
  const home = () => join(dir, "home");
  const vault = () => join(dir, "vault");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "es-notify-set-"));
    await mkdir(join(vault(), "deep", "er"), { recursive: true });
    await mkdir(join(configPath(vault()), ".."), { recursive: true });
    await saveVaultConfig(vault(), {
      vault: { id: vaultId, name: "v", createdAt: 1 },
      sync: defaultSyncConfig(),
      hub: {},
    });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("is the vault of the folder the command runs in, from any depth", async () => {
    assert.equal(await resolveNotifySet(home(), undefined, join(vault(), "deep", "er")), vaultId);
  });

  it("is --set when given, checked to be one subject token", async () => {
    assert.equal(await resolveNotifySet(home(), "default", vault()), "default");
    await assert.rejects(
      resolveNotifySet(home(), "a.>", vault()),
      (e: Error) => e instanceof NotifyInputError && /is not a notify set/.test(e.message),
    );
  });

  it("falls back to the joined set, then default, outside any vault", async () => {
    assert.equal(await resolveNotifySet(home(), undefined, dir), "default");
    await writeJoined(home(), { hub: "nats://hub:4222", set: vaultId, name: "phone", creator: "U", joinedAt: 1 });
    assert.equal(await resolveNotifySet(home(), undefined, dir), vaultId);
  });

  it("says so when the vault's config is broken instead of asking in another set", async () => {
    const broken = join(dir, "broken");
    await mkdir(join(configPath(broken), ".."), { recursive: true });
    await writeFile(configPath(broken), "not = [toml");
    await assert.rejects(resolveNotifySet(home(), undefined, broken), /not valid TOML/);
  });
});
