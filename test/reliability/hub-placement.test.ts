/**
 * Vault placement over a cluster of three hubs with `--replicas 2`: a vault registered after the
 * bundle was exported is known to every hub (the shared catalogue), its replica is in memory on
 * exactly the two hubs rendezvous hashing names, a clone through the third hub (which holds no
 * replica) works, and SIGKILLing one of the two moves the replica to the third, which then holds
 * every file. Real binaries, real nats-servers, loopback; placement read from each hub's /healthz.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { sandbox, stop, readText, type Sandbox } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";
import { startAgent, cli, publicKeyLine, type RunningAgent } from "../helpers/agents.js";
import { placeVault } from "../../agent/hub/placement.js";
import { connectRaw } from "../helpers/raw-member.js";
import { loadIdentity } from "../../agent/auth/identity.js";
import { accountAuthenticator } from "../../agent/auth/account-user.js";
import { HUB_ACCOUNT_PUBLIC, vaultAccountPublic } from "../../agent/auth/accounts.js";
import { tlsOptionsForPinned } from "../../agent/auth/pins.js";
import { connectToHubAccount, requestCatalogue } from "../../agent/hub-link/hub-client.js";
import { sshFingerprint, parseSshPublicLine } from "../../agent/auth/openssh-format.js";
import { connect, keyFromSeed, sshPublicLineOf, BridgeError, type SigningKey } from "../../bridge/client/index.js";
import { nodeSocket } from "../../bridge/node/index.js";

const SYNC_TIMEOUT_MS = 90_000;
const REPLICAS = 2;
/** Short, so the test sees a released replica go; the default is half a minute. */
const HANDOVER_MS = 2_000;
/** A member listens this long for the hubs' cluster traffic: several of their one-second hellos. */
const EAVESDROP_MS = 3_500;
/** Catalogue requests per hub: with any hub answering, one in three would come from the dialled hub. */
const DISCOVERY_ASKS = 8;

interface Ports {
  client: number;
  leafnode: number;
  cluster: number;
}
interface Health {
  detail: { vaults: { id: string; replica?: unknown }[]; cluster?: { self: string; liveHubs: string[] } };
}
interface Hub {
  agent: RunningAgent;
  metricsPort: number;
}

const portsOf = (agent: RunningAgent) => agent.info.ports as Ports;

