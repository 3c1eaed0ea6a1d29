import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { createVaultDoc, applyFileOps, readEntry, listStored, type Doc } from "./vault-doc.js";
import { resolveConflicts, conflictCopyPath } from "./merge.js";
import { utf8Encode } from "./bytes.js";

const text = (doc: Doc, path: string) => new TextDecoder().decode(readEntry(doc, path)?.bytes);
const put = (doc: Doc, path: string, content: string | Uint8Array, by: string, time: number) =>
  applyFileOps(
    doc,
    [{ type: "put", path, bytes: typeof content === "string" ? utf8Encode(content) : content, mtime: time }],
    { time, by, blobs: new Map() },
  );

function twoDevices() {
  const origin = createVaultDoc({ vaultId: "v1", name: "notes", createdAt: 1000 }, "aa".repeat(16));
  const base = "# Plan\n\nalpha paragraph\n\nbeta paragraph\n\ngamma paragraph\n";
  const a = put(origin, "plan.md", base, "A", 2000);
  const b = A.merge(A.init<ReturnType<typeof A.init>>({ actor: "bb".repeat(16) as A.ActorId }) as unknown as Doc, a);
  return { a, b, base };
}

/** Merges `from` into `into`, then lets `me` resolve what concerns it, as the engine does. */
function receive(into: Doc, from: Doc, me: string, time: number): Doc {
  const merged = A.merge(A.clone(into), from);
  return resolveConflicts(merged, ["plan.md", "img.png"], { me, time }).doc;
}

describe("resolveConflicts", () => {
  it("keeps both devices' edits to different paragraphs made offline", () => {
    const devices = twoDevices();
    let { a, b } = devices;
    const { base } = devices;
    a = put(a, "plan.md", base.replace("alpha paragraph", "alpha paragraph (A)"), "A", 3000);
    b = put(b, "plan.md", base.replace("gamma paragraph", "gamma paragraph (B)"), "B", 3001);
    const a2 = receive(a, b, "A", 4000);
    const b2 = receive(b, a, "B", 4001);
    const expected = "# Plan\n\nalpha paragraph (A)\n\nbeta paragraph\n\ngamma paragraph (B)\n";
    assert.equal(text(a2, "plan.md"), expected);
    assert.equal(text(b2, "plan.md"), expected);
    // After both resolutions meet, every device still shows the merged text and nobody resolves again.
    const final = A.merge(A.clone(a2), b2);
    assert.equal(text(final, "plan.md"), expected);
    const again = resolveConflicts(final, ["plan.md"], { me: "A", time: 5000 });
    assert.equal(again.outcomes.length, 0);
  });

  it("uses the common ancestor as base even when one side edited twice", () => {
    const devices = twoDevices();
    let { a, b } = devices;
    const { base } = devices;
    a = put(a, "plan.md", base.replace("alpha", "ALPHA"), "A", 3000);
    a = put(a, "plan.md", base.replace("alpha", "ALPHA").replace("beta", "BETA"), "A", 3500);
    b = put(b, "plan.md", base.replace("gamma", "GAMMA"), "B", 3001);
    const a2 = receive(a, b, "A", 4000);
    assert.equal(text(a2, "plan.md"), base.replace("alpha", "ALPHA").replace("beta", "BETA").replace("gamma", "GAMMA"));
  });

  it("keeps both versions with markers when the same line was changed differently", () => {
    const devices = twoDevices();
    let { a, b } = devices;
    const { base } = devices;
    a = put(a, "plan.md", base.replace("beta paragraph", "beta from A"), "A", 3000);
    b = put(b, "plan.md", base.replace("beta paragraph", "beta from B"), "B", 3001);
    const merged = A.merge(A.clone(a), b);
    const { doc, outcomes } = resolveConflicts(merged, ["plan.md"], { me: "A", time: 4000 });
    assert.deepEqual(
      outcomes.map((o) => o.result),
      ["markers"],
    );
    assert.match(text(doc, "plan.md"), /<<<<<<< .*\nbeta from [AB]\n=======\nbeta from [AB]\n>>>>>>> /);
  });

  it("leaves a conflict it has no part in to the devices involved", () => {
    const devices = twoDevices();
    let { a, b } = devices;
    const { base } = devices;
    a = put(a, "plan.md", base + "A\n", "A", 3000);
    b = put(b, "plan.md", base + "B\n", "B", 3001);
    const hub = A.merge(A.clone(a), b);
    assert.equal(resolveConflicts(hub, ["plan.md"], { me: "HUB", time: 4000 }).outcomes.length, 0);
  });

  it("keeps the losing side of a binary conflict as a conflict copy", () => {
    let { a, b } = twoDevices();
    a = put(a, "img.png", new Uint8Array([0, 1, 2]), "A", 3000);
    b = put(b, "img.png", new Uint8Array([0, 9, 9]), "B", 3001);
    const merged = A.merge(A.clone(a), b);
    const winner = readEntry(merged, "img.png");
    const loser = winner?.by === "A" ? "B" : "A";
    const { doc } = resolveConflicts(merged, ["img.png"], { me: loser, time: 4000 });
    const copies = [...listStored(doc).keys()].filter((p) => p.includes(".conflict-"));
    assert.equal(copies.length, 1);
    assert.equal(copies[0], conflictCopyPath("img.png", loser, readEntry(loser === "A" ? a : b, "img.png")!.sha256));
  });

  it("converges when three devices resolve overlapping parts of one overlap in different orders (dst seed 3)", () => {
    const devices = twoDevices();
    const { base } = devices;
    let { a, b } = devices;
    let c = A.merge(A.init({ actor: "cc".repeat(16) as A.ActorId }) as unknown as Doc, a);
    a = put(a, "plan.md", base.replace("beta paragraph", "beta from A"), "A", 3000);
    b = put(b, "plan.md", base.replace("beta paragraph", "beta from B"), "B", 3001);
    c = put(c, "plan.md", base.replace("beta paragraph", "beta from C"), "C", 3002);
    // A and C see each other's edit first and resolve it alike; B only sees A's.
    const a1 = receive(a, c, "A", 4000);
    const c1 = receive(c, a, "C", 4001);
    const b1 = receive(b, a, "B", 4002);
    assert.equal(text(a1, "plan.md"), text(c1, "plan.md"));
    // Then B's partial resolution reaches A and C: each merges its own copy of the first resolution
    // with it. Both must produce the same bytes, or the two results conflict again, round after round.
    const a2 = receive(a1, b1, "A", 5000);
    const c2 = receive(c1, b1, "C", 5001);
    assert.equal(text(a2, "plan.md"), text(c2, "plan.md"));
    for (const side of ["A", "B", "C"]) assert.match(text(a2, "plan.md"), new RegExp(`beta from ${side}`));
    const final = A.merge(A.clone(a2), c2);
    assert.equal(resolveConflicts(final, ["plan.md"], { me: "A", time: 6000 }).outcomes.length, 0);
    assert.equal(resolveConflicts(final, ["plan.md"], { me: "C", time: 6000 }).outcomes.length, 0);
  });
});
