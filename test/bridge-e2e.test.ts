/**
 * Issue 7 end to end: a real hub and a real leaf agent (each with its own nats-server), a real
 * `edgesync bridge serve` process relaying to the hub over WSS — and on the other side a Node
 * script using `edgesync/client`, then a headless Chromium page using the browser bundle.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdir, readFile, writeFile, unlink } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { join, resolve } from "node:path";
import { createServer } from "node:http";
import { spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { chromium, type Browser } from "playwright-core";
import { BIN, sandbox, start, stop, readText, exists, type Sandbox } from "./helpers/cli.js";
import { startAgent, cli, deviceEnv, publicKeyLine, type RunningAgent } from "./helpers/agents.js";
import type * as Client from "../bridge/client/index.js";
import type * as ClientNode from "../bridge/node/index.js";
import { waitFor } from "./helpers/wait.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const BUNDLE = resolve("dist/bridge/client/edgesync-client.js");

/** `edgesync …` without blocking the event loop, killed (SIGKILL) after 20 s: its stdout, or "" on a timeout. */
function boundedCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolvePromise(code === 0 ? out : "");
    });
  });
}

interface BridgeInfo {
  port: number;
  origin: string;
  certFingerprint: string | null;
  hubPublicKey: string;
  vaults: { id: string; name: string; url: string }[];
}

