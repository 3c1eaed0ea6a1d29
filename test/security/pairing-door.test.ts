/**
 * Threat and feature: pairing over the hub. A device without an agent must be able to redeem a
 * one-time token at the hub (which admits no key before pairing), and the door it uses must do
 * nothing else: single use, 10-minute tokens, guessing rate-limited per source and logged, every
 * other subject refused. Real processes: a hub and a leaf agent, `edgesync notify` on a device
 * without an agent; the attacker is a hand-written NATS client that holds a pairing link (the
 * door credentials in it) but no token, or forges door credentials of its own.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { encodeUser } from "@nats-io/jwt";
import { createAccount, createUser, fromPublic } from "@nats-io/nkeys";
import { NotifyAgents } from "../helpers/notify-agents.js";
import { RawNatsClient } from "../helpers/raw-nats-tls.js";
import { HUB_ACCOUNT_PUBLIC } from "../../agent/auth/accounts.js";
import { Identity } from "../../agent/auth/identity.js";
import { signRequest } from "../../notify/rpc.js";
import { newToken } from "../../notify/pairing.js";
import { parsePairingInput } from "../../notify/pair-url.js";
import { waitFor } from "../helpers/wait.js";

/** Generous: the hub answers a door request within its 2 s relay wait. */
const REPLY_TIMEOUT_MS = 15_000;
const GUESSES = 12;

