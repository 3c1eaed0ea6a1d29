/**
 * Issue 6 end to end on the real binary: three `edgesync sync start` agents (a hub and two leaves,
 * each with its own nats-server child and notify service) on loopback, and `edgesync notify …` run
 * as real processes. ask/reply across the hub, store sync for an offline device, dedup, pairing with
 * `notify pair` / `notify join`, unpairing and bad input.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { errors, type NatsConnection, type Status } from "@nats-io/transport-node";
import { trustHub, connectToHubAccount } from "../agent/hub-link/hub-client.js";
import { PinStore } from "../agent/auth/pins.js";
import { silentLog } from "../agent/sync/ports.js";
import { NotifyAgents, collect } from "./helpers/notify-agents.js";
import { run } from "./helpers/cli.js";
import { newMessage, encodeMessage, type NotifyMessage, type Signer } from "../notify/model.js";
import { notifySubject, syncPrefix } from "../agent/nats/notify-subjects.js";
import { parsePairingInput } from "../notify/pair-url.js";
import type { DeviceRecord } from "../notify/devices.js";
import { waitFor } from "./helpers/wait.js";

/** The server's refusal of a subscription (permission violations arrive as async errors). */
async function refusedSubscription(nc: NatsConnection, subject: string): Promise<unknown> {
  const errorSeen = (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) if (s.type === "error") return s.error;
    return undefined;
  })();
  const closed = await nc.subscribe(subject).closed;
  return closed instanceof Error ? closed : errorSeen;
}

