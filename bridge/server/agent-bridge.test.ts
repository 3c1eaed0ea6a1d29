import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { engineVault } from "./agent-bridge.js";
import { SyncEngine } from "../../agent/sync/engine.js";
import { MemoryBus } from "../../agent/sync/memory-bus.js";
import { asPeerId } from "../../agent/sync/ports.js";
import { MemoryStore } from "../../agent/vault/store/memory-store.js";
import { createVaultDoc } from "../../agent/vault/model/vault-doc.js";
import { utf8Encode } from "../../agent/vault/model/bytes.js";
import { Identity } from "../../agent/auth/identity.js";

const clock = { now: () => 1_700_000_000_000 };
const vault = { id: "0b0e5e0c-1111-4222-8333-444455556666", name: "team" };

async function engineWithKeys(keys: string): Promise<SyncEngine> {
  const engine = new SyncEngine({
    self: asPeerId("hub"),
    vault,
    doc: createVaultDoc({ vaultId: vault.id, name: vault.name, createdAt: 1 }, "01".repeat(16)),
    store: new MemoryStore(),
    transport: new MemoryBus().transport(asPeerId("hub")),
    clock,
  });
  await engine.change([{ type: "put", path: "authorized_keys", bytes: utf8Encode(keys), mtime: 1 }]);
  return engine;
}

describe("the bridge's view of a hub replica that may be unloaded", () => {
  it("checks keys against the engine running at each check, and refuses when none can be loaded", async () => {
    const member = Identity.generate("test");
    const hubKey = Identity.generate("test");
    const first = await engineWithKeys(`${member.sshPublicLine()}\n`);
    const reloaded = await engineWithKeys(""); // the member was removed, then the replica reloaded
    let current: SyncEngine | undefined = first;
    const bridgeVault = engineVault(first, hubKey, true, async () => current)!;
    assert.equal(await bridgeVault.isAuthorised!(member.publicKey), true);
    current = reloaded;
    assert.equal(await bridgeVault.isAuthorised!(member.publicKey), false);
    current = undefined;
    assert.equal(await bridgeVault.isAuthorised!(member.publicKey), false, "no engine: refused, not waved through");
  });
});
