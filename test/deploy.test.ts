/**
 * The deployment files under deploy/ and the Dockerfile, checked as far as this machine allows:
 *
 * - deploy/edgesync-start.sh (the image's entrypoint and the units' ExecStart) is run for real: with
 *   a bad environment it must refuse in one line naming the variable, exit 78; with a good one it
 *   starts a real hub (and a leaf that syncs through it) from environment variables alone.
 * - The systemd units pass `systemd-analyze verify` (with ExecStart pointed at the script here, since
 *   it is not installed) and `systemd-analyze security --offline` rates their sandbox.
 * - The Dockerfile is read: Debian base, nats-server from apt, a non-root USER, the state folder as
 *   VOLUME, the entrypoint script. It is not built here: this machine has the docker client but no
 *   daemon, so `docker build` is left to a machine that has one (deploy/README.md says so).
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BIN, assertBuilt, run, stop } from "./helpers/cli.js";
import { waitFor } from "./helpers/wait.js";

const START_SCRIPT = resolve("deploy/edgesync-start.sh");
const UNITS = ["deploy/systemd/edgesync-hub.service", "deploy/systemd/edgesync-leaf.service"];
const EX_CONFIG = 78;
const AGENT_START_TIMEOUT_MS = 60_000;
/** `systemd-analyze security` scores exposure from 0 (locked down) to 10; below 2 it says "OK". */
const EXPOSURE_MAX = 2;