describe("vault placement: R of N hubs host each vault", () => {
  let box: Sandbox;
  let a: string;
  let vaultId: string;
  const hubs: Hub[] = [];
  const agents: RunningAgent[] = [];
  const detail = () => [...hubs.map((h) => h.agent), ...agents].map((x) => x.output().slice(-3000)).join("\n---\n");

  async function startHub(name: string, peers: string[]): Promise<Hub> {
    const agent = await startAgent(
      box,
      name,
      [
        "--nats-role",
        "hub",
        "--nats-listen",
        "127.0.0.1:-1",
        "--leaf-listen",
        "127.0.0.1:-1",
        "--cluster-listen",
        "127.0.0.1:-1",
        ...peers.flatMap((p) => ["--peer", p]),
        "--replicas",
        String(REPLICAS),
        "--replica-handover-ms",
        String(HANDOVER_MS),
        "--metrics",
        "127.0.0.1:0",
        "--bridge",
        "127.0.0.1:0",
        "--cwd",
        box.dir,
      ],
      { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") },
    );
    const metricsLine = /"port":(\d+)[^}]*"msg":"metrics on/;
    await waitFor(
      `${name}'s metrics port`,
      () => metricsLine.test(agent.output()),
      SYNC_TIMEOUT_MS,
      () => agent.output(),
    );
    return { agent, metricsPort: Number(metricsLine.exec(agent.output())![1]) };
  }

  async function health(hub: Hub): Promise<Health["detail"]> {
    return ((await (await fetch(`http://127.0.0.1:${hub.metricsPort}/healthz`)).json()) as Health).detail;
  }

  /** The ids of the hubs (of `among`) holding a replica of the vault now. */
  async function hosting(among: Hub[]): Promise<string[]> {
    const reports = await Promise.all(among.map(health));
    return reports
      .filter((r) => r.vaults.some((v) => v.id === vaultId && v.replica !== undefined))
      .map((r) => r.cluster!.self)
      .sort();
  }

  const idOf = async (hub: Hub) => (await health(hub)).cluster!.self;
  /** Set by the first test for the second: the placement with all three hubs, and who was killed. */
  let placed: string[] = [];
  let ids: string[] = [];
  let victimIndex = -1;

  before(async () => {
    box = await sandbox("hub-placement");
    hubs.push(await startHub("hub1", []));
    // Exported before any vault exists: the vault registered later reaches hubs 2 and 3 through
    // the cluster's catalogue, not through the bundle.
    const bundle = join(box.dir, "bundle.json");
    assert.equal(cli(box, "hub1", ["hub", "export", "--out", bundle]).code, 0);
    const route1 = `nats-route://127.0.0.1:${portsOf(hubs[0].agent).cluster}`;
    for (const name of ["hub2", "hub3"]) {
      assert.equal(cli(box, name, ["hub", "import", bundle]).code, 0);
      hubs.push(await startHub(name, [route1]));
    }
    await waitFor(
      "every hub to hear the other two",
      async () => (await Promise.all(hubs.map(health))).every((h) => h.cluster?.liveHubs.length === 3),
      SYNC_TIMEOUT_MS,
      detail,
    );

    a = join(box.dir, "a");
    await mkdir(a);
    await writeFile(join(a, "welcome.md"), "# Welcome\n");
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "team"]).code, 0);
    await writeFile(
      join(a, "authorized_keys"),
      `${await readText(join(a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
    );
    vaultId = /id\s*=\s*"([0-9a-f-]{36})"/.exec((await readText(join(a, ".edgesync", "config.toml"))) ?? "")![1];
    const leafUrls = hubs.flatMap((h) => ["--hub", `nats-leaf://127.0.0.1:${portsOf(h.agent).leafnode}`]);
    const leafA = await startAgent(box, "a", ["--nats-role", "leaf", ...leafUrls, "--accept-hub-key", "--cwd", a]);
    agents.push(leafA);
    await waitFor(
      "a hub to register A's vault",
      () => /the hub (now )?hosts this vault/.test(leafA.output()),
      SYNC_TIMEOUT_MS,
      detail,
    );
  });

  after(async () => {
    for (const agent of [...agents, ...hubs.map((h) => h.agent)].reverse()) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  // The catalogue holds every vault's name and members: a member of one vault who could read it, or
  // forge a hub's hello, would learn about other vaults or skew placement. It lives in the system
  // account, which no member's credentials reach, from either account a member may enter.
  it("keeps a member's hand-written client out of the hubs' catalogue and placement traffic", async () => {
    const member = await loadIdentity(join(box.dir, "b-home", "id_ed25519"));
    const certPem = await readText(join(hubs[0].agent.home, ".edgesync-server", "tls.crt"));
    const ids = await Promise.all(hubs.map(idOf));
    const fakeHub = `U${"A".repeat(55)}`;
    for (const account of [vaultAccountPublic(vaultId), HUB_ACCOUNT_PUBLIC]) {
      const nc = await connectRaw(`nats://127.0.0.1:${portsOf(hubs[0].agent).client}`, {
        tls: tlsOptionsForPinned(certPem!),
        authenticator: await accountAuthenticator(member, account),
      });
      try {
        const heard: string[] = [];
        // The member's permissions may refuse the subscription outright (an error here): also nothing heard.
        nc.subscribe("es.v1.cluster.>", {
          callback: (error, msg) => {
            if (!error) heard.push(`${msg.subject}: ${msg.string().slice(0, 80)}`);
          },
        });
        for (const subject of [`es.v1.cluster.versions.${ids[0]}`, `es.v1.cluster.entries.${ids[0]}`]) {
          const asked = await nc
            .request(subject, new TextEncoder().encode(JSON.stringify({ ids: [vaultId] })), { timeout: 2_000 })
            .then(
              (reply) => `answered: ${reply.string().slice(0, 80)}`,
              (error: unknown) => String(error),
            );
          assert.doesNotMatch(asked, /^answered/, `${subject} from account ${account}`);
        }
        const forged = { hub: fakeHub, digest: "0".repeat(64) };
        for (let i = 0; i < 5; i++) nc.publish("es.v1.cluster.hello", new TextEncoder().encode(JSON.stringify(forged)));
        await new Promise((resolve) => setTimeout(resolve, EAVESDROP_MS));
        assert.deepEqual(heard, [], `cluster traffic heard in account ${account}`);
      } finally {
        await nc.close();
      }
    }
    for (const hub of hubs)
      assert.deepEqual((await health(hub)).cluster!.liveHubs, [...ids].sort(), "no forged hub joined placement");
  });

  /** Opens the vault through `hub`'s bridge (the project's client, pinned to the bridge's certificate). */
  async function viaBridge(hub: Hub, key: SigningKey) {
    const info = JSON.parse(await readFile(join(hub.agent.home, "bridge.json"), "utf8")) as {
      origin: string;
      certFingerprint: string;
    };
    return connect({
      url: info.origin,
      vaultId,
      key,
      socket: nodeSocket,
      certFingerprint: info.certFingerprint,
      readyTimeoutMs: 10_000,
    });
  }

  // A browser cannot know which hubs hold a vault: the bridge of a hub without its replica serves it
  // with the keys NATS enforces, its sync traffic routed to the replicas.
  it("serves the vault through the bridge of the hub without its replica, to members only", async () => {
    ids = await Promise.all(hubs.map(idOf));
    placed = placeVault(vaultId, ids, REPLICAS).sort();
    await waitFor(
      "placement to settle",
      async () => (await hosting(hubs)).join() === placed.join(),
      SYNC_TIMEOUT_MS,
      detail,
    );
    const spare = hubs[ids.findIndex((id) => !placed.includes(id))];
    const browser = await keyFromSeed(new Uint8Array(randomBytes(32)));
    const stranger = await keyFromSeed(new Uint8Array(randomBytes(32)));
    await appendFile(join(a, "authorized_keys"), `${sshPublicLineOf(browser.publicKey, "browser")}\n`);
    let last = "";
    let opened: Awaited<ReturnType<typeof viaBridge>> | undefined;
    await waitFor(
      "the spare hub's bridge to let the new member in",
      async () => {
        try {
          opened = await viaBridge(spare, browser);
          return true;
        } catch (error) {
          last = String(error);
          if (error instanceof BridgeError && error.kind === "auth") return false;
          throw error;
        }
      },
      SYNC_TIMEOUT_MS,
      () => `${last}\n${detail()}`,
    );
    const vault = opened!;
    try {
      await waitFor(
        "the vault's files through the bridge",
        () => vault.readText("welcome.md") === "# Welcome\n",
        SYNC_TIMEOUT_MS,
        detail,
      );
      await vault.writeFile("from-browser.md", "via the spare hub's bridge\n");
      await waitFor(
        "the browser's write on A",
        async () => (await readText(join(a, "from-browser.md"))) === "via the spare hub's bridge\n",
        SYNC_TIMEOUT_MS,
        detail,
      );
    } finally {
      await vault.close();
    }
    // Removed on A: the hubs holding the replica apply it, and the spare learns it from the catalogue.
    const withoutBrowser = (await readFile(join(a, "authorized_keys"), "utf8"))
      .split("\n")
      .filter((line) => !line.endsWith(" browser"))
      .join("\n");
    await writeFile(join(a, "authorized_keys"), withoutBrowser);
    let after = "";
    await waitFor(
      "the spare hub's bridge to refuse the removed key",
      async () =>
        (after = await viaBridge(spare, browser).then(
          async (v) => (await v.close(), "admitted"),
          (error: unknown) => (error instanceof BridgeError ? error.kind : String(error)),
        )) === "auth",
      SYNC_TIMEOUT_MS,
      () => `${after}\n${detail()}`,
    );
    const refused = await viaBridge(spare, stranger).then(
      async (v) => (await v.close(), "admitted"),
      (error: unknown) => (error instanceof BridgeError ? error.kind : String(error)),
    );
    assert.equal(refused, "auth", "a key outside authorized_keys is refused by the spare hub's bridge");
    assert.deepEqual(await hosting(hubs), placed, "serving the bridge did not make the spare hub host the vault");
  });

  // The reply names the answering hub: its key (which `clone` pins per address) and its leafnode URL.
  it("answers discovery through any hub with that hub's own key and leafnode URL, every time", async () => {
    const member = await loadIdentity(join(box.dir, "b-home", "id_ed25519"));
    const certPem = (await readText(join(hubs[0].agent.home, ".edgesync-server", "tls.crt")))!;
    const quiet = { info: () => {}, warn: () => {}, debug: () => {}, error: () => {} };
    for (const [i, hub] of hubs.entries()) {
      const own = sshFingerprint(parseSshPublicLine(publicKeyLine(box, `hub${i + 1}`)).publicKey);
      const url = `nats://127.0.0.1:${portsOf(hub.agent).client}`;
      const nc = await connectToHubAccount({
        url,
        device: member,
        tls: tlsOptionsForPinned(certPem),
        log: quiet,
        name: "t",
      });
      try {
        for (let ask = 0; ask < DISCOVERY_ASKS; ask++) {
          const reply = await requestCatalogue(nc, member, "127.0.0.1");
          assert.equal(sshFingerprint(parseSshPublicLine(reply.hubKey).publicKey), own, `hub ${i + 1}, ask ${ask + 1}`);
          assert.equal(reply.leafUrl, `nats-leaf://127.0.0.1:${portsOf(hub.agent).leafnode}`);
          assert.deepEqual(
            reply.vaults.map((v) => v.id),
            [vaultId],
            "every hub lists the vault, hosting it or not",
          );
        }
      } finally {
        await nc.close();
      }
    }
  });

  it("hosts the vault on exactly the two hubs placement names, and moves it to the third when one is killed", async () => {
    ids = await Promise.all(hubs.map(idOf));
    placed = placeVault(vaultId, ids, REPLICAS).sort();
    let seen: string[] = [];
    await waitFor(
      "the vault's replica on exactly the two placed hubs",
      async () => (seen = await hosting(hubs)).join() === placed.join(),
      SYNC_TIMEOUT_MS,
      () => `hosting ${seen.join()} want ${placed.join()}\n${detail()}`,
    );

    // Discovery and clone through the hub that holds no replica: the cluster's routes carry it.
    const spare = hubs[ids.findIndex((id) => !placed.includes(id))];
    const b = join(box.dir, "b");
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "B's clone through the hub without a replica",
      () => {
        cloned = cli(box, "b", [
          "clone",
          `nats://127.0.0.1:${portsOf(spare.agent).client}`,
          b,
          "--accept-hub-key",
          "--timeout-ms",
          "20000",
        ]);
        return cloned.code === 0;
      },
      SYNC_TIMEOUT_MS,
      () => cloned.stderr + detail(),
    );
    assert.equal(await readText(join(b, "welcome.md")), "# Welcome\n");
    assert.deepEqual(await hosting(hubs), placed, "the clone did not make the spare hub host the vault");
    agents.push(await startAgent(box, "b", ["--cwd", b]));
    await writeFile(join(a, "before-kill.md"), "before\n");
    await waitFor(
      "A's edit on B (B linked to the spare hub)",
      async () => (await readText(join(b, "before-kill.md"))) === "before\n",
      SYNC_TIMEOUT_MS,
      detail,
    );

    victimIndex = ids.findIndex((id) => placed.includes(id));
    const victim = hubs[victimIndex];
    victim.agent.kill("SIGKILL");
    const survivors = hubs.filter((h) => h !== victim);
    const now = placeVault(vaultId, await Promise.all(survivors.map(idOf)), REPLICAS).sort();
    assert.ok(now.includes(ids[hubs.indexOf(spare)]), "the spare hub is next in the vault's rank");
    await waitFor(
      "the replica moved to the spare hub: two hosts among the survivors",
      async () => (seen = await hosting(survivors)).join() === now.join(),
      SYNC_TIMEOUT_MS,
      () => `hosting ${seen.join()} want ${now.join()}\n${detail()}`,
    );
    await writeFile(join(a, "after-kill.md"), "after\n");
    await waitFor(
      "A's edit after the kill on B",
      async () => (await readText(join(b, "after-kill.md"))) === "after\n",
      SYNC_TIMEOUT_MS,
      detail,
    );

    // The hub that took the vault over holds everything: with both devices and the other survivor
    // stopped, only its replica can serve a fresh clone.
    for (const agent of agents) await stop(agent, "SIGINT");
    await stop(survivors.find((h) => h !== spare)!.agent, "SIGINT");
    const fresh = join(box.dir, "fresh");
    await waitFor(
      "a fresh clone through the spare hub with every file",
      async () => {
        await rm(fresh, { recursive: true, force: true });
        cloned = cli(box, "b", [
          "clone",
          `nats://127.0.0.1:${portsOf(spare.agent).client}`,
          fresh,
          "--accept-hub-key",
          "--timeout-ms",
          "20000",
        ]);
        return cloned.code === 0 && (await readText(join(fresh, "after-kill.md"))) === "after\n";
      },
      SYNC_TIMEOUT_MS,
      () => cloned.stderr + detail(),
    );
    assert.equal(await readText(join(fresh, "before-kill.md")), "before\n");
    assert.equal(await readText(join(fresh, "welcome.md")), "# Welcome\n");
  });

  it("gives the vault back to the killed hub when it rejoins: it catches up and the spare releases its replica", async () => {
    const spareIndex = ids.findIndex((id) => !placed.includes(id));
    const otherIndex = [0, 1, 2].find((i) => i !== spareIndex && i !== victimIndex)!;
    const routeOf = (i: number) => `nats-route://127.0.0.1:${portsOf(hubs[i].agent).cluster}`;
    hubs[otherIndex] = await startHub(`hub${otherIndex + 1}`, [routeOf(spareIndex)]);
    hubs[victimIndex] = await startHub(`hub${victimIndex + 1}`, [routeOf(spareIndex), routeOf(otherIndex)]);
    let seen: string[] = [];
    await waitFor(
      "the replica back on the two placed hubs, the spare's released after the handover",
      async () => (seen = await hosting(hubs)).join() === placed.join(),
      SYNC_TIMEOUT_MS,
      () => `hosting ${seen.join()} want ${placed.join()}\n${detail()}`,
    );
    // Only the rejoined hub hosts the vault now: a clone through the spare holds the edit made
    // while that hub was dead only if it caught up.
    await stop(hubs[otherIndex].agent, "SIGINT");
    const again = join(box.dir, "again");
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "a clone served by the rejoined hub with the edit made while it was dead",
      async () => {
        await rm(again, { recursive: true, force: true });
        cloned = cli(box, "b", [
          "clone",
          `nats://127.0.0.1:${portsOf(hubs[spareIndex].agent).client}`,
          again,
          "--accept-hub-key",
          "--timeout-ms",
          "20000",
        ]);
        return cloned.code === 0 && (await readText(join(again, "after-kill.md"))) === "after\n";
      },
      SYNC_TIMEOUT_MS,
      () => cloned.stderr + detail(),
    );
    assert.equal(await readText(join(again, "before-kill.md")), "before\n");
  });
});