describe("notify on a hub agent (operator mode) and two leaf agents", () => {
  let net: NotifyAgents;
  let wireA: NatsConnection;
  let wireB: NatsConnection;
  let signerA: Signer;
  let signerB: Signer;

  before(async () => {
    net = await NotifyAgents.create("notify");
    await net.startHub(["a", "b"]);
    await Promise.all([net.startLeaf("a"), net.startLeaf("b")]);
    // Every agent registers itself as a full device; the device lists sync like messages.
    let devices: DeviceRecord[] = [];
    await waitFor(
      "A and B to know all three agents",
      async () => {
        const [a, b] = await Promise.all([
          net.notify("a", ["devices", "--json"]),
          net.notify("b", ["devices", "--json"]),
        ]);
        if (a.code !== 0 || b.code !== 0) return false;
        devices = JSON.parse(a.stdout) as DeviceRecord[];
        return devices.length === 3 && (JSON.parse(b.stdout) as DeviceRecord[]).length === 3;
      },
      30_000,
      () => net.detail(),
    );
    assert.deepEqual(devices.map((d) => `${d.name}:${d.kind}`).sort(), ["a:full", "b:full", "hub:full"]);
    const [keyA, keyB] = [await net.identity("a"), await net.identity("b")];
    signerA = { peerId: keyA.nkeyPublic, sign: (x) => keyA.sign(x) };
    signerB = { peerId: keyB.nkeyPublic, sign: (x) => keyB.sign(x) };
    [wireA, wireB] = await Promise.all([net.connect("a"), net.connect("b")]);
  });

  after(async () => {
    await wireA?.close();
    await wireB?.close();
    await net?.close();
  });

  it("ends a blocking ask with exactly the reply to that message, not with unrelated messages", async () => {
    const ask = net.spawn("a", [
      "ask",
      "--project",
      "repo",
      "--thread",
      "release",
      "--action",
      "yes:Merge",
      "--action",
      "no:Wait",
      "--json",
      "merge PR 12?",
    ]);
    const done = collect(ask, 60_000);
    const [question] = await net.logUntil("b", "release", "repo", (ms) => ms.some((m) => m.body === "merge PR 12?"));
    assert.equal(question.fromName, "a");
    // Unrelated traffic on the same thread: a plain message, a reply to that message, and a response to
    // the question naming an action it never offered (the CLI refuses to send one; a script might).
    const unrelated = await net.notify("b", ["send", "--project", "repo", "--thread", "release", "CI is green"]);
    assert.equal(unrelated.code, 0, unrelated.stderr);
    const other = await net.notify("b", ["reply", unrelated.stdout.trim(), "nice"]);
    assert.equal(other.code, 0, other.stderr);
    const bogus = newMessage(
      { project: "repo", thread: "release", body: "", replyTo: question.id, actionResponse: "maybe" },
      signerB,
      "b",
      Date.now(),
    );
    await NotifyAgents.deliver(wireB, bogus);
    // All three are in A's store (which ask long-polls) and went past A's server (where ask listens live).
    await net.logUntil("a", "release", "repo", (ms) => ms.length === 4);
    assert.equal(ask.exitCode, null, `ask ended early: ${JSON.stringify(ask.output())}`);
    const reply = await net.notify("b", ["reply", question.id.slice(0, 8), "--action", "yes"]);
    assert.equal(reply.code, 0, reply.stderr);
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout) as { action: string; question: NotifyMessage; answer: NotifyMessage };
    assert.equal(answer.action, "yes");
    assert.equal(answer.question.id, question.id);
    assert.equal(answer.answer.id, reply.stdout.trim());
    assert.equal(answer.answer.replyTo, question.id);
    assert.equal(answer.answer.from, signerB.peerId);
  });

  it("prints a text reply as the answer", async () => {
    const ask = net.spawn("a", ["ask", "--project", "repo", "which option, A or B?"]);
    const done = collect(ask, 60_000);
    const messages = await net.logUntil("b", "general", "repo", (ms) =>
      ms.some((m) => m.body === "which option, A or B?"),
    );
    const id = messages.find((m) => m.body === "which option, A or B?")!.id;
    const reply = await net.notify("b", ["reply", id, "B, with the cache"]);
    assert.equal(reply.code, 0, reply.stderr);
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "B, with the cache\n");
  });

  it("exits 2 when no answer comes before --timeout", async () => {
    const result = await net.notify("a", ["ask", "--project", "repo", "--timeout", "1s", "anyone?"]);
    assert.equal(result.code, 2, JSON.stringify(result));
    assert.match(result.stderr, /^edgesync: no answer to [0-9a-z]{20} within 1s\n$/);
  });

  it("shows a message sent while a device was offline in its log after its agent restarts", async () => {
    await net.stopAgent("b");
    const sent = await net.notify("a", ["send", "--project", "repo", "--thread", "offline", "sent while B was away"]);
    assert.equal(sent.code, 0, sent.stderr);
    await net.restartAgent("b");
    const log = await net.logUntil("b", "offline", "repo", (ms) => ms.length > 0);
    assert.deepEqual(
      log.map((m) => [m.id, m.body]),
      [[sent.stdout.trim(), "sent while B was away"]],
    );
    await wireB.close();
    wireB = await net.connect("b");
  });

  it("shows a message delivered twice once, in log and in watch", async () => {
    const watch = net.spawn("b", ["watch", "--project", "repo", "--thread", "dup", "--json"]);
    // Watch is live only: probe until it prints something, so its subscription has reached A's server.
    const probe = newMessage({ project: "repo", thread: "dup", body: "probe" }, signerA, "a", Date.now());
    await waitFor(
      "watch to subscribe",
      async () => {
        wireA.publish(notifySubject("default", "repo", "dup"), encodeMessage(probe));
        await wireA.flush();
        await new Promise((r) => setTimeout(r, 100));
        return watch.output().stdout.includes(probe.id);
      },
      20_000,
      () => JSON.stringify(watch.output()),
    );
    const m = newMessage({ project: "repo", thread: "dup", body: "only once" }, signerA, "a", Date.now());
    await NotifyAgents.deliver(wireA, m);
    await NotifyAgents.deliver(wireA, m);
    wireA.publish(notifySubject("default", "repo", "dup"), encodeMessage(m));
    await NotifyAgents.deliver(wireB, m);
    const log = await net.logUntil("b", "dup", "repo", (ms) => ms.some((x) => x.id === m.id));
    assert.deepEqual(
      log.map((x) => x.id),
      [probe.id, m.id],
    );
    await waitFor("watch to print it", () => watch.output().stdout.includes(m.id), 10_000);
    watch.kill("SIGINT");
    const watched = await collect(watch, 10_000);
    const ids = watched.stdout
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { id: string }).id);
    assert.deepEqual(ids, [probe.id, m.id]);
  });

  it("pairs a new device with a one-time token; reused and expired tokens fail clearly; unpairing cuts it off", async () => {
    // The slow failure path first, in the background: a token nobody issued waits out the pairing timeout.
    // The hub runs operator mode and admits no key before it is paired: joining goes through an agent's own NATS,
    // which admits only the holder of that agent's local credentials (here: handed to the joining device).
    const viaA = net.agent("a").info.natsUrl;
    const withA = { EDGESYNC_NATS_CREDENTIALS: net.agent("a").info.natsCredentials };
    const unknownJoin = net.notify("thief", ["join", "ABCD-EFGH-JKMN", "--nats", viaA], 30_000, withA);
    const short = await net.notify("a", ["pair", "--name", "tablet", "--ttl", "1s", "--json"]);
    assert.equal(short.code, 0, short.stderr);
    const shortToken = JSON.parse(short.stdout) as { url: string; expiresAt: number };
    const plain = await net.notify("a", ["pair", "--name", "desk"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(
      plain.stdout,
      /^token {4}[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4} {3}\(for "desk", single use, expires .*\)\nurl {6}edgesync:notify-pair#pair=/,
    );
    assert.match(plain.stdout, /[▀▄█]/, "a QR code is printed");
    assert.match(
      plain.stderr,
      /^edgesync: note: the link names nats:\/\/127\.0\.0\.1:\d+, reachable from this machine only; .*--notify-nats-url/,
    );
    const pair = await net.notify("a", ["pair", "--name", "phone", "--json"]);
    assert.equal(pair.code, 0, pair.stderr);
    const issued = JSON.parse(pair.stdout) as { token: string; url: string };
    assert.match(issued.token, /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$/);
    assert.equal(parsePairingInput(issued.url)?.hub, net.hubUrl, "the link names the hub from --notify-nats-url");

    await net.identity("phone"); // the phone's key exists, and the hub does not admit it yet
    const refused = await net.notify("phone", ["send", "--nats", net.hubUrl, "--project", "repo", "before pairing"]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^edgesync: the hub at nats:\/\/127\.0\.0\.1:\d+ refused this device's key: it is not paired with notify/,
    );
    // The phone has its own key and no agent: here it pairs through A's NATS (test/security/pairing-door.test.ts
    // pairs through the hub's door), then uses the hub the link names,
    // with pinned TLS and a JWT it issues itself, once the hub has added its key to the hub account.
    const joined = await net.notify("phone", ["join", issued.url, "--nats", viaA], 30_000, withA);
    assert.equal(joined.code, 0, joined.stderr);
    assert.match(joined.stdout, /^paired as "phone" with notify set default \(issued by a\)/);
    let sent = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "the hub to admit the paired phone",
      async () => {
        sent = await net.notify("phone", ["send", "--project", "repo", "--thread", "phone", "hello from the phone"]);
        return sent.code === 0;
      },
      20_000,
      () => JSON.stringify(sent) + net.detail(),
    );
    await net.logUntil("a", "phone", "repo", (ms) =>
      ms.some((m) => m.body === "hello from the phone" && m.fromName === "phone"),
    );
    const listed = JSON.parse((await net.notify("b", ["devices", "--json"])).stdout) as DeviceRecord[];
    assert.ok(
      listed.some((d) => d.name === "phone" && d.kind === "notify" && d.revokedAt === undefined),
      "B learns of the paired device by sync",
    );

    const reused = await net.notify("thief", ["join", issued.url, "--nats", viaA], 30_000, withA);
    assert.equal(reused.code, 1);
    assert.equal(
      reused.stderr,
      "edgesync: this pairing token was already used; run `edgesync notify pair` again for a new one\n",
    );
    await waitFor("the short token to expire", () => Date.now() > shortToken.expiresAt + 50, 5_000);
    const expired = await net.notify("thief", ["join", shortToken.url, "--nats", viaA], 30_000, withA);
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /^edgesync: this pairing token has expired .*\n$/);
    const unknown = await unknownJoin;
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^edgesync: unknown or expired pairing token/);

    const admin = await net.notify("phone", ["pair", "--name", "another"]);
    assert.equal(admin.code, 1);
    assert.match(admin.stderr, /needs a full device/);

    // NATS itself keeps the paired phone to notify: no vault subjects, not the notify store's sync.
    const phoneKey = await net.identity("phone");
    const trusted = await trustHub(net.hubUrl, {
      accept: true,
      pins: new PinStore(join(net.box.dir, "test-known-hubs.json")),
    });
    const phoneNc = await connectToHubAccount({
      url: net.hubUrl,
      device: phoneKey,
      tls: trusted.tls,
      log: silentLog,
      name: "phone-probe",
    });
    for (const subject of ["es.v1.vault.>", `${syncPrefix("default")}.>`]) {
      const refusedSub = await refusedSubscription(phoneNc, subject);
      assert.ok(refusedSub instanceof errors.PermissionViolationError, `${subject}: ${refusedSub}`);
    }
    const phoneClosed = phoneNc.closed();
    const unpair = await net.notify("a", ["unpair", "phone"]);
    assert.equal(unpair.code, 0, unpair.stderr);
    let cut = { code: 0, stdout: "", stderr: "" };
    await waitFor(
      "the hub to refuse the unpaired phone",
      async () => {
        cut = await net.notify("phone", ["send", "--project", "repo", "--thread", "phone", "still here?"]);
        return cut.code !== 0;
      },
      15_000,
      () => JSON.stringify(cut),
    );
    assert.equal(cut.code, 1);
    assert.match(
      cut.stderr,
      /^edgesync: the hub at .* refused this device's key: it is not paired with notify \(or was unpaired\)/,
    );
    await phoneClosed; // the hub re-issued its account without the phone's key: its connection dropped
    const cutLog = await net.notify("phone", ["log", "phone", "--project", "repo"]);
    assert.equal(cutLog.code, 1);
    assert.match(cutLog.stderr, /not paired/);
  });

  it("turns bad input into one-line errors and a non-zero exit", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["send", "--project", "repo", "x".repeat(16 * 1024 + 1)],
        /^edgesync: message body is 16385 bytes; the limit is 16384/,
      ],
      [
        ["send", "--project", "repo", "--priority", "critical", "hi"],
        /^edgesync: unknown priority "critical": use info, action_required, urgent\n$/,
      ],
      [
        ["ask", "--project", "repo", "--action", "yes-Merge", "hi"],
        /^edgesync: malformed action "yes-Merge": write ID:LABEL/,
      ],
      [["send", "hi"], /^edgesync: missing project: pass --project NAME/],
      [["ask", "--project", "repo", "--timeout", "soon", "hi"], /^edgesync: --timeout "soon" is not a duration/],
      [["reply", "zzzzzzzz", "x"], /^edgesync: no message "zzzzzzzz"/],
      [["reply", "zzzzzzzz"], /^edgesync: give either a reply BODY or --action ID/],
      [["watch", "--thread", "t"], /^edgesync: --thread needs --project/],
      [["log", "t", "--limit", "0"], /^edgesync: --limit "0" is not a positive whole number/],
      [["send", "--project", "repo", "--bogus", "hi"], /^edgesync: Unsupported option name \("--bogus"\)/],
    ];
    const results = await Promise.all(cases.map(([args]) => net.notify("a", args)));
    for (const [i, [args, pattern]] of cases.entries()) {
      assert.notEqual(results[i].code, 0, args.join(" "));
      assert.match(results[i].stderr, pattern, args.join(" "));
      assert.equal(results[i].stderr.trim().split("\n").length, 1, results[i].stderr);
    }
    await net.identity("lonely"); // a device with a key but neither an agent nor a pairing
    const unreachable = await net.notify("lonely", ["send", "--project", "repo", "hi"]);
    assert.equal(unreachable.code, 1);
    assert.equal(
      unreachable.stderr,
      "edgesync: no NATS to reach: start the agent (`edgesync sync start`) or pass --nats nats://HOST:PORT\n",
    );
    for (const [flag, value, pattern] of [
      [
        "--inbox-url",
        "inbox.example.org",
        /^edgesync: --inbox-url "inbox.example.org" is not a http\/https URL: write e.g. https:\/\/inbox.example.org\n$/,
      ],
      [
        "--notify-nats-url",
        "http://hub:4222",
        /^edgesync: --notify-nats-url "http:\/\/hub:4222" is not a nats\/tls\/ws\/wss URL/,
      ],
    ] as const) {
      const refused = run(["sync", "start", "--cwd", net.box.dir, flag, value], { env: net.env("lonely") });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, pattern);
    }
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const taken = `127.0.0.1:${(busy.address() as AddressInfo).port}`;
    const inUse = await collect(
      net.spawnEdgesync("lonely", [
        "sync",
        "start",
        "--nats-role",
        "peer",
        "--nats-listen",
        "127.0.0.1:-1",
        "--cluster-listen",
        "127.0.0.1:-1",
        "--cwd",
        net.box.dir,
        "--inbox",
        taken,
      ]),
      60_000,
    );
    busy.close();
    assert.equal(inUse.code, 1, inUse.stderr);
    assert.match(
      inUse.stderr,
      new RegExp(
        `(?:^|\n)edgesync: --inbox ${taken}: the port is in use; choose another \\(or port -1 for any free one\\)\n$`,
      ),
    );
    const completion = run(["completions", "bash"], { env: net.env("a") });
    assert.match(
      completion.stdout,
      /notify\) COMPREPLY=\( \$\(compgen -W "send ask reply watch threads log pair join unpair devices"/,
    );
  });
});
