/**
 * Threat: a device widens its hub-account permissions with `*` or `>` tokens.
 *
 * On nats-server 2.9.10 a subscribe permission is matched against the subscription's subject as if
 * it were literal, so an allowed `*` also accepts a literal `*` or `>` token there, and the
 * subscription then really is that wider wildcard. A hub in operator mode, device A syncing vault A
 * through its leaf agent, and a phone paired to vault A's notify set (a notify-only key). The phone
 * and A attack with hand-made JWTs on raw clients, and the phone also as a stock leaf server; while
 * they listen, A sends a message, which moves live and store-sync traffic of A's set.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { sandbox, stop, runAsync, type Sandbox } from "../helpers/cli.js";
import { startAgent, startHub, cli, deviceEnv, type RunningAgent } from "../helpers/agents.js";
import { RawClient, stockLeaf, HUB_ACCOUNT_PUBLIC, type Heard } from "../helpers/hand-attacker.js";
import { loadIdentity, loadOrCreateIdentity, type Identity } from "../../agent/auth/identity.js";
import { tlsOptionsForPinned } from "../../agent/auth/pins.js";
import { vaultAccountPublic } from "../../agent/auth/accounts.js";
import type { NotifyMessage } from "../../notify/model.js";
import { waitFor } from "../helpers/wait.js";

describe("hub-account permissions cannot be widened with * or > tokens", () => {
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let dirA = "";
  let vaultA = "";
  let keyA: Identity;
  let phone: Identity;
  let clientUrl = "";
  let certPem = "";
  let sent = 0;
  const open: { close(): Promise<void> }[] = [];
  const detail = () => `--- hub\n${hub?.output().slice(-3000)}\n--- A\n${leafA?.output().slice(-3000)}`;
  const env = (device: string) => ({
    ...deviceEnv(box, device),
    EDGESYNC_NATS_URL: "",
    EDGESYNC_NOTIFY_NAME: device,
    EDGESYNC_ACCEPT_HUB_KEY: "1",
  });
  const notify = (device: string, args: string[], cwd = dirA) =>
    runAsync(["notify", ...args], { env: env(device), cwd });

  async function hubClient(key: Identity): Promise<RawClient> {
    const client = await RawClient.hub(clientUrl, tlsOptionsForPinned(certPem), key, HUB_ACCOUNT_PUBLIC);
    open.push(client);
    return client;
  }

  /** A sends a message in its vault's set and waits until its own log shows it (live and sync traffic have moved). */
  async function traffic(): Promise<string> {
    const body = `traffic ${++sent}`;
    const result = await notify("a", ["send", "--project", "repo", body]);
    assert.equal(result.code, 0, result.stderr);
    await waitFor(
      `the hub's copy of A's set to hold "${body}"`,
      async () => {
        const log = await notify("phone", ["log", "general", "--project", "repo", "--json"], box.dir);
        return log.code === 0 && (JSON.parse(log.stdout) as NotifyMessage[]).some((m) => m.body === body);
      },
      20_000,
      detail,
    );
    return body;
  }

  function assertRefusedAndSilent(heard: Heard[], who: string): void {
    for (const h of heard)
      assert.match(h.refused ?? "accepted", /Permissions Violation/, `${who} subscribed to ${h.subject}`);
    for (const h of heard)
      assert.deepEqual(
        h.messages.map((m) => m.subject),
        [],
        `${who} heard traffic on ${h.subject}`,
      );
  }

  before(async () => {
    box = await sandbox("notify-wildcards");
    hub = await startHub(box, ["a"]);
    clientUrl = `nats://127.0.0.1:${hub.info.ports!.client}`;
    certPem = await readFile(join(hub.home, ".edgesync-server", "tls.crt"), "utf8");
    dirA = join(box.dir, "vault-a");
    await mkdir(dirA);
    await writeFile(join(dirA, "notes.md"), "# A\n");
    assert.equal(cli(box, "a", ["init", "--cwd", dirA, "--name", "vault-a"]).code, 0);
    vaultA = /id = "([^"]+)"/.exec(await readFile(join(dirA, ".edgesync/config.toml"), "utf8"))![1];
    keyA = await loadIdentity(join(deviceEnv(box, "a").EDGESYNC_HOME as string, "id_ed25519"));
    phone = (await loadOrCreateIdentity(join(deviceEnv(box, "phone").EDGESYNC_HOME as string, "id_ed25519"), true))
      .identity;
    leafA = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`,
      "--accept-hub-key",
      "--notify-name",
      "a",
      "--notify-nats-url",
      clientUrl,
      dirA,
    ]);
    await waitFor("the hub to host vault A", () => /vault registered/.test(hub.output()), 30_000, detail);
    // The phone pairs with A's set through the hub's pairing door (the link carries its credentials).
    let pair = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "A's notify service to issue a token",
      async () => {
        pair = await notify("a", ["pair", "--name", "phone", "--json", "--no-qr"]);
        return pair.code === 0;
      },
      20_000,
      () => JSON.stringify(pair) + detail(),
    );
    const joined = await notify("phone", ["join", (JSON.parse(pair.stdout) as { url: string }).url], box.dir);
    assert.equal(joined.code, 0, joined.stderr);
    await waitFor(
      "the hub to admit the phone",
      async () => {
        const whoami = await notify("phone", ["devices", "--json"], box.dir);
        return whoami.code === 0;
      },
      20_000,
      detail,
    );
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    for (const agent of [leafA, hub]) if (agent) await stop(agent, "SIGTERM").catch(() => {});
    await box?.cleanup();
  });

  it("refuses a paired notify-only device every * and > widening, and it hears nothing through them", async () => {
    const client = await hubClient(phone);
    const widened = [
      ">",
      "es.v1.>",
      "es.v1.notify.>",
      "es.v1.notify.*.>",
      "es.v1.notify.sync.>",
      "es.v1.notify.*.*.>",
      "es.v1.notify.*.*.*",
      `es.v1.notify.${vaultA}.>`,
      `es.v1.notify.${vaultA}.*`,
      `es.v1.notify.${vaultA}.*.>`,
      `es.v1.notify.${vaultA}.*.*.*`,
      `es.v1.notify.${vaultA}.sync.>`,
      `es.v1.notify.${vaultA}.rpc.>`,
      "es.v1.vault.>",
      "es.v1.hub.>",
    ];
    const heard: Heard[] = [];
    for (const subject of widened) heard.push(await client.listen(subject));
    const allowed = await client.listen(`es.v1.notify.${vaultA}.live.>`);
    const body = await traffic();
    assertRefusedAndSilent(heard, "the phone");
    await waitFor(
      "the phone's own live subscription to carry A's message",
      () => allowed.messages.some((m) => m.text.includes(body)),
      10_000,
    );
  });

  it("refuses a vault member's hub-account key every * and > widening beyond its own sets", async () => {
    const client = await hubClient(keyA);
    const elsewhere = randomUUID();
    const widened = [
      ">",
      "es.v1.>",
      "es.v1.notify.>",
      "es.v1.notify.*.>",
      "es.v1.notify.*.*",
      "es.v1.notify.*.live.>",
      `es.v1.notify.${elsewhere}.>`,
      "es.v1.hub.>",
    ];
    const heard: Heard[] = [];
    for (const subject of widened) heard.push(await client.listen(subject));
    const own = await client.listen(`es.v1.notify.${vaultA}.>`);
    const body = await traffic();
    assertRefusedAndSilent(heard, "A's member key");
    await waitFor(
      "A's own set subscription to carry its message",
      () => own.messages.some((m) => m.text.includes(body)),
      10_000,
    );
  });

  it("leaves a vault member's * rights in its vault account nothing deeper to reach: nobody may publish below them", async () => {
    const client = await RawClient.hub(clientUrl, tlsOptionsForPinned(certPem), keyA, vaultAccountPublic(vaultA));
    open.push(client);
    const prefix = `es.v1.vault.${vaultA}`;
    const refused: Heard[] = [];
    for (const subject of [">", "es.v1.vault.>", `${prefix}.>`, `${prefix}.p.>`, `${prefix}.p.*.>`, `${prefix}.*.>`])
      refused.push(await client.listen(subject));
    for (const h of refused)
      assert.match(
        h.refused ?? "accepted",
        /Permissions Violation/,
        `A subscribed to ${h.subject} in its vault account`,
      );
    // The `*` in last place of `p.<me>.*` and `announce.*` admits `>` there (2.9), but the only
    // subjects anyone may publish in a vault account have exactly that depth.
    for (const subject of [
      `${prefix}.p.${keyA.nkeyPublic}.x.${keyA.nkeyPublic}`,
      `${prefix}.announce.${keyA.nkeyPublic}.x`,
    ])
      client.nc.publish(subject, "deeper");
    await client.nc.flush();
    await waitFor(
      "both deeper publishes to be refused",
      () => client.errors.filter((e) => /Permissions Violation for Publish/.test(e)).length >= 2,
      5_000,
      () => client.errors.join("\n"),
    );
  });

  it("gives a stock leaf server holding the phone's key only the live messages of its set, even subscribed to >", async () => {
    const dir = join(box.dir, "stock-leaf");
    await mkdir(dir);
    const leaf = await stockLeaf(
      dir,
      `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`,
      join(hub.home, ".edgesync-server", "tls.crt"),
      phone,
      HUB_ACCOUNT_PUBLIC,
    );
    open.push({ close: leaf.stop });
    const local = await RawClient.plain(leaf.url);
    open.push(local);
    const everything = await local.listen(">");
    const body = await traffic();
    // The link works: the live message of the phone's set arrives (so silence elsewhere means refusal).
    await waitFor(
      "the stock leaf to hear the live message",
      () => everything.messages.some((m) => m.text.includes(body)),
      10_000,
      () => leaf.log(),
    );
    await traffic();
    const outside = everything.messages.filter(
      (m) => !m.subject.startsWith(`es.v1.notify.${vaultA}.live.`) && !m.subject.startsWith("_INBOX."),
    );
    assert.deepEqual(
      outside.map((m) => m.subject),
      [],
      "the stock leaf heard subjects outside the phone's template",
    );
  });
});