/** The environment a container or unit gives the script: nothing of this process's EDGESYNC_*. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, NO_COLOR: "1", EDGESYNC_BIN: `${process.execPath} ${BIN}`, ...extra };
}

function runScript(env: NodeJS.ProcessEnv) {
  const r = spawnSync("sh", [START_SCRIPT], { env, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stderr: r.stderr.trim() };
}

function startScript(env: NodeJS.ProcessEnv): ChildProcess & { output: () => string } {
  const child = spawn("sh", [START_SCRIPT], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-200_000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return Object.assign(child, { output: () => output });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

let dir: string;
before(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), "es-deploy-"));
});
after(() => rm(dir, { recursive: true, force: true }));

describe("deploy/edgesync-start.sh refuses a bad environment in one line", () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["no role", {}, /EDGESYNC_NATS_ROLE is not set: set it to hub/],
    ["an unknown role", { EDGESYNC_NATS_ROLE: "relay" }, /EDGESYNC_NATS_ROLE="relay" is not hub, leaf or peer/],
    [
      "a hub without admins",
      { EDGESYNC_NATS_ROLE: "hub" },
      /EDGESYNC_AUTHORIZED_KEYS is not set: give the ssh-ed25519 line/,
    ],
    [
      "an admin key that is not ed25519",
      { EDGESYNC_NATS_ROLE: "hub", EDGESYNC_AUTHORIZED_KEYS: "ssh-rsa AAAAB3 me" },
      /EDGESYNC_AUTHORIZED_KEYS has a line that is not an ssh-ed25519 key: "ssh-rsa AAAAB3 me"/,
    ],
    [
      "a listener without a host",
      { EDGESYNC_NATS_ROLE: "hub", EDGESYNC_AUTHORIZED_KEYS: "ssh-ed25519 AAAA a", EDGESYNC_NATS_LISTEN: "4222" },
      /EDGESYNC_NATS_LISTEN="4222" is not HOST:PORT/,
    ],
    [
      "a port out of range",
      {
        EDGESYNC_NATS_ROLE: "hub",
        EDGESYNC_AUTHORIZED_KEYS: "ssh-ed25519 AAAA a",
        EDGESYNC_LEAF_LISTEN: "0.0.0.0:70000",
      },
      /EDGESYNC_LEAF_LISTEN="0.0.0.0:70000" is not HOST:PORT/,
    ],
    [
      "a switch that is not 0 or 1",
      { EDGESYNC_NATS_ROLE: "hub", EDGESYNC_AUTHORIZED_KEYS: "ssh-ed25519 AAAA a", EDGESYNC_NO_TLS: "yes" },
      /EDGESYNC_NO_TLS="yes" must be 1 \(on\) or 0/,
    ],
    ["a leaf without a hub", { EDGESYNC_NATS_ROLE: "leaf" }, /EDGESYNC_HUB is not set: give the hub's leafnode URL/],
    [
      "a hub URL of another kind",
      { EDGESYNC_NATS_ROLE: "leaf", EDGESYNC_HUB: "http://hub:7422" },
      /EDGESYNC_HUB="http:\/\/hub:7422" is not a leafnode URL/,
    ],
    [
      "a leaf without vaults",
      { EDGESYNC_NATS_ROLE: "leaf", EDGESYNC_HUB: "nats-leaf://hub:7422" },
      /EDGESYNC_VAULTS is not set/,
    ],
  ];
  for (const [what, env, message] of cases) {
    it(`refuses ${what}`, async () => {
      const home = join(dir, `home-${what.replace(/\W+/g, "-")}`);
      await mkdir(home, { recursive: true });
      const r = runScript(cleanEnv({ EDGESYNC_HOME: home, ...env }));
      assert.equal(r.code, EX_CONFIG, r.stderr);
      assert.equal(r.stderr.split("\n").length, 1, `more than one line:\n${r.stderr}`);
      assert.match(r.stderr, /^edgesync-start: /);
      assert.match(r.stderr, message);
    });
  }

  it("refuses a state folder that does not exist", () => {
    const r = runScript(cleanEnv({ EDGESYNC_HOME: join(dir, "absent"), EDGESYNC_NATS_ROLE: "hub" }));
    assert.equal(r.code, EX_CONFIG);
    assert.match(r.stderr, /^edgesync-start: EDGESYNC_HOME=.*absent is not a folder: mount the state volume there/);
  });

  it("refuses a vault folder that is not a vault", async () => {
    const home = join(dir, "home-not-a-vault");
    const folder = join(dir, "plain-folder");
    await mkdir(home, { recursive: true });
    await mkdir(folder, { recursive: true });
    const r = runScript(
      cleanEnv({
        EDGESYNC_HOME: home,
        EDGESYNC_NATS_ROLE: "leaf",
        EDGESYNC_HUB: "nats-leaf://hub:7422",
        EDGESYNC_VAULTS: folder,
      }),
    );
    assert.equal(r.code, EX_CONFIG);
    assert.match(r.stderr, /EDGESYNC_VAULTS names .*plain-folder, which is not a vault: run `edgesync init/);
  });
});

describe("deploy/edgesync-start.sh with configuration from the environment only", () => {
  let hub: (ChildProcess & { output: () => string }) | undefined;
  let leaf: (ChildProcess & { output: () => string }) | undefined;
  after(async () => {
    if (leaf) await stop(leaf);
    if (hub) await stop(hub);
  });

  it("starts a hub, and a leaf that registers its vault there", async () => {
    const hubHome = join(dir, "hub-state");
    const leafHome = join(dir, "leaf-state");
    const vault = join(dir, "leaf-vault");
    await mkdir(hubHome, { recursive: true });
    await mkdir(vault, { recursive: true });
    const leafEnv = { ...process.env, EDGESYNC_HOME: leafHome, HOME: leafHome, NO_COLOR: "1" };
    assert.equal(run(["key", "generate"], { env: leafEnv }).code, 0);
    await writeFile(join(vault, "note.md"), "# from the leaf\n");
    assert.equal(run(["init", "--cwd", vault], { env: leafEnv }).code, 0);
    const leafKey = (await readFile(join(leafHome, "id_ed25519.pub"), "utf8")).trim();

    const [client, leafnode] = [await freePort(), await freePort()];
    hub = startScript(
      cleanEnv({
        EDGESYNC_NATS_ROLE: "hub",
        EDGESYNC_HOME: hubHome,
        EDGESYNC_AUTHORIZED_KEYS: leafKey,
        EDGESYNC_NATS_LISTEN: `127.0.0.1:${client}`,
        EDGESYNC_LEAF_LISTEN: `127.0.0.1:${leafnode}`,
        EDGESYNC_TLS_HOSTNAMES: "hub.example.org,hub.internal",
      }),
    );
    await waitFor(
      "the hub's agent running",
      () => hub!.output().includes('"msg":"agent running"'),
      AGENT_START_TIMEOUT_MS,
      hub.output,
    );
    assert.match(hub.output(), new RegExp(`"ports":\\{"client":${client},"leafnode":${leafnode}\\}`));
    const shown = run(["hub", "show"], { env: { ...process.env, EDGESYNC_HOME: hubHome, HOME: hubHome } });
    assert.match(shown.stdout, /this hub: certificate sha256 [0-9a-f]{64}/);

    leaf = startScript(
      cleanEnv({
        EDGESYNC_NATS_ROLE: "leaf",
        EDGESYNC_HOME: leafHome,
        EDGESYNC_HUB: `nats-leaf://127.0.0.1:${leafnode}`,
        EDGESYNC_ACCEPT_HUB_KEY: "1",
        EDGESYNC_VAULTS: vault,
      }),
    );
    await waitFor(
      "the hub to register the leaf's vault",
      () => hub!.output().includes('"msg":"vault registered"'),
      AGENT_START_TIMEOUT_MS,
      () => `${hub!.output()}\n--- leaf ---\n${leaf!.output()}`,
    );
    await stop(leaf);
    assert.equal(leaf.exitCode, 0, leaf.output());
    await stop(hub);
    assert.equal(hub.exitCode, 0, hub.output());
  });
});

describe("systemd units", () => {
  const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
  // ExecStart names where the script is installed, and verify checks that it exists: check copies
  // that point it at the script here.
  before(async () => {
    for (const unit of UNITS) {
      const text = await readFile(unit, "utf8");
      await writeFile(
        join(dir, unit.split("/").pop() as string),
        text.replace(/^ExecStart=.*$/m, `ExecStart=${START_SCRIPT}`),
      );
    }
  });

  it("has systemd-analyze to check them with", () => {
    assert.equal(analyze.error, undefined, "systemd-analyze is missing: apt-get install systemd");
  });

  for (const unit of UNITS) {
    const name = unit.split("/").pop() as string;

    it(`${name} passes systemd-analyze verify without a warning`, () => {
      const r = spawnSync("systemd-analyze", ["verify", join(dir, name)], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), "", "systemd-analyze warned");
    });

    it(`${name} runs sandboxed as a dedicated user and restarts only on failure`, async () => {
      const text = await readFile(unit, "utf8");
      for (const line of [
        "User=edgesync",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
      ]) {
        assert.match(text, new RegExp(`^${line}$`, "m"), `${line} missing`);
      }
      assert.match(text, /^StateDirectory=edgesync/m);
      const r = spawnSync("systemd-analyze", ["security", "--offline=yes", join(dir, name)], { encoding: "utf8" });
      const exposure = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout + r.stderr);
      assert.ok(exposure, `no exposure level in:\n${r.stdout}${r.stderr}`);
      assert.ok(Number(exposure[1]) < EXPOSURE_MAX, `exposure ${exposure[1]} is not below ${EXPOSURE_MAX}`);
    });
  }
});

describe("Dockerfile", () => {
  let lines: string[];
  before(async () => {
    // Joined continuation lines, comments dropped: one instruction per entry.
    const text = (await readFile("Dockerfile", "utf8")).replace(/\\\n/g, " ");
    lines = text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
  });
  const all = (instruction: string) => lines.filter((l) => l.toUpperCase().startsWith(`${instruction} `));

  it("builds on Debian and takes nats-server from Debian's archive", () => {
    const froms = all("FROM");
    assert.ok(froms.length > 0);
    for (const from of froms) assert.match(from, /bookworm|debian/, from);
    assert.ok(
      all("RUN").some((run) => /apt-get install .*\bnats-server\b/.test(run)),
      "no apt-get install nats-server",
    );
  });

  it("runs as a user that is not root", () => {
    const users = all("USER");
    assert.ok(users.length > 0, "no USER: the container would run as root");
    assert.doesNotMatch(users.at(-1) as string, /^USER (root|0)(:|$)/);
  });

  it("keeps EDGESYNC_HOME on a volume", () => {
    const home = /EDGESYNC_HOME=(\S+)/.exec(all("ENV").join(" "));
    assert.ok(home, "no ENV EDGESYNC_HOME");
    assert.ok(
      all("VOLUME").some((v) => v.includes(`"${home[1]}"`) || v.split(/\s+/).includes(home[1])),
      `${home[1]} is not a VOLUME`,
    );
  });

  it("starts through deploy/edgesync-start.sh, so the image is configured by environment only", () => {
    const copy = all("COPY").find((c) => c.includes("deploy/edgesync-start.sh"));
    assert.ok(copy, "the entrypoint script is not copied in");
    const target = copy.split(/\s+/).at(-1) as string;
    const entrypoint = all("ENTRYPOINT").at(-1) ?? "";
    assert.ok(entrypoint.includes(target), `ENTRYPOINT ${entrypoint} does not run ${target}`);
    assert.equal(all("CMD").length, 0, "a CMD would pass arguments the script ignores");
  });
});
