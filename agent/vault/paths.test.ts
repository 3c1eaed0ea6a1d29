import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { normaliseVaultPath, UnsafePathError, isCanonicalVaultPath } from "./paths.js";

describe("normaliseVaultPath", () => {
  it("accepts nested markdown paths unchanged", () => {
    assert.equal(normaliseVaultPath("notes/2026/day one.md"), "notes/2026/day one.md");
  });
  it("turns NFD into NFC so two spellings are one file", () => {
    assert.equal(normaliseVaultPath("cafe\u0301.md"), "caf\u00e9.md");
    assert.equal(isCanonicalVaultPath("cafe\u0301.md"), false);
  });
  for (const bad of [
    "../../x",
    "/etc/x",
    "a/../../b",
    "a\\b.md",
    "a\u0000b",
    "",
    "a//b",
    "./a",
    ".edgesync/doc.bin",
    "CON.md",
    "dir/aux",
    "x".repeat(256) + ".md",
    "a/b ",
    "t\u0007.md",
  ]) {
    it(`rejects the unsafe path ${JSON.stringify(bad).slice(0, 40)}`, () => {
      assert.throws(() => normaliseVaultPath(bad), UnsafePathError);
    });
  }
});
