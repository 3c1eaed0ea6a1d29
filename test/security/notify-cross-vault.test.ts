/**
 * Threat: a device of another vault reads or answers this vault's notify questions.
 *
 * A hub in operator mode; device A syncs vault A through its leaf agent, device B syncs vault B
 * through its own. Both are hub admins (so each may register its vault), neither is a member of the
 * other's vault. A asks from its vault folder. B attacks with hand-made credentials: a raw client in
 * the hub account, and a stock nats-server leaf holding B's key. B's answer, even when a member of A
 * relays it, must not end A's ask.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { BIN, sandbox, stop, runAsync, type Sandbox } from "../helpers/cli.js";
import { startAgent, startHub, cli, deviceEnv, type RunningAgent } from "../helpers/agents.js";
import { RawClient, stockLeaf, HUB_ACCOUNT_PUBLIC, type Heard } from "../helpers/hand-attacker.js";
import { collect, type Running } from "../helpers/notify-agents.js";
import { loadIdentity, type Identity } from "../../agent/auth/identity.js";
import { tlsOptionsForPinned } from "../../agent/auth/pins.js";
import { nameToken } from "../../agent/nats/subjects.js";
import { newMessage, encodeMessage, type NotifyMessage } from "../../notify/model.js";
import { waitFor } from "../helpers/wait.js";

const PROJECT = "repo";
/** How long a removed key's connection may outlive the save of authorized_keys (sync, then the hub's push). */
const REVOCATION_BOUND_MS = 10_000;
const THREAD = "general";
/** Where a question of `set` lives: the old shared subject (no set) and the set's own. */
const liveSubjects = (set: string) => [
  `es.v1.notify.${nameToken(PROJECT)}.${nameToken(THREAD)}`,
  `es.v1.notify.${set}.live.${nameToken(PROJECT)}.${nameToken(THREAD)}`,
];

