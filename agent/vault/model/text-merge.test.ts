import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mergeText } from "./text-merge.js";

const labels = { a: "A", b: "B" };
const base = "# Title\n\nfirst paragraph\n\nsecond paragraph\n\nthird paragraph\n";

describe("mergeText", () => {
  it("keeps both edits when they touch different paragraphs", () => {
    const a = base.replace("first paragraph", "first paragraph, edited on A");
    const b = base.replace("third paragraph", "third paragraph, edited on B");
    const merged = mergeText(base, a, b, labels);
    assert.equal(merged.conflicted, false);
    assert.equal(
      merged.text,
      "# Title\n\nfirst paragraph, edited on A\n\nsecond paragraph\n\nthird paragraph, edited on B\n",
    );
  });
  it("keeps both versions between markers when the same line changed differently", () => {
    const merged = mergeText(base, base.replace("second", "2nd (A)"), base.replace("second", "2nd (B)"), labels);
    assert.equal(merged.conflicted, true);
    assert.match(merged.text, /<<<<<<< A\n2nd \(A\) paragraph\n=======\n2nd \(B\) paragraph\n>>>>>>> B/);
  });
  it("takes the changed side when the other side equals the base", () => {
    assert.deepEqual(mergeText(base, base, "new", labels), { text: "new", conflicted: false });
    assert.deepEqual(mergeText(base, "new", base, labels), { text: "new", conflicted: false });
  });
  it("does not double an identical change made on both sides", () => {
    const same = base + "appended\n";
    assert.deepEqual(mergeText(base, same, same, labels), { text: same, conflicted: false });
  });
});