describe("bridge: a WSS peer and a leaf agent over a real hub", () => {
  let box: Sandbox;
  let hub: RunningAgent;
  let leaf: RunningAgent;
  let bridge: ReturnType<typeof start>;
  let info: BridgeInfo;
  let a: string;
  let client: typeof Client;
  let clientNode: typeof ClientNode;
  const detail = () =>
    `--- hub\n${hub?.output().slice(-3000)}\n--- leaf\n${leaf?.output().slice(-3000)}\n--- bridge\n${bridge?.output().slice(-3000)}`;

  before(async () => {
    // The package's own subpath exports, as a user's script imports them.
    const clientSpec = "edgesync/client";
    const nodeSpec = "edgesync/client/node";
    client = (await import(clientSpec)) as typeof Client;
    clientNode = (await import(nodeSpec)) as typeof ClientNode;
    box = await sandbox("bridge");
    // A hub in operator mode with TLS (device "a" may add vaults), with its built-in bridge.
    hub = await startAgent(
      box,
      "hub",
      [
        "--nats-role",
        "hub",
        "--nats-listen",
        "127.0.0.1:-1",
        "--leaf-listen",
        "127.0.0.1:-1",
        "--cwd",
        box.dir,
        "--bridge",
        "127.0.0.1:0",
      ],
      { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") },
    );
    a = join(box.dir, "a");
    await mkdir(a);
    await writeFile(join(a, "welcome.md"), "# Welcome\n");
    assert.equal(cli(box, "a", ["init", "--cwd", a, "--name", "team"]).code, 0);
    leaf = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`,
      "--accept-hub-key",
      "--cwd",
      a,
    ]);
    // `bridge serve` beside the leaf: it relays to the leaf's own NATS server (from agent.json).
    bridge = start(["bridge", "serve", "--cwd", a, "--listen", "127.0.0.1:0"], { env: deviceEnv(box, "a") });
    const infoPath = join(leaf.home, "bridge.json");
    await waitFor(
      "the bridge to listen",
      async () => {
        if (bridge.exitCode !== null) throw new Error(`bridge exited ${bridge.exitCode}:\n${bridge.output()}`);
        return exists(infoPath);
      },
      30_000,
      detail,
    );
    info = JSON.parse(await readFile(infoPath, "utf8")) as BridgeInfo;
    assert.match(info.origin, /^wss:\/\/127\.0\.0\.1:\d+$/);
    await waitFor(
      "the hub to host the vault",
      () => /replicating vault|hosting vault|vault added/i.test(hub.output()),
      30_000,
      detail,
    );
  });

  after(async () => {
    for (const p of [bridge, leaf, hub]) if (p) await stop(p, "SIGINT");
    await box?.cleanup();
  });

  let viaHub: Client.SigningKey | undefined;
  const authorise = async (publicKey: Uint8Array, comment: string) =>
    appendFile(join(a, "authorized_keys"), `${client.sshPublicLineOf(publicKey, comment)}\n`);

  it("converges a Node script's edits and the leaf's edits both ways", async () => {
    const key = await client.keyFromSeed(new Uint8Array(randomBytes(32)));
    await authorise(key.publicKey, "script");
    const vault = await client.connect({ url: info.vaults[0].url, key, socket: clientNode.nodeSocket });
    try {
      assert.equal(vault.name, "team");
      assert.ok(
        vault.listFiles().some((f) => f.path === "welcome.md"),
        JSON.stringify(vault.listFiles()),
      );
      assert.equal(vault.readText("welcome.md"), "# Welcome\n");

      await vault.writeFile("from-script.md", "written over WSS\n");
      await waitFor(
        "the script's file on the leaf's disk",
        async () => (await readText(join(a, "from-script.md"))) === "written over WSS\n",
        30_000,
        detail,
      );

      const seen: string[] = [];
      vault.subscribe((change) => seen.push(...change.paths));
      await writeFile(join(a, "from-leaf.md"), "written on the leaf\n");
      await waitFor(
        "the leaf's file at the script",
        () => vault.readText("from-leaf.md") === "written on the leaf\n",
        30_000,
        detail,
      );
      assert.ok(seen.includes("from-leaf.md"));

      await vault.writeFile("from-leaf.md", "edited by the script\n");
      await waitFor(
        "the script's edit on disk",
        async () => (await readText(join(a, "from-leaf.md"))) === "edited by the script\n",
        30_000,
        detail,
      );
      // A binary (not UTF-8) travels as a blob both ways: fetched by hash, read with readBytes.
      const leafBinary = Buffer.concat([Buffer.from([0]), randomBytes(40_000)]);
      await writeFile(join(a, "from-leaf-binary.md"), leafBinary);
      await waitFor(
        "the leaf's binary at the script",
        async () => (await vault.readBytes("from-leaf-binary.md").catch(() => undefined))?.length === leafBinary.length,
        30_000,
        detail,
      );
      assert.ok(Buffer.from((await vault.readBytes("from-leaf-binary.md"))!).equals(leafBinary));
      assert.throws(() => vault.readFile("from-leaf-binary.md"), /readBytes/);
      const scriptBinary = new Uint8Array(Buffer.concat([Buffer.from([0, 255]), randomBytes(30_000)]));
      await vault.writeFile("from-script-binary.md", scriptBinary);
      await waitFor(
        "the script's binary on the leaf's disk",
        async () =>
          (await readFile(join(a, "from-script-binary.md")).catch(() => undefined))?.equals(scriptBinary) === true,
        30_000,
        detail,
      );

      await vault.deleteFile("from-script.md");
      await waitFor(
        "the script's delete on disk",
        async () => !(await exists(join(a, "from-script.md"))),
        30_000,
        detail,
      );
      await unlink(join(a, "from-leaf.md"));
      await waitFor(
        "the leaf's delete at the script",
        () => vault.readFile("from-leaf.md") === undefined,
        30_000,
        detail,
      );

      const before = Date.now();
      await vault.writeFile("welcome.md", "# Welcome, changed\n");
      await waitFor(
        "the change on disk",
        async () => (await readText(join(a, "welcome.md"))) === "# Welcome, changed\n",
        30_000,
        detail,
      );
      await vault.createSnapshot("after-change");
      assert.deepEqual(
        vault.snapshots().map((s) => s.label),
        ["after-change"],
      );
      assert.deepEqual(await vault.restoreAt(before - 1), ["welcome.md"]);
      await waitFor(
        "the restore on disk",
        async () => (await readText(join(a, "welcome.md"))) === "# Welcome\n",
        30_000,
        detail,
      );
      await waitFor(
        "the snapshot label at the leaf",
        async () => /after-change/.test(await boundedCli(["snapshot", "list", "--cwd", a], deviceEnv(box, "a"))),
        30_000,
        detail,
      );
    } finally {
      await vault.close();
    }
  });

  it("serves the hub's vaults from `sync start --bridge` in operator mode, authorised by the vault's synced authorized_keys", async () => {
    const hubBridge = JSON.parse(await readFile(join(hub.home, "bridge.json"), "utf8")) as BridgeInfo;
    const vaultId = info.vaults[0].id;
    const key = await client.keyFromSeed(new Uint8Array(randomBytes(32)));
    viaHub = key;
    await authorise(key.publicKey, "via-agent");
    let vault: Client.BridgeVault | undefined;
    let last = "";
    // The new key counts once the leaf's watcher has read authorized_keys and the hub has applied it to the vault's account.
    await waitFor(
      "the hub's bridge to let the new key in",
      async () => {
        try {
          vault = await client.connect({
            url: hubBridge.origin,
            vaultId,
            key,
            socket: clientNode.nodeSocket,
            readyTimeoutMs: 10_000,
          });
          return true;
        } catch (error) {
          last = String(error);
          if (error instanceof client.BridgeError && error.kind === "auth") return false;
          throw error;
        }
      },
      60_000,
      () => `${last}\n${detail()}`,
    );
    try {
      // The hub's bridge serves the hub's own certificate, the one leaves pin.
      assert.equal(
        hubBridge.certFingerprint,
        createHash("sha256")
          .update(new X509Certificate(await readFile(join(hub.home, ".edgesync-server", "tls.crt"), "utf8")).raw)
          .digest("hex"),
      );
      await vault!.writeFile("via-agent-bridge.md", "through sync start --bridge\n");
      await waitFor(
        "the file on disk",
        async () => (await readText(join(a, "via-agent-bridge.md"))) === "through sync start --bridge\n",
        30_000,
        detail,
      );
    } finally {
      await vault?.close();
    }
  });

  it("lets an unmodified automerge-repo client sync through the hub's /automerge, its token carrying a JWT NATS checks", async () => {
    assert.ok(viaHub, "runs after the hub-bridge test authorised its key");
    const hubBridge = JSON.parse(await readFile(join(hub.home, "bridge.json"), "utf8")) as BridgeInfo;
    const vaultId = info.vaults[0].id;
    const url = await client.automergeEndpointUrl({
      origin: hubBridge.origin,
      vaultId,
      key: viaHub,
      certFingerprint: hubBridge.certFingerprint,
      account: client.vaultAccountOf(vaultId),
    });
    const child = spawn(
      process.execPath,
      [resolve("test/helpers/automerge-repo-client.mjs"), url, client.vaultAutomergeUrl(vaultId), "read-write"],
      {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: join(hub.home, ".edgesync-server", "tls.crt") },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    try {
      await waitFor(
        "the repo client to find the vault",
        () => output.includes('"step":"found"'),
        30_000,
        () => `${output}\n${detail()}`,
      );
      assert.match(output, /"name":"team"/);
      await waitFor(
        "the repo client's file on the leaf's disk",
        async () => (await readText(join(a, "from-repo.md"))) === "written by automerge-repo\n",
        30_000,
        () => `${output}\n${detail()}`,
      );
      await writeFile(join(a, "from-nats.md"), "to automerge-repo\n");
      await waitFor(
        "the leaf's file at the repo client",
        () => output.includes('"step":"remote","text":"to automerge-repo\\n"'),
        30_000,
        () => `${output}\n${detail()}`,
      );
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("says in one line what is wrong with a bad bridge command line", () => {
    const bad = cli(box, "a", ["bridge", "serve", "--cwd", a, "--listen", "nowhere"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^edgesync: --listen "nowhere" is not HOST:PORT/);
    const lonely = cli(box, "stranger", ["bridge", "serve", "--cwd", a, "--listen", "127.0.0.1:0"]);
    assert.equal(lonely.code, 1);
    assert.equal(
      lonely.stderr,
      "edgesync: no NATS server to relay to: start the agent first (`edgesync sync start`) or pass --nats nats://HOST:4222\n",
    );
    const notVault = cli(box, "a", ["bridge", "serve", "--cwd", box.dir, "--listen", "127.0.0.1:0"]);
    assert.equal(notVault.code, 1);
    assert.equal(notVault.stderr.split("\n").filter(Boolean).length, 1, notVault.stderr);
  });

  it("gives an unauthorised key an auth error and no sync data, and does not retry", async () => {
    const key = await client.keyFromSeed(new Uint8Array(randomBytes(32)));
    const errors: Client.BridgeError[] = [];
    await assert.rejects(
      client.connect({
        url: info.vaults[0].url,
        key,
        socket: clientNode.nodeSocket,
        onError: (e) => errors.push(e),
        readyTimeoutMs: 5_000,
      }),
      (e: Error) =>
        e instanceof client.BridgeError &&
        e.kind === "auth" &&
        e.code === client.CloseCode.unauthorised &&
        !e.retry &&
        /authorized_keys/.test(e.message),
    );
    assert.match(bridge.output(), /not authorised for vault [0-9a-f-]{36} on this bridge/);
  });

  it("syncs from a headless Chromium page that uses the browser bundle, down to the leaf's disk", async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it)`,
      );
    assert.ok(existsSync(BUNDLE), `${BUNDLE} is missing: run npm run build`);
    // Chromium trusts exactly the hub's certificate (by its public key), as a user who imported it would.
    const certPem = await readFile(join(leaf.home, "tls", "tls.crt"), "utf8");
    const spki = createHash("sha256")
      .update(new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" }))
      .digest("base64");
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`],
    });
    let closeWeb = async () => {};
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 480 } });
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      page.on("console", (m) => {
        if (m.type() === "error") pageErrors.push(m.text());
      });
      const html = await readFile(resolve("test/helpers/bridge-page.html"), "utf8");
      const bundle = await readFile(BUNDLE);
      // A real static server on loopback (as a user's web server would serve the page and the bundle).
      const web = createServer((req, res) => {
        if (req.url === "/edgesync-client.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
        else res.writeHead(200, { "content-type": "text/html" }).end(html);
      });
      await new Promise<void>((r) => web.listen(0, "127.0.0.1", () => r()));
      closeWeb = () => new Promise<void>((r) => web.close(() => r()));
      await page.goto(`http://127.0.0.1:${(web.address() as AddressInfo).port}/`);
      await page.waitForSelector("body[data-loaded=yes]", { timeout: 30_000 }).catch((e: Error) => {
        throw new Error(`${e.message}\n${pageErrors.join("\n")}`);
      });
      // Pairing: the page shows its key; the vault's owner adds it to authorized_keys.
      const line = (await page.textContent("#key")) ?? "";
      assert.match(line, /^ssh-ed25519 AAAA\S+ chromium$/);
      await appendFile(join(a, "authorized_keys"), `${line}\n`);
      const connecting = page.evaluate(
        ({ url, hubKey }) =>
          (window as unknown as { edgesync: { connect(u: string, h: string): Promise<string> } }).edgesync.connect(
            url,
            hubKey,
          ),
        { url: info.vaults[0].url, hubKey: info.hubPublicKey },
      );
      const self = await Promise.race([
        connecting,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error("the page did not connect within 60 s")), 60_000).unref(),
        ),
      ]).catch((e: Error) => {
        throw new Error(`${e.message}\n${pageErrors.join("\n")}\n${detail()}`);
      });
      assert.match(self, /^U[A-Z2-7]{55}$/);
      assert.deepEqual(
        await page.evaluate(() => (window as unknown as { edgesync: { pins(): string[] } }).edgesync.pins()),
        [`edgesync.pin.${new URL(info.origin.replace("wss:", "https:")).host}`],
        "the hub is pinned in localStorage",
      );
      await page.waitForSelector("#files button[data-path='welcome.md']", { timeout: 30_000 });
      await page.click("#files button[data-path='welcome.md']");
      assert.equal(await page.inputValue("#content"), "# Welcome\n");
      await page.fill("#content", "# Welcome\n\nEdited in Chromium.\n");
      await page.click("#save");
      await waitFor(
        "the browser's edit on the leaf's disk",
        async () => (await readText(join(a, "welcome.md"))) === "# Welcome\n\nEdited in Chromium.\n",
        30_000,
        detail,
      );
      await writeFile(join(a, "from-leaf-to-browser.md"), "hello browser\n");
      await page.waitForSelector("#files button[data-path='from-leaf-to-browser.md']", { timeout: 30_000 });
      await mkdir(resolve("test/artifacts"), { recursive: true });
      await page.screenshot({ path: resolve("test/artifacts/bridge-browser.png"), fullPage: true });
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      await closeWeb();
    }
  });
});
