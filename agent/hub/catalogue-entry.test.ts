import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  catalogueDigest,
  entryVersion,
  isNewerVersion,
  nextUpdatedAtMs,
  parseCatalogueEntry,
  parseVersionText,
  versionText,
} from "./catalogue-entry.js";
import type { HostedVault } from "./hub-state.js";

const entry = (over: Partial<HostedVault> = {}): HostedVault => ({
  name: "team",
  authorizedKeys: "ssh-ed25519 AAAA a\n",
  registeredAtMs: 1,
  updatedAtMs: 100,
  ...over,
});
const head = "ab".repeat(32);

describe("catalogue entries shared by the hubs of a cluster", () => {
  it("orders versions by time, then by content hash, so every hub picks the same winner", () => {
    const older = entryVersion(entry({ updatedAtMs: 100 }));
    const newer = entryVersion(entry({ updatedAtMs: 101, authorizedKeys: "" }));
    assert.ok(isNewerVersion(newer, older));
    assert.ok(!isNewerVersion(older, newer));
    const x = entryVersion(entry({ authorizedKeys: "x" }));
    const y = entryVersion(entry({ authorizedKeys: "y" }));
    assert.notEqual(isNewerVersion(x, y), isNewerVersion(y, x), "one of two same-time entries wins");
    assert.ok(!isNewerVersion(x, x), "an entry is not newer than itself");
    assert.ok(isNewerVersion(x, undefined), "anything is newer than nothing");
  });

  it("dates keys applied now after the entry they replace, whatever this hub's clock says", () => {
    assert.equal(nextUpdatedAtMs(50, entry({ updatedAtMs: 100 })), 101);
    assert.equal(nextUpdatedAtMs(500, entry({ updatedAtMs: 100 })), 500);
    assert.equal(nextUpdatedAtMs(500, undefined), 500);
  });

  it("reads a version back from its text and refuses anything else", () => {
    const v = entryVersion(entry());
    assert.deepEqual(parseVersionText(versionText(v)), v);
    for (const bad of [undefined, 7, "", "1:xyz", "-1:0123456789abcdef", `1:${"0".repeat(17)}`])
      assert.equal(parseVersionText(bad), undefined, String(bad));
  });

  it("accepts a well-formed entry from another hub and refuses malformed ones", () => {
    assert.deepEqual(parseCatalogueEntry(entry({ heads: [head] })), entry({ heads: [head] }));
    const bad: unknown[] = [
      null,
      "text",
      entry({ name: "" }),
      entry({ name: "n".repeat(10_000) }),
      { ...entry(), authorizedKeys: 5 },
      entry({ updatedAtMs: -1 }),
      entry({ updatedAtMs: Number.MAX_VALUE }),
      entry({ heads: ["not-a-hash"] }),
      entry({ heads: Array.from({ length: 65 }, () => head) }),
      { ...entry(), authorizedKeys: "k".repeat(1024 * 1024 + 1) },
    ];
    for (const value of bad) assert.equal(parseCatalogueEntry(value), undefined, JSON.stringify(value)?.slice(0, 80));
  });

  it("gives two hubs with the same catalogue the same digest, in any insertion order, and differs on any change", () => {
    const one = new Map([
      ["v1", entry()],
      ["v2", entry({ name: "other" })],
    ]);
    const two = new Map([
      ["v2", entry({ name: "other" })],
      ["v1", entry()],
    ]);
    assert.equal(catalogueDigest(one), catalogueDigest(two));
    two.set("v1", entry({ updatedAtMs: 101 }));
    assert.notEqual(catalogueDigest(one), catalogueDigest(two));
  });
});
