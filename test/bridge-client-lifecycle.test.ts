/**
 * Issue 18 (smaller items) on real processes: a bridge in front of a real nats-server with a vault
 * peer, and `edgesync/client` connecting to it. A client whose key is removed stops for good — and
 * then a write must fail instead of looking done; the refusal of an unknown key says what to do
 * once; and the browser bundle loads in Node without Automerge's deprecation warning.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { startBridgeRig, type BridgeRig } from "./helpers/bridge-rig.js";
import { keyFromSeed, sshFingerprintOf, type SigningKey } from "../bridge/client/handshake.js";
import { BridgeError, connect, type BridgeVault } from "../bridge/client/index.js";
import { nodeSocket } from "../bridge/node/index.js";
import { readEntry } from "../agent/vault/model/vault-doc.js";
import { waitFor } from "./helpers/wait.js";

const BUNDLE = resolve("dist/bridge/client/edgesync-client.js");

describe("edgesync/client: a client that is refused", () => {
  let rig: BridgeRig;
  let member: SigningKey;
  const authorised = new Set<string>();
  const allow = (key: SigningKey) => authorised.add(Buffer.from(key.publicKey).toString("hex"));

  before(async () => {
    member = await keyFromSeed(new Uint8Array(randomBytes(32)));
    allow(member);
    rig = await startBridgeRig({
      name: "lifecycle",
      peer: "agent",
      actor: "cc".repeat(16),
      keepText: "kept\n",
      isAuthorised: (key) => authorised.has(Buffer.from(key).toString("hex")),
    });
  });

  after(async () => {
    await rig?.stop();
  });

  it("rejects writeFile once its key was removed and it stopped for good, and the write reaches nobody", async () => {
    const errors: BridgeError[] = [];
    const vault: BridgeVault = await connect({
      url: rig.bridge.origin,
      vaultId: rig.vaultId,
      key: member,
      socket: nodeSocket,
      onError: (e) => errors.push(e),
    });
    try {
      await vault.writeFile("before.md", "while a member\n");
      await waitFor("the member's write at the vault peer", () => readEntry(rig.engine.doc, "before.md") !== undefined);
      authorised.clear();
      await waitFor("the client to stop for good", () => errors.some((e) => !e.retry));
      await assert.rejects(
        vault.writeFile("after.md", "after removal\n"),
        (e: Error) =>
          e instanceof BridgeError &&
          e.kind === "auth" &&
          /stopped syncing for good/.test(e.message) &&
          /removed from the vault's authorized_keys/.test(e.message),
      );
      await assert.rejects(vault.deleteFile("before.md"), BridgeError);
      assert.equal(vault.readText("after.md"), undefined, "a refused write does not even enter the local copy");
      assert.equal(readEntry(rig.engine.doc, "after.md"), undefined);
    } finally {
      await vault.close();
    }
    await assert.rejects(vault.writeFile("closed.md", "x"), /connection is closed: connect again to write/);
  });

  it("says once, in the refusal of an unknown key, to add it to authorized_keys", async () => {
    const stranger = await keyFromSeed(new Uint8Array(randomBytes(32)));
    const refused = await connect({
      url: rig.bridge.origin,
      vaultId: rig.vaultId,
      key: stranger,
      socket: nodeSocket,
      readyTimeoutMs: 10_000,
    }).then(
      () => assert.fail("a stranger connected"),
      (error: unknown) => error as BridgeError,
    );
    assert.ok(refused instanceof BridgeError);
    assert.equal(
      refused.message,
      `the bridge refused this key (close 4003): key ${sshFingerprintOf(stranger.publicKey)} is not authorised for vault ${rig.vaultId} on this bridge (or the bridge does not serve that vault); add its public key to the vault's authorized_keys`,
    );
    assert.equal(refused.message.split("authorized_keys").length - 1, 1);
  });
});

describe("the browser bundle", () => {
  it("loads in Node without Automerge's deprecated-initSync warning", () => {
    assert.ok(existsSync(BUNDLE), `${BUNDLE} is missing: run npm run build`);
    const script = `const c = await import(${JSON.stringify(BUNDLE)}); const k = await c.keyFromSeed(new Uint8Array(32)); console.log(c.sshPublicLineOf(k.publicKey).slice(0, 11));`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "ssh-ed25519\n");
    assert.doesNotMatch(run.stderr, /deprecated/i);
    assert.equal(run.stderr, "");
  });
});
