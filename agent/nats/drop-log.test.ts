import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DropLog } from "./drop-log.js";

function recorder() {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const log = {
    debug() {},
    info() {},
    warn: (fields: Record<string, unknown>, message: string) => void lines.push({ fields, message }),
  };
  return { log, lines };
}

describe("DropLog", () => {
  it("logs the first drop from a peer at once, naming subject, peer, reason and count", () => {
    const { log, lines } = recorder();
    new DropLog(log).note("es.v1.vault.x.announce.p1", "p1", "malformed", 1, 0);
    assert.equal(lines.length, 1);
    assert.deepEqual(lines[0].fields, {
      peer: "p1",
      subject: "es.v1.vault.x.announce.p1",
      reasons: { malformed: 1 },
      dropped: 1,
      total: 1,
    });
  });

  it("writes at most one line per peer per interval and carries the suppressed count into the next", () => {
    const { log, lines } = recorder();
    const drops = new DropLog(log, { intervalMs: 1000 });
    for (let t = 0; t < 1000; t++) drops.note("s", "p1", t % 2 ? "malformed" : "duplicate", 1, t);
    assert.equal(lines.length, 1);
    drops.note("s", "p1", "oversized", 1, 1000);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[1].fields.reasons, { malformed: 500, duplicate: 499, oversized: 1 });
    assert.equal(lines[1].fields.dropped, 1000);
    assert.equal(lines[1].fields.total, 1001);
  });

  it("rate-limits each peer on its own", () => {
    const { log, lines } = recorder();
    const drops = new DropLog(log, { intervalMs: 1000 });
    drops.note("s", "p1", "malformed", 1, 0);
    drops.note("s", "p2", "malformed", 1, 1);
    drops.note("s", "p1", "malformed", 1, 2);
    assert.deepEqual(
      lines.map((l) => l.fields.peer),
      ["p1", "p2"],
    );
  });

  it("remembers a bounded number of peers, forgetting the stalest", () => {
    const { log, lines } = recorder();
    const drops = new DropLog(log, { intervalMs: 1000, peersMax: 2 });
    drops.note("s", "p1", "malformed", 1, 0);
    drops.note("s", "p2", "malformed", 1, 0);
    drops.note("s", "p3", "malformed", 1, 0); // forgets p1
    drops.note("s", "p1", "malformed", 1, 1); // so p1 logs again at once
    assert.deepEqual(
      lines.map((l) => l.fields.peer),
      ["p1", "p2", "p3", "p1"],
    );
  });
});
