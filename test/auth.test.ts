/**
 * Issue 4 end to end: a hub in operator mode, real leaves, and raw NATS clients holding device
 * keys. NATS itself refuses unknown keys, keeps vaults apart, cuts removed devices off and lets
 * them back; a relay with its own certificate is refused by the pin.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile, unlink, readdir } from "node:fs/promises";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { sandbox, stop, readText, exists, runAsync, type Sandbox } from "./helpers/cli.js";
import { startAgent, startHub, cli, deviceEnv, publicKeyLine, type RunningAgent } from "./helpers/agents.js";
import { startTlsRelay } from "./helpers/tls-relay.js";
import { Identity, loadIdentity, type DeviceKey } from "../agent/auth/identity.js";
import { accountAuthenticator } from "../agent/auth/account-user.js";
import { vaultAccountPublic } from "../agent/auth/accounts.js";
import { PinStore, tlsOptionsForPinned } from "../agent/auth/pins.js";
import { certFingerprint } from "../agent/auth/tls.js";
import { vaultAnnounceWildcard, vaultAnnounceSubject } from "../agent/nats/subjects.js";
import { waitFor } from "./helpers/wait.js";

const REVOCATION_TRIALS = 10;
const REVOCATION_BOUND_MS = 5_000;

describe("device authorisation enforced by NATS", () => {
  let box: Sandbox;
  let hub: RunningAgent;
  let leafA: RunningAgent;
  let leafB: RunningAgent;
  let certPem: string;
  let clientUrl: string;
  let leafPort: number;
  const dirs = { a: "", other: "", b: "" };
  const vault = { main: "", other: "" };
  const open: NatsConnection[] = [];
  const detail = () =>
    `--- hub\n${hub?.output().slice(-4000)}\n--- A\n${leafA?.output().slice(-2000)}\n--- B\n${leafB?.output().slice(-2000)}`;
  const vaultId = async (root: string) =>
    /id = "([^"]+)"/.exec(await readFile(join(root, ".edgesync/config.toml"), "utf8"))![1];
  const device = (name: string) => loadIdentity(join(deviceEnv(box, name).EDGESYNC_HOME as string, "id_ed25519"));

  async function connectAs(key: DeviceKey, id: string): Promise<NatsConnection> {
    const nc = await connect({
      servers: clientUrl,
      tls: tlsOptionsForPinned(certPem),
      authenticator: await accountAuthenticator(key, vaultAccountPublic(id)),
      reconnect: false,
      timeout: 5_000,
    });
    open.push(nc);
    return nc;
  }

  async function setKeys(lines: string[]): Promise<void> {
    await writeFile(join(dirs.a, "authorized_keys"), `${lines.join("\n")}\n`);
  }

  before(async () => {
    box = await sandbox("auth");
    const aLine = publicKeyLine(box, "a");
    hub = await startHub(box, ["a"]);
    clientUrl = `nats://127.0.0.1:${hub.info.ports!.client}`;
    leafPort = hub.info.ports!.leafnode!;
    certPem = await readFile(join(hub.home, ".edgesync-server", "tls.crt"), "utf8");
    dirs.a = join(box.dir, "a");
    dirs.other = join(box.dir, "other");
    dirs.b = join(box.dir, "b");
    for (const d of [dirs.a, dirs.other]) await mkdir(d);
    await writeFile(join(dirs.a, "plan.md"), "# Plan\n");
    await writeFile(join(dirs.other, "secret.md"), "vault B only\n");
    assert.equal(cli(box, "a", ["init", "--cwd", dirs.a, "--name", "main"]).code, 0);
    assert.equal(cli(box, "a", ["init", "--cwd", dirs.other, "--name", "other"]).code, 0);
    [vault.main, vault.other] = [await vaultId(dirs.a), await vaultId(dirs.other)];
    leafA = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${leafPort}`,
      "--accept-hub-key",
      dirs.a,
      dirs.other,
    ]);
    await waitFor(
      "the hub to host both vaults",
      () => (hub.output().match(/vault registered/g) ?? []).length >= 2,
      30_000,
      detail,
    );
    await setKeys([aLine, publicKeyLine(box, "b"), publicKeyLine(box, "c")]);
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "B to clone the main vault",
      () => {
        cloned = cli(box, "b", ["clone", clientUrl, dirs.b, "--vault", "main", "--accept-hub-key"]);
        return cloned.code === 0;
      },
      30_000,
      () => cloned.stderr + detail(),
    );
    leafB = await startAgent(box, "b", ["--cwd", dirs.b]);
  });

  after(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => {})));
    for (const agent of [leafA, leafB, hub]) if (agent) await stop(agent, "SIGINT");
    await box.cleanup();
  });

  it("refuses a self-issued JWT from a key that is not in authorized_keys", async () => {
    const mallory = Identity.generate("mallory");
    await assert.rejects(connectAs(mallory, vault.main), /authorization/i);
  });

  it("refuses `edgesync clone` by an unknown key and writes no vault data", async () => {
    const target = join(box.dir, "mallory-clone");
    const result = cli(box, "mallory", ["clone", clientUrl, target, "--accept-hub-key"]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^edgesync: .*refused this device/m);
    const written = await readdir(target).catch(() => []);
    assert.deepEqual(
      written.filter((n) => n !== ".edgesync"),
      [],
    );
  });

  it("keeps a device of one vault out of another vault's subjects on the same hub", async () => {
    const b = await device("b");
    await assert.rejects(connectAs(b, vault.other), /authorization/i);
    const nc = await connectAs(b, vault.main);
    const violation = (async () => {
      for await (const s of nc.status() as AsyncIterable<Status>) if (s.type === "error") return String(s.error);
      return "";
    })();
    nc.subscribe(vaultAnnounceWildcard(vault.other), { callback: () => {} });
    assert.match(await violation, /Permissions Violation for Subscription to "es\.v1\.vault\.[^"]+\.announce\.\*"/);
    const again = (async () => {
      for await (const s of nc.status() as AsyncIterable<Status>) if (s.type === "error") return String(s.error);
      return "";
    })();
    nc.publish(vaultAnnounceSubject(vault.other, b.nkeyPublic), "x");
    assert.match(await again, /Permissions Violation for Publish/);
  });

  it(`cuts a removed device off within ${REVOCATION_BOUND_MS / 1000} s, ${REVOCATION_TRIALS} times, and lets it back when re-added`, async () => {
    const [a, b, c] = [publicKeyLine(box, "a"), publicKeyLine(box, "b"), publicKeyLine(box, "c")];
    const bKey = await device("b");
    const times: number[] = [];
    for (let trial = 0; trial < REVOCATION_TRIALS; trial++) {
      let nc: NatsConnection | undefined;
      await waitFor(
        "B to be admitted",
        async () => {
          nc = await connectAs(bKey, vault.main).catch(() => undefined);
          return nc !== undefined;
        },
        30_000,
        detail,
      );
      const closed = nc!.closed();
      const saved = Date.now();
      await setKeys([a, c]);
      await closed;
      times.push(Date.now() - saved);
      await setKeys([a, b, c]);
    }
    const sorted = [...times].sort((x, y) => x - y);
    const report = {
      trials: times.length,
      p50Ms: sorted[Math.floor(sorted.length / 2)],
      maxMs: sorted.at(-1),
      timesMs: times,
    };
    console.log(`revocation: ${JSON.stringify(report)}`);
    await mkdir("test/artifacts", { recursive: true });
    await writeFile("test/artifacts/revocation.json", `${JSON.stringify(report, null, 2)}\n`);
    assert.ok(report.maxMs! < REVOCATION_BOUND_MS, `revocation took ${report.maxMs} ms`);
    await waitFor(
      "the hub to log the removal with the key's fingerprint and comment",
      () => /"fingerprint":"SHA256:[^"]+","comment":"[^"]*","msg":"peer removed"/.test(hub.output()),
      10_000,
      detail,
    );
  });

  it("keeps a removed leaf's later edits from everyone, and syncs them once its key is back", async () => {
    const [a, b, c] = [publicKeyLine(box, "a"), publicKeyLine(box, "b"), publicKeyLine(box, "c")];
    const bKey = await device("b");
    await setKeys([a, c]);
    await waitFor(
      "B to be refused",
      async () =>
        await connectAs(bKey, vault.main).then(
          () => false,
          () => true,
        ),
      30_000,
      detail,
    );
    await writeFile(join(dirs.b, "after-removal.md"), "written while removed\n");
    await writeFile(join(dirs.a, "marker.md"), "A after the removal\n");
    // A fresh clone is in step with the hub, the only path between devices.
    const probe = join(box.dir, "c-probe");
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "C to clone with A's marker",
      async () => {
        await unlink(probe).catch(() => {});
        cloned = cli(box, "c", [
          "clone",
          clientUrl,
          join(probe, String(Date.now())),
          "--vault",
          "main",
          "--accept-hub-key",
          "--json",
        ]);
        if (cloned.code !== 0) return false;
        const root = (JSON.parse(cloned.stdout) as { root: string }).root;
        return (
          (await readText(join(root, "marker.md"))) === "A after the removal\n" &&
          !(await exists(join(root, "after-removal.md")))
        );
      },
      30_000,
      () => cloned.stderr + detail(),
    );
    assert.equal(await exists(join(dirs.a, "after-removal.md")), false);
    await setKeys([a, b, c]);
    await waitFor(
      "B's edit to reach A after re-adding its key",
      async () => (await readText(join(dirs.a, "after-removal.md"))) === "written while removed\n",
      60_000,
      detail,
    );
  });

  it("never locks anyone out when authorized_keys is deleted on a device", async () => {
    await unlink(join(dirs.a, "authorized_keys"));
    await writeFile(join(dirs.b, "still-in.md"), "B still syncs\n");
    await waitFor(
      "B's edit at A",
      async () => (await readText(join(dirs.a, "still-in.md"))) === "B still syncs\n",
      30_000,
      detail,
    );
    await waitFor("authorized_keys back on A", () => exists(join(dirs.a, "authorized_keys")), 30_000, detail);
  });

  it("runs a leaf whose device key lives only in an ssh-agent", async () => {
    const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => publicKeyLine(box, n));
    const dHome = deviceEnv(box, "d").EDGESYNC_HOME as string;
    const socket = join(box.dir, "ssh-agent.sock");
    const sshAgent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    try {
      await waitFor("ssh-agent's socket", () => exists(socket), 10_000);
      const added = spawnSync("ssh-add", [join(dHome, "id_ed25519")], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
        encoding: "utf8",
      });
      assert.equal(added.status, 0, added.stderr);
      await unlink(join(dHome, "id_ed25519")); // only the .pub stays on disk
      await setKeys([a, b, c, d]);
      const root = join(box.dir, "d");
      let cloned = { code: 1, stdout: "", stderr: "" };
      await waitFor(
        "D to clone through its agent",
        () => {
          cloned = cli(box, "d", [
            "clone",
            clientUrl,
            root,
            "--vault",
            "main",
            "--accept-hub-key",
            "--identity-agent",
            socket,
          ]);
          return cloned.code === 0;
        },
        30_000,
        () => cloned.stderr + detail(),
      );
      const leafD = await startAgent(box, "d", ["--cwd", root, "--identity-agent", socket]);
      try {
        await writeFile(join(root, "from-agent-key.md"), "signed by ssh-agent\n");
        await waitFor(
          "D's file at A",
          async () => (await readText(join(dirs.a, "from-agent-key.md"))) === "signed by ssh-agent\n",
          30_000,
          () => leafD.output() + detail(),
        );
      } finally {
        await stop(leafD, "SIGINT");
      }
    } finally {
      sshAgent.kill();
    }
  });

  it("refuses a TLS relay with its own certificate between device and hub, and no data crosses", async () => {
    const fingerprint = certFingerprint(certPem);
    for (const [label, port, scheme] of [
      ["client", hub.info.ports!.client, "nats"],
      ["leafnode", leafPort, "nats-leaf"],
    ] as const) {
      const relay = await startTlsRelay(port);
      try {
        const url = `${scheme}://127.0.0.1:${relay.port}`;
        // The device trusted this address earlier (the real hub was there); now someone sits on it.
        await new PinStore(join(deviceEnv(box, "b").EDGESYNC_HOME as string, "known_hubs.json")).trust(url, {
          certFingerprint: fingerprint,
        });
        const args =
          label === "client"
            ? ["clone", url, join(box.dir, "via-relay")]
            : ["sync", "start", "--nats-role", "leaf", "--hub", url, "--cwd", dirs.b];
        const result = await runAsync(args, { env: deviceEnv(box, "b") });
        assert.notEqual(result.code, 0, `${label}: ${result.stdout}`);
        assert.match(result.stderr, /^edgesync: the TLS certificate of hub 127\.0\.0\.1:\d+ changed/m, label);
        assert.equal(relay.forwardedBytes(), 0, `${label}: bytes crossed the relay`);
      } finally {
        await relay.close();
      }
    }
  });

  it("keeps the hub's key and says why when authorized_keys is emptied", async () => {
    await writeFile(join(dirs.a, "authorized_keys"), "# nobody\n");
    await waitFor(
      "the hub to say why it keeps its own key",
      () => /keeping the hub's key SHA256:[^ ]+ \([^)]*\) so the vault stays reachable/.test(hub.output()),
      30_000,
      detail,
    );
  });
});
