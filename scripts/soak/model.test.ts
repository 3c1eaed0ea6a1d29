import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SoakModel, differences, type Device } from "./model.js";
import { seeded } from "../../test/helpers/trial.js";

describe("soak model", () => {
  it("never lets two devices touch the same path within a round", () => {
    const model = new SoakModel(seeded(1));
    for (let round = 0; round < 20; round++) {
      model.nextRound();
      const touched = new Map<string, Device>();
      for (let i = 0; i < 200; i++) {
        const op = model.plan();
        for (const path of op.kind === "rename" ? [op.path, op.to] : [op.path]) {
          assert.equal(touched.get(path) ?? op.device, op.device, `${path} touched by both devices in round ${round}`);
          touched.set(path, op.device);
        }
      }
    }
  });

  it("keeps exactly the last write of every path it did not delete or rename away", () => {
    const model = new SoakModel(seeded(2));
    const replay = new Map<string, string>();
    for (let i = 0; i < 500; i++) {
      if (i % 50 === 0) model.nextRound();
      const op = model.plan();
      if (op.kind === "create" || op.kind === "edit") replay.set(op.path, op.text);
      else if (op.kind === "delete") replay.delete(op.path);
      else {
        replay.set(op.to, replay.get(op.path)!);
        replay.delete(op.path);
      }
    }
    assert.deepEqual(model.files, replay);
    assert.ok(model.files.size >= 25 && model.files.size <= 81, `file count stays in bounds: ${model.files.size}`);
  });

  it("names missing, wrong and unexpected files", () => {
    const expected = new Map([
      ["a.md", "x"],
      ["b.md", "y"],
    ]);
    const actual = new Map([
      ["a.md", Buffer.from("x")],
      ["b.md", Buffer.from("z")],
      ["c.md", Buffer.from("")],
    ]);
    assert.deepEqual(differences(expected, actual), ["wrong bytes in b.md (1 bytes, want 1)", "unexpected c.md"]);
    assert.deepEqual(differences(expected, new Map()), ["missing a.md", "missing b.md"]);
  });
});
