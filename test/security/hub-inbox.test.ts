/**
 * Threat: replies in the hub account are shared. A hub-account user allowed to subscribe to
 * `_INBOX.>` would read the discovery answer meant for a member of another vault (vault ids and
 * names), and replaying that member's signed discovery request from its own connection would get
 * the same answer. The attacker here is a hand-written NATS client (raw protocol over TLS,
 * client and leafnode ports) holding B's legitimate credentials; A uses the real CLI and agent.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, type Sandbox } from "../helpers/cli.js";
import { startAgent, startHub, cli, deviceEnv, type RunningAgent } from "../helpers/agents.js";
import { RawNatsClient } from "../helpers/raw-nats-tls.js";
import { loadIdentity, type Identity } from "../../agent/auth/identity.js";
import { issueAccountCredentials } from "../../agent/auth/account-user.js";
import { ephemeralUserKey } from "../../agent/auth/native-ed25519.js";
import { HUB_ACCOUNT_PUBLIC } from "../../agent/auth/accounts.js";
import { signRequest } from "../../agent/auth/signed-request.js";
import { HUB_VAULTS_SUBJECT } from "../../agent/nats/subjects.js";
import { waitFor } from "../helpers/wait.js";

/** Generous: the hub answers in milliseconds. */
const REPLY_TIMEOUT_MS = 10_000;
const SECRET_VAULT_NAME = "alpha-secret-plans";

