import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PairingBook, PairingLedger, TOKEN_ALPHABET, normaliseToken, formatToken, PAIRING_TTL_MS } from "./pairing.js";
import { pairingUrl, parsePairingInput } from "./pair-url.js";

const clockAt = (start: number) => {
  const clock = { t: start, now: () => clock.t };
  return clock;
};

describe("pairing tokens", () => {
  it("are 12 characters from an alphabet without look-alikes", () => {
    assert.equal(TOKEN_ALPHABET.length, 31);
    for (const c of "01OIL") assert.ok(!TOKEN_ALPHABET.includes(c), c);
    const ledger = new PairingLedger([], clockAt(0));
    const seen = new Set<string>();
    for (let i = 0; i < 15; i++) {
      const { token } = ledger.issue(`d${i}`);
      assert.match(token, /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$/);
      seen.add(token);
    }
    assert.equal(seen.size, 15);
  });

  it("accept what people type: lower case, dashes and spaces", () => {
    assert.equal(normaliseToken(" abcd-efgh jkmn "), "ABCDEFGHJKMN");
    assert.equal(normaliseToken(formatToken("ABCDEFGHJKMN")), "ABCDEFGHJKMN");
    assert.equal(normaliseToken("ABCD-EFGH-JKM0"), undefined);
    assert.equal(normaliseToken("ABCD"), undefined);
  });

  it("work once, then say they were used", () => {
    const ledger = new PairingLedger([], clockAt(1_000));
    const { token } = ledger.issue("phone");
    assert.equal(ledger.redeem(token, "UPEER1").name, "phone");
    assert.throws(() => ledger.redeem(token, "UPEER2"), /already used/);
  });

  it("expire after exactly ten minutes", () => {
    const clock = clockAt(1_000);
    const ledger = new PairingLedger([], clock);
    const early = ledger.issue("a").token;
    const late = ledger.issue("b").token;
    clock.t += PAIRING_TTL_MS - 1;
    assert.equal(ledger.redeem(early, "U1").name, "a");
    clock.t += 1;
    assert.throws(() => ledger.redeem(late, "U2"), /has expired/);
    assert.throws(() => ledger.issue("c", PAIRING_TTL_MS + 1), /at most 10 minutes/);
  });

  it("are unknown to a ledger that did not issue them", () => {
    const ledger = new PairingLedger([], clockAt(0));
    assert.equal(ledger.knows("ABCDEFGHJKMN"), false);
    assert.throws(() => ledger.redeem("ABCDEFGHJKMN", "U1"), /unknown pairing token/);
  });

  it("are withdrawn after too many wrong guesses", () => {
    const ledger = new PairingLedger([], clockAt(0));
    const { token } = ledger.issue("phone");
    for (let i = 0; i < 50; i++) ledger.noteWrongGuess();
    assert.throws(() => ledger.redeem(token, "U1"), /withdrawn/);
  });

  it("are stored only as hashes, in a file only the owner can read, and stay used across a restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), "es-pairing-"));
    try {
      const path = join(dir, "notify", "pairings.json");
      const clock = clockAt(5_000);
      const book = await PairingBook.load(path, clock);
      const { token } = await book.issue("phone");
      const text = await readFile(path, "utf8");
      assert.ok(!text.includes(token));
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      await book.redeem(token, "U1");
      const again = await PairingBook.load(path, clock);
      assert.throws(() => again.ledger.redeem(token, "U2"), /already used/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("travel in a URL fragment with hub and fingerprint, and a bare token reads too", () => {
    const url = pairingUrl(
      { token: "ABCDEFGHJKMN", hub: "nats://hub.example.org:4222", fp: "SHA256:abc+/=", set: "default" },
      "http://127.0.0.1:8080/",
    );
    assert.match(url, /^http:\/\/127\.0\.0\.1:8080\/#pair=ABCDEFGHJKMN&/);
    assert.deepEqual(parsePairingInput(url), {
      token: "ABCDEFGHJKMN",
      hub: "nats://hub.example.org:4222",
      fp: "SHA256:abc+/=",
      set: "default",
    });
    assert.deepEqual(parsePairingInput("abcd-efgh-jkmn"), { token: "abcd-efgh-jkmn" });
    assert.equal(parsePairingInput("https://example.org/"), undefined);
  });
});
