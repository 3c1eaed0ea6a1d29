/**
 * Issue 6 end to end: notify services on a hub and two leaves (real nats-servers on loopback), the
 * CLI as real processes. ask/reply across the hub, store sync for an offline device, dedup,
 * pairing, unpairing and bad input.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { NotifyNet, collect, type Device } from "./helpers/notify-net.js";
import { waitFor } from "./helpers/cli.js";
import { newMessage, encodeMessage } from "../notify/model.js";
import { notifySubject } from "../notify/subjects.js";
import { parsePairingInput } from "../notify/pair-url.js";

describe("notify across a hub and two leaves", () => {
  let net: NotifyNet;
  let a: Device;
  let b: Device;
  let hub: Device;

  before(async () => {
    net = await NotifyNet.create("notify");
    await net.startHub();
    const [leafA, leafB] = [await net.startLeaf("leaf-a"), await net.startLeaf("leaf-b")];
    hub = await net.device("hub", net.hub);
    a = await net.device("a", leafA);
    b = await net.device("b", leafB);
    // Every device knows every other before the tests start (the device lists sync like messages).
    await waitFor("device lists to sync", () => [a, b, hub].every((d) => d.service!.store.devices().length === 3), 15_000);
  });

  after(async () => {
    await net?.close();
  });

  it("ends a blocking ask with exactly the reply to that message, not with unrelated messages", async () => {
    const ask = net.spawn(a, ["ask", "--project", "repo", "--thread", "release", "--action", "yes:Merge", "--action", "no:Wait", "--json", "merge PR 12?"]);
    const done = collect(ask, 30_000);
    let question: { id: string } | undefined;
    await waitFor("the question to reach B's store", async () => {
      question = b.service!.store.list({ project: "repo", thread: "release" }).find((m) => m.body === "merge PR 12?");
      return question !== undefined;
    }, 15_000, () => JSON.stringify(ask.output()));
    // Unrelated traffic on the same thread must not end the wait: a plain message and a reply to another message.
    const unrelated = await net.cli(b, ["send", "--project", "repo", "--thread", "release", "CI is green"]);
    assert.equal(unrelated.code, 0, unrelated.stderr);
    const other = await net.cli(b, ["reply", unrelated.stdout.trim(), "nice"]);
    assert.equal(other.code, 0, other.stderr);
    // A response to the question naming an action it never offered (the CLI refuses to send one; a script might).
    const signerB = { peerId: b.identity.nkeyPublic, sign: (x: Uint8Array) => b.identity.sign(x) };
    const bogus = newMessage({ project: "repo", thread: "release", body: "", replyTo: question!.id, actionResponse: "maybe" }, signerB, "b", Date.now());
    await b.nc!.request(notifySubject("repo", "release"), encodeMessage(bogus), { timeout: 5000 });
    // All three reached A's store (which ask long-polls) and A's server (where ask listens live); both paths
    // react in milliseconds, so a wrong answer would have ended the wait by now.
    await waitFor("the unrelated messages on A", () => a.service!.store.list({ project: "repo", thread: "release" }).length === 4, 15_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ask.exitCode, null, `ask ended early: ${JSON.stringify(ask.output())}`);
    const reply = await net.cli(b, ["reply", question!.id.slice(0, 8), "--action", "yes"]);
    assert.equal(reply.code, 0, reply.stderr);
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout) as { action: string; question: { id: string }; answer: { from: string; replyTo: string } };
    assert.equal(answer.action, "yes");
    assert.equal(answer.question.id, question!.id);
    assert.equal(answer.answer.replyTo, question!.id);
    assert.equal(answer.answer.from, b.identity.nkeyPublic);
  });

  it("prints a text reply as the answer", async () => {
    const ask = net.spawn(a, ["ask", "--project", "repo", "which option, A or B?"]);
    const done = collect(ask, 30_000);
    let id: string | undefined;
    await waitFor("the question on B", () => {
      id = b.service!.store.list({ project: "repo" }).find((m) => m.body === "which option, A or B?")?.id;
      return id !== undefined;
    }, 15_000);
    assert.equal((await net.cli(b, ["reply", id!, "B, with the cache"])).code, 0);
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "B, with the cache\n");
  });

  it("exits 2 when no answer comes before --timeout", async () => {
    const started = Date.now();
    const result = await net.cli(a, ["ask", "--project", "repo", "--timeout", "1s", "anyone?"]);
    assert.equal(result.code, 2, JSON.stringify(result));
    assert.match(result.stderr, /^edgesync: no answer to [0-9a-z]{20} within 1s\n$/);
    assert.ok(Date.now() - started < 10_000);
  });

  it("shows a message sent while a device was offline in its log after it reconnects", async () => {
    await net.stopService(b);
    await net.stopServer("leaf-b");
    const sent = await net.cli(a, ["send", "--project", "repo", "--thread", "offline", "sent while B was away"]);
    assert.equal(sent.code, 0, sent.stderr);
    await net.servers.get("leaf-b")!.supervisor.start();
    b.server.url = net.servers.get("leaf-b")!.supervisor.clientUrl;
    await net.startService(b);
    let log = { code: 1, stdout: "", stderr: "" };
    await waitFor("B's log to show the message", async () => {
      log = await net.cli(b, ["log", "offline", "--project", "repo"]);
      return log.stdout.includes("sent while B was away");
    }, 20_000, () => JSON.stringify(log));
    assert.equal(log.code, 0);
  });

  it("shows a message delivered twice once, in log and in watch", async () => {
    const watch = net.spawn(b, ["watch", "--project", "repo", "--thread", "dup", "--json"]);
    const signer = { peerId: a.identity.nkeyPublic, sign: (x: Uint8Array) => a.identity.sign(x) };
    // Watch is live only: probe until it prints something, so its subscription has reached A's server.
    const probe = newMessage({ project: "repo", thread: "dup", body: "probe" }, signer, "a", Date.now());
    await waitFor("watch to subscribe", async () => {
      a.nc!.publish(notifySubject("repo", "dup"), encodeMessage(probe));
      await a.nc!.flush();
      await new Promise((r) => setTimeout(r, 50));
      return watch.output().stdout.includes(probe.id);
    }, 15_000);
    const m = newMessage({ project: "repo", thread: "dup", body: "only once" }, signer, "a", Date.now());
    for (let i = 0; i < 2; i++) await a.nc!.request(notifySubject("repo", "dup"), encodeMessage(m), { timeout: 5000 });
    a.nc!.publish(notifySubject("repo", "dup"), encodeMessage(m));
    await waitFor("B to store it", () => b.service!.store.get(m.id) !== undefined, 15_000);
    const log = await net.cli(b, ["log", "dup", "--project", "repo", "--json"]);
    assert.deepEqual((JSON.parse(log.stdout) as { id: string }[]).map((x) => x.id), [probe.id, m.id]);
    await waitFor("watch to print it", () => watch.output().stdout.includes(m.id), 10_000);
    watch.kill("SIGINT");
    const watched = await collect(watch, 10_000);
    const ids = watched.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { id: string }).id);
    assert.deepEqual(ids, [probe.id, m.id]);
  });

  it("pairs a device with a one-time token; reused and expired tokens fail clearly; unpairing cuts it off", async () => {
    // Slow failure paths first, in the background: a token nobody issued waits out the pairing timeout,
    // and a 1-second token must age.
    const thief = await net.device("thief", net.hub, { withService: false });
    const unknownJoin = collect(net.spawn(thief, ["join", "ABCD-EFGH-JKMN", "--nats", net.hub.url]), 30_000);
    const short = JSON.parse((await net.cli(a, ["pair", "--name", "tablet", "--ttl", "1s", "--json"])).stdout) as { url: string; expiresAt: number };
    const plain = await net.cli(a, ["pair", "--name", "desk"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^token {4}[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4} {3}\(for "desk", single use, expires .*\)\nurl {6}http:\/\/|^token .*\nurl {6}edgesync:notify-pair#pair=/);
    assert.match(plain.stdout, /[▀▄█]/, "a QR code is printed");
    const pair = await net.cli(a, ["pair", "--name", "phone", "--json"]);
    assert.equal(pair.code, 0, pair.stderr);
    const issued = JSON.parse(pair.stdout) as { token: string; url: string };
    assert.match(issued.token, /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$/);
    assert.equal(parsePairingInput(issued.url)?.hub, net.hub.url);
    // The phone has its own key and no agent: it reaches the hub named in the URL.
    const phone = await net.device("phone", net.hub, { withService: false });
    const joined = await net.cli(phone, ["join", issued.url]);
    assert.equal(joined.code, 0, joined.stderr);
    assert.match(joined.stdout, /paired as "phone"/);
    const sent = await net.cli(phone, ["send", "--project", "repo", "--thread", "phone", "hello from the phone"]);
    assert.equal(sent.code, 0, sent.stderr);
    await waitFor("A to see the phone's message", () => a.service!.store.list({ thread: "phone" }).some((m) => m.body === "hello from the phone"), 15_000);

    const reused = await net.cli(thief, ["join", issued.url]);
    assert.equal(reused.code, 1);
    assert.equal(reused.stderr, "edgesync: this pairing token was already used; run `edgesync notify pair` again for a new one\n");

    await waitFor("the short token to expire", () => Date.now() > short.expiresAt + 50, 5_000);
    const expired = await net.cli(thief, ["join", short.url]);
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /^edgesync: this pairing token has expired .*\n$/);

    const unknown = await unknownJoin;
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^edgesync: unknown or expired pairing token/);

    const admin = await net.cli(phone, ["pair", "--name", "another"]);
    assert.equal(admin.code, 1);
    assert.match(admin.stderr, /needs a full device/);

    const unpair = await net.cli(a, ["unpair", "phone"]);
    assert.equal(unpair.code, 0, unpair.stderr);
    await waitFor("the hub to learn of the unpairing", () => hub.service!.store.device(phone.identity.nkeyPublic)?.revokedAt !== undefined, 10_000);
    const cutSend = await net.cli(phone, ["send", "--project", "repo", "--thread", "phone", "still here?"]);
    assert.equal(cutSend.code, 1);
    assert.match(cutSend.stderr, /^edgesync: this device is not paired with notify \(or was unpaired\)/);
    const cutLog = await net.cli(phone, ["log", "phone"]);
    assert.equal(cutLog.code, 1);
    assert.match(cutLog.stderr, /not paired/);
  });

  it("turns bad input into one-line errors and a non-zero exit", async () => {
    const cases: [string[], RegExp][] = [
      [["send", "--project", "repo", "x".repeat(16 * 1024 + 1)], /^edgesync: message body is 16385 bytes; the limit is 16384/],
      [["send", "--project", "repo", "--priority", "critical", "hi"], /^edgesync: unknown priority "critical": use info, action_required, urgent\n$/],
      [["ask", "--project", "repo", "--action", "yes-Merge", "hi"], /^edgesync: malformed action "yes-Merge": write ID:LABEL/],
      [["send", "hi"], /^edgesync: missing project: pass --project NAME/],
      [["ask", "--project", "repo", "--timeout", "soon", "hi"], /^edgesync: --timeout "soon" is not a duration/],
      [["reply", "zzzzzzzz", "x"], /^edgesync: no message "zzzzzzzz"/],
      [["reply", "zzzzzzzz"], /^edgesync: give either a reply BODY or --action ID/],
      [["watch", "--thread", "t"], /^edgesync: --thread needs --project/],
      [["log", "t", "--limit", "0"], /^edgesync: --limit "0" is not a positive whole number/],
    ];
    for (const [args, pattern] of cases) {
      const result = await net.cli(a, args);
      assert.notEqual(result.code, 0, args.join(" "));
      assert.match(result.stderr, pattern, args.join(" "));
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    }
    const lonely = await net.device("lonely", net.hub, { withService: false });
    const unreachable = await net.cli(lonely, ["send", "--project", "repo", "hi"]);
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stderr, "edgesync: no NATS to reach: start the agent (`edgesync sync start`) or pass --nats nats://HOST:PORT\n");
  });
});