describe("hub-account replies reach only the device that asked", () => {
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  let certPem: string;
  let clientPort: number;
  let leafPort: number;
  let a: Identity;
  let b: Identity;
  const raws: RawNatsClient[] = [];
  const detail = () =>
    `--- hub\n${hub?.output().slice(-4000)}\n--- A\n${leafA?.output().slice(-2000)}\n--- B\n${leafB?.output().slice(-2000)}`;

  /** B's own hub-account credentials, used by a client that is not the project's. */
  async function rawAsB(leaf = false): Promise<RawNatsClient> {
    const user = ephemeralUserKey();
    const { jwt } = await issueAccountCredentials(b, HUB_ACCOUNT_PUBLIC, "mallory-as-b", user);
    const raw = await RawNatsClient.connect({
      host: "127.0.0.1",
      port: leaf ? leafPort : clientPort,
      caPem: certPem,
      leaf,
      auth: (nonce) => ({ jwt, sig: user.signNonce(nonce) }),
    });
    raws.push(raw);
    return raw;
  }

  /** A's discovery, by the real CLI: a clone of A's vault whose answer names the vault. */
  function discoverAsA(): void {
    const result = cli(box, "a", [
      "clone",
      `nats://127.0.0.1:${clientPort}`,
      join(box.dir, `a-clone-${Date.now()}`),
      "--vault",
      SECRET_VAULT_NAME,
      "--accept-hub-key",
    ]);
    assert.equal(result.code, 0, result.stderr + detail());
  }

  before(async () => {
    box = await sandbox("hub-inbox");
    hub = await startHub(box, ["a", "b"]);
    clientPort = hub.info.ports!.client;
    leafPort = hub.info.ports!.leafnode!;
    certPem = await readFile(join(hub.home, ".edgesync-server", "tls.crt"), "utf8");
    const [dirA, dirB] = [join(box.dir, "a"), join(box.dir, "b")];
    for (const dir of [dirA, dirB]) await mkdir(dir);
    await writeFile(join(dirA, "plan.md"), "# A's plan\n");
    assert.equal(cli(box, "a", ["init", "--cwd", dirA, "--name", SECRET_VAULT_NAME]).code, 0);
    assert.equal(cli(box, "b", ["init", "--cwd", dirB, "--name", "bravo"]).code, 0);
    a = await loadIdentity(join(deviceEnv(box, "a").EDGESYNC_HOME as string, "id_ed25519"));
    b = await loadIdentity(join(deviceEnv(box, "b").EDGESYNC_HOME as string, "id_ed25519"));
    const leafArgs = ["--nats-role", "leaf", "--hub", `nats-leaf://127.0.0.1:${leafPort}`, "--accept-hub-key"];
    // Registration is a signed request whose answer crosses each leaf's link: it must still arrive.
    leafA = await startAgent(box, "a", [...leafArgs, dirA]);
    leafB = await startAgent(box, "b", [...leafArgs, dirB]);
    await waitFor(
      "the hub to host both vaults (registered through the leaves)",
      () => (hub.output().match(/vault registered/g) ?? []).length >= 2,
      30_000,
      detail,
    );
    // The first answer may be lost: registering changes the key's notify sets, and 2.9.10 then drops the
    // device's hub-account link; the leaf asks again and hears "hosts" instead of "now hosts".
    const hosted = /the hub (now )?hosts this vault/;
    await waitFor(
      "both leaves to hear the hub's answer",
      () => hosted.test(leafA.output()) && hosted.test(leafB.output()),
      30_000,
      detail,
    );
  });

  after(async () => {
    for (const raw of raws) raw.close();
    for (const agent of [leafA, leafB, hub]) if (agent) await stop(agent, "SIGINT");
    await box.cleanup();
  });

  it("refuses a member of another vault who subscribes to every reply inbox, and delivers it none of A's answer", async () => {
    const raw = await rawAsB();
    const wide = ["_INBOX.>", "_INBOX.*", "_INBOX.*.>", "_INBOX.*.*", ">", `_INBOX.${a.nkeyPublic}.>`];
    wide.forEach((subject, i) => raw.sub(subject, `w${i}`));
    raw.sub(`_INBOX.${b.nkeyPublic}.>`, "own");
    await raw.ping();
    for (const subject of wide) {
      assert.ok(
        raw.errors.some((e) => e.includes(`Permissions Violation for Subscription to "${subject}"`)),
        `no violation for ${subject}: ${JSON.stringify(raw.errors)}`,
      );
    }
    assert.ok(
      !raw.errors.some((e) => e.includes(`_INBOX.${b.nkeyPublic}.>`)),
      `B's own inbox was refused: ${JSON.stringify(raw.errors)}`,
    );
    discoverAsA();
    await raw.ping();
    assert.deepEqual(
      raw.messages.filter((m) => m.data.includes(SECRET_VAULT_NAME)),
      [],
      "B read A's discovery answer",
    );
  });

  it("gives no answer to A's signed discovery request replayed from B's connection", async () => {
    const raw = await rawAsB();
    const inbox = `_INBOX.${b.nkeyPublic}.replay`;
    raw.sub(`${inbox}.*`, "r");
    const captured = await signRequest(a, "catalogue", {});
    raw.pub(HUB_VAULTS_SUBJECT, captured, `${inbox}.1`);
    await waitFor("the hub's answer to the replay", () => raw.messages.length > 0, REPLY_TIMEOUT_MS);
    await raw.ping();
    assert.equal(raw.messages.length, 1, JSON.stringify(raw.messages));
    assert.doesNotMatch(raw.messages[0].data, new RegExp(SECRET_VAULT_NAME), "the replay got A's vaults");
    assert.match(
      raw.messages[0].data,
      /"ok":false,"error":"the request's reply subject is not an inbox of the key that signed it/,
    );
  });

  it("delivers none of A's answer to a leaf link of B's key that asks for every inbox", async () => {
    const raw = await rawAsB(true);
    for (const subject of ["_INBOX.>", ">", `_INBOX.${a.nkeyPublic}.>`]) raw.write(`LS+ ${subject}`);
    await raw.ping();
    discoverAsA();
    await raw.ping();
    assert.deepEqual(
      raw.messages.filter((m) => m.data.includes(SECRET_VAULT_NAME)),
      [],
      "B's leaf link carried A's discovery answer",
    );
  });
});