/** The door user key a door JWT is about (read by hand: the attacker's view of a link). */
const doorUserOf = (jwt: string) =>
  (JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8")) as { sub: string }).sub;

describe("the hub's pairing door redeems a one-time token and does nothing else", () => {
  let net: NotifyAgents;
  let certPem: string;
  const raws: RawNatsClient[] = [];
  const hubLog = () => net.agent("hub").output();

  /** The attacker holds a pairing link (its own, or one it saw) and uses its door credentials by hand. */
  async function rawDoor(jwt: string, leaf = false): Promise<{ raw: RawNatsClient; userKey: string }> {
    const ports = net.agent("hub").info.ports!;
    const raw = await RawNatsClient.connect({
      host: "127.0.0.1",
      port: leaf ? ports.leafnode! : ports.client,
      caPem: certPem,
      leaf,
      auth: () => ({ jwt }),
    });
    raws.push(raw);
    return { raw, userKey: doorUserOf(jwt) };
  }

  async function doorOfNewLink(name: string): Promise<string> {
    const door = parsePairingInput((await pairToken(["--name", name])).url)?.door;
    assert.ok(door, "the pairing link carries the hub's door credentials");
    return door;
  }

  async function pairToken(args: string[] = []): Promise<{ url: string; expiresAt: number }> {
    const issued = await net.notify("a", ["pair", "--json", ...args]);
    assert.equal(issued.code, 0, issued.stderr);
    return JSON.parse(issued.stdout) as { url: string; expiresAt: number };
  }

  before(async () => {
    net = await NotifyAgents.create("pairing-door");
    await net.startHub(["a"]);
    await net.startLeaf("a");
    certPem = await readFile(join(net.agent("hub").home, ".edgesync-server", "tls.crt"), "utf8");
    await waitFor(
      "A's notify service to know the hub",
      async () => (await net.notify("a", ["devices", "--json"])).stdout.includes('"hub"'),
      30_000,
      () => net.detail(),
    );
  });

  after(async () => {
    for (const raw of raws) raw.close();
    await net?.close();
  });

  it("pairs a device without an agent through the hub, which can then send and receive there", async () => {
    const { url } = await pairToken(["--name", "phone"]);
    const joined = await net.notify("phone", ["join", url]);
    assert.equal(joined.code, 0, joined.stderr + net.detail());
    assert.match(joined.stdout, /^paired as "phone" with notify set default \(issued by a\)/);
    const sent = await net.notify("phone", ["send", "--project", "repo", "--thread", "door", "hello through the door"]);
    assert.equal(sent.code, 0, sent.stderr);
    await net.logUntil("a", "door", "repo", (ms) =>
      ms.some((m) => m.body === "hello through the door" && m.fromName === "phone"),
    );
    assert.equal((await net.notify("a", ["send", "--project", "repo", "--thread", "door", "answer from a"])).code, 0);
    await net.logUntil("phone", "door", "repo", (ms) => ms.some((m) => m.body === "answer from a"));
    assert.match(hubLog(), /"source":"127\.0\.0\.1"[^\n]*"outcome":"paired","msg":"pairing door: attempt"/);
  });

  it("refuses a token that was already redeemed", async () => {
    const { url } = await pairToken(["--name", "laptop"]);
    assert.equal((await net.notify("laptop", ["join", url])).code, 0);
    const reused = await net.notify("thief", ["join", url]);
    assert.equal(reused.code, 1);
    assert.equal(
      reused.stderr,
      "edgesync: this pairing token was already used; run `edgesync notify pair` again for a new one\n",
    );
  });

  it("refuses an expired token", async () => {
    const { url, expiresAt } = await pairToken(["--name", "tablet", "--ttl", "1s"]);
    await waitFor("the token to expire", () => Date.now() > expiresAt + 50, 5_000);
    const expired = await net.notify("tablet", ["join", url]);
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /^edgesync: this pairing token has expired .*\n$/);
  });

  it("says what to do with a link that carries no door credentials (an agent without a hub, an older edgesync)", async () => {
    const { url } = await pairToken(["--name", "old-link"]);
    const doorless = url.replace(/&door=[^&]*/, "");
    const refused = await net.notify("old-link", ["join", doorless]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^edgesync: the hub at nats:\/\/127\.0\.0\.1:\d+ admits no key before pairing, and this link carries no pairing-door credentials .*--nats/,
    );
  });

  it("refuses every other subject from the door, the door as a leafnode, and door users the hub did not sign", async () => {
    const door = await doorOfNewLink("bait");
    const { raw, userKey } = await rawDoor(door);
    const subs = [
      ">",
      "_INBOX.>",
      "_INBOX.*.>",
      "es.v1.vault.>",
      "es.v1.hub.>",
      "es.v1.notify.>",
      "es.v1.notify.pair.default.accept",
      "es.v1.notify.*.*",
      "$SYS.>",
    ];
    subs.forEach((subject, i) => raw.sub(subject, `s${i}`));
    raw.sub(`_INBOX.${userKey}.>`, "own");
    const pubs = [
      "es.v1.vault.0000.announce.x",
      "es.v1.hub.vaults",
      "es.v1.hub.register",
      "es.v1.notify.pair.default.accept",
      "es.v1.notify.rpc.default.whoami",
      "es.v1.notify.sync.default.announce.x",
      "_INBOX.someone.else",
      "$SYS.REQ.CLAIMS.UPDATE",
    ];
    for (const subject of pubs) raw.pub(subject, "x");
    await raw.ping();
    for (const subject of subs)
      assert.ok(
        raw.errors.some((e) => e.includes(`Permissions Violation for Subscription to "${subject}"`)),
        `subscribe ${subject}: ${JSON.stringify(raw.errors)}`,
      );
    for (const subject of pubs)
      assert.ok(
        raw.errors.some((e) => e.includes(`Permissions Violation for Publish to "${subject}"`)),
        `publish ${subject}: ${JSON.stringify(raw.errors)}`,
      );
    assert.ok(!raw.errors.some((e) => e.includes(userKey)), `its own inbox was refused: ${JSON.stringify(raw.errors)}`);
    await assert.rejects(rawDoor(door, true), /closed the connection/);
    // A door user signed by any key but the hub's door key (here: a fresh one) is not admitted.
    const forger = createAccount();
    const forged = await encodeUser(
      "forged door",
      createUser(),
      fromPublic(HUB_ACCOUNT_PUBLIC),
      { pub: { allow: [">"] }, sub: { allow: [">"] }, bearer_token: true },
      { signer: forger },
    );
    await assert.rejects(rawDoor(forged), /Authorization Violation/i);
  });

  it("rate-limits guessing from one source and logs every attempt", async () => {
    const { raw, userKey } = await rawDoor(await doorOfNewLink("guessed"));
    raw.sub(`_INBOX.${userKey}.>`, "own");
    const guesser = Identity.generate("guesser");
    const signer = { peerId: guesser.nkeyPublic, sign: (b: Uint8Array) => guesser.sign(b) };
    for (let i = 0; i < GUESSES; i++) {
      const request = signRequest("accept", { token: newToken(), name: "guesser" }, signer, Date.now());
      raw.pub("es.v1.hub.pair.default", JSON.stringify(request), `_INBOX.${userKey}.g${i}`);
    }
    await waitFor(
      `answers to all ${GUESSES} guesses`,
      () => raw.messages.length >= GUESSES,
      REPLY_TIMEOUT_MS,
      () => JSON.stringify(raw.messages),
    );
    const answers = raw.messages.map((m) => JSON.parse(m.data) as { ok: boolean; error?: { message: string } });
    assert.ok(
      answers.every((a) => !a.ok),
      JSON.stringify(answers),
    );
    const limited = answers.filter((a) => /too many pairing attempts from this address/.test(a.error?.message ?? ""));
    assert.ok(
      limited.length >= 2,
      `only ${limited.length} of ${GUESSES} guesses were rate-limited: ${JSON.stringify(answers)}`,
    );
    assert.ok(
      answers.some((a) => /unknown or expired pairing token/.test(a.error?.message ?? "")),
      JSON.stringify(answers),
    );
    const logged = hubLog()
      .split("\n")
      .filter((line) => line.includes(userKey));
    assert.ok(logged.filter((l) => /"msg":"pairing door: attempt"/.test(l)).length >= 1, logged.join("\n"));
    assert.equal(
      logged.filter((l) =>
        /"source":"127\.0\.0\.1"[^\n]*"msg":"pairing door: too many attempts from this source; refused"/.test(l),
      ).length,
      limited.length,
      logged.join("\n"),
    );
  });
});
