import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  notifySubject,
  parseLiveSubject,
  liveWildcard,
  rpcSubject,
  parseRpcSubject,
  syncPrefix,
  pairSubject,
  isSetId,
} from "./notify-subjects.js";

const VAULT = "0b7e8d1c-3c1f-4a53-9a1e-6f2d3b4c5d6e";

describe("notify subjects", () => {
  it("hashes project and thread names into fixed tokens after the set, never the names themselves", () => {
    const s = notifySubject(VAULT, "My Project.v2", "thread > *");
    assert.match(s, new RegExp(`^es\\.v1\\.notify\\.${VAULT}\\.live\\.[0-9a-f]{24}\\.[0-9a-f]{24}$`));
    assert.equal(s, notifySubject(VAULT, "My Project.v2", "thread > *"));
    assert.ok(parseLiveSubject(VAULT, s));
    assert.equal(parseLiveSubject("default", s), undefined, "another set's subject is not ours");
    assert.equal(liveWildcard(VAULT), `es.v1.notify.${VAULT}.live.*.*`);
  });

  it("puts the set first in every subject, so one > covers a set and nothing else", () => {
    for (const subject of [syncPrefix(VAULT), rpcSubject(VAULT, "log"), pairSubject(VAULT)])
      assert.ok(subject.startsWith(`es.v1.notify.${VAULT}.`), subject);
    assert.equal(parseRpcSubject(VAULT, rpcSubject(VAULT, "wait-answer")), "wait-answer");
  });

  it("takes vault ids and short names as sets, never dots or wildcards", () => {
    assert.ok(isSetId(VAULT) && isSetId("default"));
    for (const bad of ["a.b", "*", ">", "", "A"]) assert.throws(() => syncPrefix(bad), RangeError, bad);
  });
});