describe("notify questions stay within their vault", () => {
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  const dirs = { a: "", b: "" };
  const vault = { a: "", b: "" };
  const keys = {} as { a: Identity; b: Identity };
  let clientUrl = "";
  let certPem = "";
  const open: { close(): Promise<void> }[] = [];
  const detail = () =>
    [
      ["hub", hub],
      ["A", leafA],
      ["B", leafB],
    ]
      .map(([n, a]) => `--- ${n as string}\n${(a as RunningAgent | undefined)?.output().slice(-3000)}`)
      .join("\n");
  const env = (device: string) => ({ ...deviceEnv(box, device), EDGESYNC_NATS_URL: "", EDGESYNC_NOTIFY_NAME: device });
  const notify = (device: string, cwd: string, args: string[]) =>
    runAsync(["notify", ...args], { env: env(device), cwd });

  function spawnNotify(device: string, cwd: string, args: string[]): Running {
    const child = spawn(process.execPath, [BIN, "notify", ...args], {
      env: env(device),
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = { stdout: "", stderr: "" };
    child.stdout?.on("data", (c: Buffer) => (out.stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (out.stderr += c.toString()));
    return Object.assign(child, { output: () => ({ code: child.exitCode ?? -1, ...out }) });
  }

  async function hubClient(key: Identity): Promise<RawClient> {
    const client = await RawClient.hub(clientUrl, tlsOptionsForPinned(certPem), key, HUB_ACCOUNT_PUBLIC);
    open.push(client);
    return client;
  }

  /** A's question as A's own log shows it (it went through A's agent, so the live path carried it). */
  async function questionInLog(body: string): Promise<NotifyMessage> {
    let found: NotifyMessage | undefined;
    await waitFor(
      `A's log to show ${body}`,
      async () => {
        const log = await notify("a", dirs.a, ["log", THREAD, "--project", PROJECT, "--json"]);
        found = log.code === 0 ? (JSON.parse(log.stdout) as NotifyMessage[]).find((m) => m.body === body) : undefined;
        return found !== undefined;
      },
      20_000,
      detail,
    );
    return found as NotifyMessage;
  }

  before(async () => {
    box = await sandbox("notify-cross-vault");
    hub = await startHub(box, ["a", "b"]);
    clientUrl = `nats://127.0.0.1:${hub.info.ports!.client}`;
    certPem = await readFile(join(hub.home, ".edgesync-server", "tls.crt"), "utf8");
    for (const name of ["a", "b"] as const) {
      dirs[name] = join(box.dir, `vault-${name}`);
      await mkdir(dirs[name]);
      await writeFile(join(dirs[name], "notes.md"), `# ${name}\n`);
      assert.equal(cli(box, name, ["init", "--cwd", dirs[name], "--name", `vault-${name}`]).code, 0);
      vault[name] = /id = "([^"]+)"/.exec(await readFile(join(dirs[name], ".edgesync/config.toml"), "utf8"))![1];
      keys[name] = await loadIdentity(join(deviceEnv(box, name).EDGESYNC_HOME as string, "id_ed25519"));
    }
    const leaf = (name: string) => [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`,
      "--accept-hub-key",
      "--notify-name",
      name,
      dirs[name as "a" | "b"],
    ];
    [leafA, leafB] = await Promise.all([startAgent(box, "a", leaf("a")), startAgent(box, "b", leaf("b"))]);
    await waitFor(
      "the hub to host both vaults",
      () => (hub.output().match(/vault registered/g) ?? []).length >= 2,
      30_000,
      detail,
    );
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    for (const agent of [leafA, leafB, hub]) if (agent) await stop(agent, "SIGTERM").catch(() => {});
    await box?.cleanup();
  });

  it("refuses a member of vault B every subscription that reaches A's questions, and B hears none of them", async () => {
    const b = await hubClient(keys.b);
    const attempts = [">", "es.v1.notify.>", "es.v1.notify.*.>", `es.v1.notify.${vault.a}.>`, ...liveSubjects(vault.a)];
    const heard: Heard[] = [];
    for (const subject of attempts) heard.push(await b.listen(subject));
    const own = await b.listen(`es.v1.notify.${vault.b}.>`);
    const ask = spawnNotify("a", dirs.a, ["ask", "--project", PROJECT, "--timeout", "5s", "deploy vault A?"]);
    await questionInLog("deploy vault A?");
    await collect(ask, 30_000);
    for (const h of heard)
      assert.match(h.refused ?? "accepted", /Permissions Violation/, `B subscribed to ${h.subject}`);
    for (const h of [...heard, own])
      assert.ok(!h.messages.some((m) => m.text.includes("deploy vault A?")), `B heard A's question on ${h.subject}`);
  });

  it("gives a stock leaf server holding B's key none of A's questions, even subscribed to >", async () => {
    const dir = join(box.dir, "stock-leaf");
    await mkdir(dir);
    const leaf = await stockLeaf(
      dir,
      `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`,
      join(hub.home, ".edgesync-server", "tls.crt"),
      keys.b,
      HUB_ACCOUNT_PUBLIC,
    );
    open.push({ close: leaf.stop });
    const local = await RawClient.plain(leaf.url);
    open.push(local);
    const everything = await local.listen(">");
    const ask = spawnNotify("a", dirs.a, ["ask", "--project", PROJECT, "--timeout", "5s", "rotate vault A's keys?"]);
    await questionInLog("rotate vault A's keys?");
    await collect(ask, 30_000);
    assert.deepEqual(
      everything.messages.filter((m) => m.text.includes("rotate vault A's keys?")).map((m) => m.subject),
      [],
      "the stock leaf heard A's question",
    );
  });

  it("gives a key added to vault A its notify set, and takes it away again when the key is removed", async () => {
    const keysFile = join(dirs.a, "authorized_keys");
    const before = await readFile(keysFile, "utf8");
    const bLine = cli(box, "b", ["key", "show"]).stdout.split("\n")[0];
    const setA = `es.v1.notify.${vault.a}.live.>`;
    await writeFile(keysFile, `${before.trimEnd()}\n${bLine}\n`);
    let admitted: Heard | undefined;
    await waitFor(
      "B's key to be admitted to A's set",
      async () => {
        const b = await hubClient(keys.b);
        admitted = await b.listen(setA);
        return admitted.refused === undefined;
      },
      20_000,
      detail,
    );
    const member = await hubClient(keys.b);
    assert.equal((await member.listen(setA)).refused, undefined);
    const closed = member.nc.closed();
    const removedAt = Date.now();
    await writeFile(keysFile, before);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      closed.then(() => "closed"),
      new Promise<string>((r) => (timer = setTimeout(r, REVOCATION_BOUND_MS, "still open"))),
    ]);
    clearTimeout(timer);
    const cutMs = Date.now() - removedAt;
    assert.equal(
      outcome,
      "closed",
      `B's connection in the hub account stayed open ${REVOCATION_BOUND_MS} ms after its removal from vault A\n${detail()}`,
    );
    const again = await hubClient(keys.b);
    assert.match(
      (await again.listen(setA)).refused ?? "accepted",
      /Permissions Violation/,
      "B still reaches A's set after its removal",
    );
    console.log(`# removed key's hub connection closed ${cutMs} ms after authorized_keys was saved on A`);
  });

  it("does not end A's ask with an answer signed by B, whether B sends it or a member of A relays it", async () => {
    const ask = spawnNotify("a", dirs.a, [
      "ask",
      "--project",
      PROJECT,
      "--json",
      "--timeout",
      "60s",
      "merge vault A's PR?",
    ]);
    const done = collect(ask, 90_000);
    const question = await questionInLog("merge vault A's PR?");
    const signer = (key: Identity) => ({ peerId: key.nkeyPublic, sign: (x: Uint8Array) => key.sign(x) });
    const fromB = newMessage(
      { project: PROJECT, thread: THREAD, body: "yes, says B", replyTo: question.id },
      signer(keys.b),
      "b",
      Date.now(),
    );
    const [b, relay] = [await hubClient(keys.b), await hubClient(keys.a)];
    for (const subject of liveSubjects(vault.a)) {
      b.nc.publish(subject, encodeMessage(fromB));
      relay.nc.publish(subject, encodeMessage(fromB));
    }
    await Promise.all([b.nc.flush(), relay.nc.flush()]);
    // A plain message from A, relayed after B's answer on the same connection: once A's log shows it,
    // B's answer has been past A's agent too.
    const marker = newMessage(
      { project: PROJECT, thread: THREAD, body: "marker after B's answer" },
      signer(keys.a),
      "a",
      Date.now(),
    );
    for (const subject of liveSubjects(vault.a)) relay.nc.publish(subject, encodeMessage(marker));
    await questionInLog("marker after B's answer");
    assert.equal(ask.exitCode, null, `A's ask ended with B's answer: ${JSON.stringify(ask.output())}`);
    const log = await notify("a", dirs.a, ["log", THREAD, "--project", PROJECT, "--json"]);
    assert.ok(!(JSON.parse(log.stdout) as NotifyMessage[]).some((m) => m.id === fromB.id), "A's store kept B's answer");
    const fromA = newMessage(
      { project: PROJECT, thread: THREAD, body: "yes, says A", replyTo: question.id },
      signer(keys.a),
      "a",
      Date.now(),
    );
    relay.nc.publish(liveSubjects(vault.a)[1], encodeMessage(fromA));
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout) as { answer: NotifyMessage };
    assert.equal(answer.answer.id, fromA.id);
  });
});
