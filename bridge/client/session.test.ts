import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BridgeError, closeError, localStoragePins, memoryPins } from "./session.js";
import { CloseCode } from "./frames.js";

const storage = () => {
  const map = new Map<string, string>();
  return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v), map };
};

describe("bridge client session helpers", () => {
  it("keeps pins in memory or in localStorage-like storage, per hub name", async () => {
    for (const pins of [memoryPins(), localStoragePins(storage())]) {
      assert.equal(await pins.get("hub:1"), undefined);
      await pins.set("hub:1", { hubKey: "AAAA", cert: "ab".repeat(32) });
      assert.deepEqual(await pins.get("hub:1"), { hubKey: "AAAA", cert: "ab".repeat(32) });
      assert.equal(await pins.get("hub:2"), undefined);
    }
  });

  it("treats an unreadable stored pin as a mismatch, never as a first use", () => {
    const s = storage();
    s.map.set("edgesync.pin.hub:1", "{not json");
    assert.deepEqual(localStoragePins(s).get("hub:1"), { hubKey: "unreadable pin", cert: null });
  });

  it("maps close codes to errors that say whether reconnecting can help", () => {
    const cases: [number, string, boolean][] = [
      [CloseCode.unauthorised, "auth", false],
      [CloseCode.badSignature, "auth", false],
      [CloseCode.unknownVault, "auth", false],
      [CloseCode.rateLimited, "protocol", true],
      [CloseCode.malformed, "protocol", true],
      [CloseCode.tooBig, "protocol", true],
      [1006, "network", true],
      [CloseCode.upstream, "network", true],
      [CloseCode.normal, "network", true],
    ];
    for (const [code, kind, retry] of cases) {
      const error = closeError(code, "why");
      assert.ok(error instanceof BridgeError);
      assert.deepEqual([error.kind, error.retry, error.code], [kind, retry, code], String(code));
    }
    assert.match(closeError(CloseCode.unauthorised, "").message, /authorized_keys/);
    assert.equal(
      closeError(CloseCode.unauthorised, "add it to the vault's authorized_keys").message.split("authorized_keys")
        .length,
      2,
      "the advice is given once",
    );
    assert.equal(new BridgeError("mitm", "x").retry, false);
    assert.equal(new BridgeError("pin", "x").retry, false);
  });
});
