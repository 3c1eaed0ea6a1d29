/**
 * One operator for a cluster of hubs: every account JWT any hub pushes must admit every hub's
 * replica, and a key removed from a vault's authorized_keys must be cut off on every hub.
 *
 * Three hubs share one imported bundle; leaf A (linked to any of them) edits the vault's
 * authorized_keys; M is a member with no agent of ours: a hand-written NATS client made with M's
 * key alone dials each hub's client port. Hub 1 starts first, so in a cluster where the last hub
 * to push an account wins, hub 1's replica is the one left without a signer: it must still serve
 * the vault on its own once the other hubs are gone.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { sandbox, stop, readText, type Sandbox } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";
import { startAgent, cli, publicKeyLine, type RunningAgent } from "../helpers/agents.js";
import { connectRaw } from "../helpers/raw-member.js";
import { loadIdentity, type Identity } from "../../agent/auth/identity.js";
import { accountAuthenticator } from "../../agent/auth/account-user.js";
import { vaultAccountPublic } from "../../agent/auth/accounts.js";
import { tlsOptionsForPinned } from "../../agent/auth/pins.js";

const SYNC_TIMEOUT_MS = 90_000;
const HUBS = 3;
/** How long hub 1 is watched after hub 2 restarts: past a restarted hub's catching up with the cluster. */
const WATCH_AFTER_RESTART_MS = 8_000;

interface Ports {
  client: number;
  leafnode: number;
  cluster: number;
}
const portsOf = (agent: RunningAgent) => agent.info.ports as Ports;
const hubArgs = (peers: string[], dir: string) => [
  "--nats-role",
  "hub",
  "--nats-listen",
  "127.0.0.1:-1",
  "--leaf-listen",
  "127.0.0.1:-1",
  "--cluster-listen",
  "127.0.0.1:-1",
  ...peers.flatMap((p) => ["--peer", p]),
  "--cwd",
  dir,
];

