import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  isPeerToken,
  parseAnnounceSubject,
  parseBusSubject,
  parsePeerSubject,
  USER_KEY_TEMPLATE,
  vaultAnnounceSubject,
  vaultAnnounceWildcard,
  vaultInboxWildcard,
  vaultPeerSubject,
  vaultSubjectsFor,
} from "./subjects.js";

const VAULT = "0b7e8d1c-3c1f-4a53-9a1e-6f2d3b4c5d6e";
const NKEY = "UABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVW";

describe("vault subjects", () => {
  it("builds the peer, inbox and announce subjects with the sender as the last token", () => {
    assert.equal(NKEY.length, 56);
    assert.equal(vaultPeerSubject(VAULT, "peer-b", NKEY), `es.v1.vault.${VAULT}.p.peer-b.${NKEY}`);
    assert.equal(vaultInboxWildcard(VAULT, NKEY), `es.v1.vault.${VAULT}.p.${NKEY}.*`);
    assert.equal(vaultAnnounceSubject(VAULT, "peer-a"), `es.v1.vault.${VAULT}.announce.peer-a`);
    assert.equal(vaultAnnounceWildcard(VAULT), `es.v1.vault.${VAULT}.announce.*`);
  });

  it("refuses ids that could add tokens or wildcards", () => {
    for (const bad of ["a.b", "*", ">", "a b", "", "Peer", "x".repeat(65), "ü", `${NKEY}1`]) {
      assert.equal(isPeerToken(bad), false, bad);
      assert.throws(() => vaultPeerSubject(VAULT, bad, "peer-a"), RangeError, bad);
      assert.throws(() => vaultPeerSubject(VAULT, "peer-a", bad), RangeError, bad);
    }
    for (const bad of ["not-a-uuid", `${VAULT}.x`, VAULT.toUpperCase(), "*"])
      assert.throws(() => vaultInboxWildcard(bad, "peer-a"), RangeError, bad);
  });

  it("parses what it builds and nothing else", () => {
    assert.deepEqual(parsePeerSubject(vaultPeerSubject(VAULT, "peer-b", "peer-a")), {
      vaultId: VAULT,
      to: "peer-b",
      from: "peer-a",
    });
    assert.deepEqual(parseAnnounceSubject(vaultAnnounceSubject(VAULT, NKEY)), { vaultId: VAULT, from: NKEY });
    const prefix = `es.v1.vault.${VAULT}`;
    assert.deepEqual(parseBusSubject(prefix, `${prefix}.p.peer-b.peer-a`), { kind: "p", to: "peer-b", from: "peer-a" });
    for (const s of [
      `${prefix}.p.peer-b`,
      `${prefix}.p.peer-b.peer-a.x`,
      `${prefix}.p.peer-b.BAD!`,
      `${prefix}.announce`,
      `${prefix}.other.peer-a`,
      `es.v2.vault.${VAULT}.announce.peer-a`,
    ]) {
      assert.equal(parsePeerSubject(s), undefined, s);
      assert.equal(parseAnnounceSubject(s), undefined, s);
      assert.equal(parseBusSubject(prefix, s), undefined, s);
    }
  });

  it("gives a member permissions that pin the sender token to itself", () => {
    const p = vaultSubjectsFor(VAULT, NKEY);
    assert.deepEqual(p.publish, [`es.v1.vault.${VAULT}.p.*.${NKEY}`, `es.v1.vault.${VAULT}.announce.${NKEY}`]);
    assert.deepEqual(p.subscribe, [`es.v1.vault.${VAULT}.p.${NKEY}.*`, `es.v1.vault.${VAULT}.announce.*`, "_INBOX.>"]);
    assert.ok(vaultSubjectsFor(VAULT, USER_KEY_TEMPLATE).publish[0].endsWith(".p.*.{{subject()}}"));
    assert.throws(() => vaultSubjectsFor(VAULT, "*"), RangeError);
  });
});