describe("one operator for a cluster of hubs", () => {
  let box: Sandbox;
  let a: string;
  let vaultId: string;
  let certPem: string;
  let m: Identity;
  const hubs: RunningAgent[] = [];
  const agents: RunningAgent[] = [];
  const open: NatsConnection[] = [];
  const detail = () => [...hubs, ...agents].map((x) => x.output().slice(-3000)).join("\n---\n");
  const keysWith = (names: string[]) => names.map((n) => publicKeyLine(box, n)).join("\n") + "\n";

  /** M's own connection into the vault's account on `hub`, or the error that refused it. */
  const dialAsM = async (hub: RunningAgent): Promise<NatsConnection | Error> => {
    try {
      const nc = await connectRaw(`nats://127.0.0.1:${portsOf(hub).client}`, {
        tls: tlsOptionsForPinned(certPem),
        authenticator: await accountAuthenticator(m, vaultAccountPublic(vaultId)),
      });
      open.push(nc);
      return nc;
    } catch (error) {
      return error as Error;
    }
  };

  before(async () => {
    box = await sandbox("hub-cluster-keys");
    const adminEnv = { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") };
    hubs.push(await startAgent(box, "hub1", hubArgs([], box.dir), adminEnv));
    a = join(box.dir, "a");
    await mkdir(a);
    await writeFile(join(a, "welcome.md"), "# Welcome\n");
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "team"]).code, 0);
    await writeFile(join(a, "authorized_keys"), keysWith(["a", "b", "m"]));
    vaultId = /id = "([^"]+)"/.exec(await readFile(join(a, ".edgesync/config.toml"), "utf8"))![1];
    const first = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${portsOf(hubs[0]).leafnode}`,
      "--accept-hub-key",
      "--cwd",
      a,
    ]);
    await waitFor(
      "hub 1 to host A's vault",
      () => /the hub (now )?hosts this vault/.test(first.output()),
      SYNC_TIMEOUT_MS,
      () => first.output(),
    );
    await stop(first, "SIGINT");
    const bundle = join(box.dir, "bundle.json");
    assert.equal(cli(box, "hub1", ["hub", "export", "--out", bundle]).code, 0);
    const route1 = `nats-route://127.0.0.1:${portsOf(hubs[0]).cluster}`;
    for (let i = 2; i <= HUBS; i++) {
      assert.equal(cli(box, `hub${i}`, ["hub", "import", bundle]).code, 0);
      hubs.push(await startAgent(box, `hub${i}`, hubArgs([route1], box.dir), adminEnv));
    }
    certPem = await readFile(join(hubs[0].home, ".edgesync-server", "tls.crt"), "utf8");
    m = await loadIdentity(join(box.dir, "m-home", "id_ed25519"));
    const leafUrls = hubs.flatMap((h) => ["--hub", `nats-leaf://127.0.0.1:${portsOf(h).leafnode}`]);
    agents.push(await startAgent(box, "a", ["--nats-role", "leaf", ...leafUrls, "--accept-hub-key", "--cwd", a]));
  });

  after(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => {})));
    for (const agent of [...agents, ...hubs].reverse()) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  // How fast is measured, not asserted (a loaded machine is slow, not broken): the times go to the
  // test's diagnostics; the goal is 5 s on every hub.
  it("cuts a key removed on a device off on every hub, and lets it back on every hub when re-added", async (t) => {
    const before: NatsConnection[] = [];
    for (const [i, hub] of hubs.entries()) {
      let last: NatsConnection | Error = new Error("not dialled");
      await waitFor(
        `M admitted on hub ${i + 1}`,
        async () => !((last = await dialAsM(hub)) instanceof Error),
        SYNC_TIMEOUT_MS,
        () => `${String(last)}\n${detail()}`,
      );
      if (!(last instanceof Error)) before.push(last);
    }

    await writeFile(join(a, "authorized_keys"), keysWith(["a", "b"]));
    const removedAt = Date.now();
    await waitFor(
      "M's connections closed on every hub",
      () => before.every((nc) => nc.isClosed()),
      SYNC_TIMEOUT_MS,
      () => `${before.map((nc) => nc.isClosed()).join(",")}\n${detail()}`,
    );
    const cutOffMs = Date.now() - removedAt;
    for (const [i, hub] of hubs.entries())
      assert.ok((await dialAsM(hub)) instanceof Error, `hub ${i + 1} refuses M after the removal`);
    t.diagnostic(`M cut off on every hub ${cutOffMs} ms after its key left authorized_keys`);

    await writeFile(join(a, "authorized_keys"), keysWith(["a", "b", "m"]));
    const addedAt = Date.now();
    const admitted = new Set<number>();
    await waitFor(
      "M admitted again on every hub",
      async () => {
        for (const [i, hub] of hubs.entries())
          if (!admitted.has(i) && !((await dialAsM(hub)) instanceof Error)) admitted.add(i);
        return admitted.size === hubs.length;
      },
      SYNC_TIMEOUT_MS,
      () => `${[...admitted].join(",")}\n${detail()}`,
    );
    const readdMs = Date.now() - addedAt;
    t.diagnostic(`M admitted on every hub ${readdMs} ms after its key was added back`);
  });

  it("keeps hub 1's replica signed after the other hubs started: alone, it serves an edit made once all were up", async () => {
    await writeFile(join(a, "after-join.md"), "made with every hub up\n");
    for (const hub of hubs.slice(1)) await stop(hub, "SIGINT");
    const fresh = join(box.dir, "fresh");
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "a clone from hub 1 alone holding the edit",
      async () => {
        await rm(fresh, { recursive: true, force: true });
        cloned = cli(box, "b", [
          "clone",
          `nats://127.0.0.1:${portsOf(hubs[0]).client}`,
          fresh,
          "--accept-hub-key",
          "--timeout-ms",
          "10000",
        ]);
        return cloned.code === 0 && (await readText(join(fresh, "after-join.md"))) === "made with every hub up\n";
      },
      SYNC_TIMEOUT_MS,
      () => cloned.stderr + detail(),
    );
  });

  // A hub that was down while a key was removed still lists it in its vaults.json. Pushing that at
  // start, with a newer issue time than the removal, would make every hub's resolver take it back.
  it("does not re-admit a removed key on the other hubs when a hub that missed the removal restarts", async () => {
    await writeFile(join(a, "authorized_keys"), keysWith(["a", "b"]));
    await waitFor(
      "M refused on hub 1 (hubs 2 and 3 are down)",
      async () => (await dialAsM(hubs[0])) instanceof Error,
      SYNC_TIMEOUT_MS,
      detail,
    );
    const route1 = `nats-route://127.0.0.1:${portsOf(hubs[0]).cluster}`;
    hubs[1] = await startAgent(box, "hub2", hubArgs([route1], box.dir), {
      EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a"),
    });
    // Watch hub 1 from hub 2's start until hub 2 itself refuses M, and for a settle window more.
    const admittedOnHub1: number[] = [];
    const started = Date.now();
    let hub2Refuses = false;
    await waitFor(
      "hub 2 to refuse M, with hub 1 watched throughout",
      async () => {
        if (!((await dialAsM(hubs[0])) instanceof Error)) admittedOnHub1.push(Date.now() - started);
        hub2Refuses ||= (await dialAsM(hubs[1])) instanceof Error;
        return hub2Refuses && Date.now() - started > WATCH_AFTER_RESTART_MS;
      },
      SYNC_TIMEOUT_MS,
      detail,
    );
    assert.deepEqual(admittedOnHub1, [], "hub 1 admitted the removed key (ms after hub 2's start)");
  });
});
