/**
 * Issue 18: an automerge-repo client survives disconnects. Real parts: a bridge in front of a real
 * nats-server with a vault peer (the agent's SyncEngine over NATS), a TCP proxy between the client
 * and the bridge that drops connections, and an unmodified `Repo` in its own Node process — with
 * automerge-repo's own websocket adapter and a signed URL (which dies at the first reconnect), and
 * with `edgesync/automerge-repo`'s adapter (which must resume by itself, without ever throwing).
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { generateHubCert } from "../agent/auth/tls.js";
import { readEntry } from "../agent/vault/model/vault-doc.js";
import { startBridgeRig, type BridgeRig } from "./helpers/bridge-rig.js";
import { FaultProxy } from "./helpers/fault-proxy.js";
import { keyFromSeed, type SigningKey } from "../bridge/client/handshake.js";
import { automergeEndpointUrl, vaultAutomergeUrl } from "../bridge/client/automerge-token.js";
import { WAIT_TIMEOUT_MS_DEFAULT, waitFor } from "./helpers/wait.js";

const OFFICIAL_CLIENT = resolve("test/helpers/automerge-repo-client.mjs");
const ADAPTER_CLIENT = resolve("test/helpers/automerge-repo-adapter-client.mjs");
/** Short, so the hub can stay down longer than a token lives without a slow test. */
const TOKEN_LIFETIME_MS = 4_000;

type Line = Record<string, unknown>;

interface Child {
  process: ChildProcess;
  lines: Line[];
  output: () => string;
  exited: Promise<number | null>;
  send(command: Record<string, unknown>): void;
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  const lines: Line[] = [];
  let output = "";
  let partial = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    partial += chunk.toString();
    const complete = partial.split("\n");
    partial = complete.pop() ?? "";
    for (const line of complete.filter(Boolean)) lines.push(JSON.parse(line) as Line);
  });
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return {
    process: child,
    lines,
    output: () => output.slice(-6000),
    exited: new Promise((r) => child.once("exit", (code) => r(code))),
    send: (command) => child.stdin.write(`${JSON.stringify(command)}\n`),
  };
}

const seesText = (child: Child, path: string, text: string) => () =>
  child.lines.some(
    (l) => (l.step === "files" || l.step === "found") && (l.files as Record<string, string>)?.[path] === text,
  );
const crashed = (child: Child) => child.lines.filter((l) => l.step === "crashed");

describe("automerge-repo clients survive disconnects", () => {
  let rig: BridgeRig;
  let proxy: FaultProxy;
  let key: SigningKey;
  let seed: Uint8Array;
  const children: ChildProcess[] = [];
  const authorised = new Set<string>();

  before(async () => {
    seed = new Uint8Array(randomBytes(32));
    key = await keyFromSeed(seed);
    authorised.add(Buffer.from(key.publicKey).toString("hex"));
    rig = await startBridgeRig({
      name: "reconnect",
      peer: "agent",
      actor: "dd".repeat(16),
      keepText: "kept\n",
      isAuthorised: (k) => authorised.has(Buffer.from(k).toString("hex")),
      limits: { automergeTokenLifetimeMs: TOKEN_LIFETIME_MS },
    });
    proxy = new FaultProxy({ port: rig.bridge.port });
    await proxy.listen();
  });

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await proxy?.close();
    await rig?.stop();
  });

  const adapterClient = (origin: string, clientSeed = seed) => {
    const child = run(ADAPTER_CLIENT, [
      origin,
      rig.vaultId,
      Buffer.from(clientSeed).toString("hex"),
      rig.bridge.certFingerprint as string,
    ]);
    children.push(child.process);
    return child;
  };

  it("shows why the adapter exists: automerge-repo's own adapter with a signed URL throws the bridge's 401 as an uncaught exception at its first reconnect", async () => {
    // Signed a little ahead of now: the child's start-up on a loaded machine must not outlast the short test lifetime.
    const url = (
      await automergeEndpointUrl({
        origin: rig.bridge.origin,
        vaultId: rig.vaultId,
        key,
        certFingerprint: rig.bridge.certFingerprint,
        nowMs: Date.now() + TOKEN_LIFETIME_MS - 1_000,
      })
    ).replace(`:${rig.bridge.port}/`, `:${proxy.port}/`);
    const child = run(OFFICIAL_CLIENT, [url, vaultAutomergeUrl(rig.vaultId), "read-write"], {
      ...process.env,
      NODE_EXTRA_CA_CERTS: rig.certFile,
    });
    children.push(child.process);
    await waitFor(
      "the official client to find the document",
      () => child.lines.some((l) => l.step === "found"),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    proxy.cut();
    // The helper's uncaughtException handler turns the throw into a line and exits 1, as a process without one dies.
    assert.equal(await child.exited, 1, child.output());
    assert.deepEqual(
      child.lines.filter((l) => l.step === "refused").map((l) => l.status),
      [401],
      child.output(),
    );
  });

  it("resumes syncing by itself after the network between it and the bridge is cut, with no uncaught exception", async () => {
    const origin = `wss://127.0.0.1:${proxy.port}`;
    const child = adapterClient(origin);
    await waitFor(
      "the adapter's client to find the document",
      () => child.lines.some((l) => l.step === "found"),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    assert.equal((child.lines.find((l) => l.step === "found")?.files as Record<string, string>)["keep.md"], "kept\n");
    child.send({ write: "before-cut.md", text: "written before the cut\n" });
    await waitFor(
      "the first write at the vault peer",
      () => readEntry(rig.engine.doc, "before-cut.md") !== undefined,
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );

    // A cut drops the connection; a partition also refuses the redials until it heals.
    proxy.cut();
    await waitFor(
      "the client to notice the cut",
      () => child.lines.some((l) => l.step === "state" && l.state === "offline"),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    proxy.partition();
    const errorsBefore = child.lines.filter((l) => l.step === "error").length;
    await waitFor(
      "two refused redials during the partition",
      () => child.lines.filter((l) => l.step === "error").length >= errorsBefore + 2,
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    await rig.engine.change([
      { type: "put", path: "during-cut.md", bytes: new TextEncoder().encode("written while cut off\n"), mtime: 3 },
    ]);
    proxy.heal();

    await waitFor(
      "the peer's write made during the cut at the client",
      seesText(child, "during-cut.md", "written while cut off\n"),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    child.send({ write: "after-cut.md", text: "written after the cut\n" });
    await waitFor(
      "the client's write after the cut at the vault peer",
      () => readEntry(rig.engine.doc, "after-cut.md") !== undefined,
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    assert.equal(new TextDecoder().decode(readEntry(rig.engine.doc, "after-cut.md")!.bytes), "written after the cut\n");
    assert.deepEqual(crashed(child), []);
    assert.equal(child.process.exitCode, null, "the client process is alive");
    assert.ok(
      child.lines.every((l) => l.step !== "error" || l.retry === true),
      "every failure was retried",
    );
    child.process.kill("SIGKILL");
  });

  it("resumes syncing by itself after the hub was down for longer than a token lives, with no uncaught exception", async () => {
    const child = adapterClient(rig.bridge.origin);
    await waitFor(
      "the adapter's client to find the document",
      () => child.lines.some((l) => l.step === "found"),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    const downAt = Date.now();
    await rig.stopHub();
    await waitFor(
      "the client to notice the hub going down",
      () => child.lines.some((l) => l.step === "state" && l.state === "offline"),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    // Down past a token's lifetime (twice over, and past the nonces the old bridge remembered),
    // with the client redialling and being refused all along.
    const errorsBefore = child.lines.filter((l) => l.step === "error").length;
    await waitFor(
      "the hub to have been down for two token lifetimes",
      () =>
        Date.now() - downAt > 2 * TOKEN_LIFETIME_MS &&
        child.lines.filter((l) => l.step === "error").length >= errorsBefore + 3,
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    await rig.startHub();

    await rig.engine.change([
      { type: "put", path: "after-outage.md", bytes: new TextEncoder().encode("written after the outage\n"), mtime: 4 },
    ]);
    await waitFor(
      "the peer's write after the outage at the client",
      seesText(child, "after-outage.md", "written after the outage\n"),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    child.send({ write: "client-after-outage.md", text: "the client is back\n" });
    await waitFor(
      "the client's write at the vault peer",
      () => readEntry(rig.engine.doc, "client-after-outage.md") !== undefined,
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    assert.deepEqual(crashed(child), []);
    assert.equal(child.process.exitCode, null, "the client process is alive");
    child.process.kill("SIGKILL");
  });

  it("keeps redialling while a newly added key is refused (403) and finds the document once the key is applied", async () => {
    const newSeed = new Uint8Array(randomBytes(32));
    const newKey = await keyFromSeed(newSeed);
    const child = adapterClient(rig.bridge.origin, newSeed);
    await waitFor(
      "a 403 for the key not applied yet",
      () => child.lines.some((l) => l.step === "error" && /HTTP 403/.test(String(l.message))),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    authorised.add(Buffer.from(newKey.publicKey).toString("hex"));
    await waitFor(
      "the client to find the document",
      () => child.lines.some((l) => l.step === "found"),
      WAIT_TIMEOUT_MS_DEFAULT,
      child.output,
    );
    const refusal = child.lines.find((l) => l.step === "error" && /HTTP 403/.test(String(l.message)));
    assert.match(
      String(refusal?.message),
      /HTTP 403 from wss:\/\/127\.0\.0\.1:\d+: the key is not \(yet\) in the vault's authorized_keys, or the vault is not served here; retrying/,
    );
    assert.deepEqual(crashed(child), []);
    child.process.kill("SIGKILL");
  });

  it("sends nothing, token included, to a server showing another certificate, and stops there", async () => {
    // A man in the middle terminating TLS with its own certificate: it would read the request line.
    const { certPem, keyPem } = await generateHubCert({ commonName: "mallory" });
    let received = 0;
    const mallory: TlsServer = createTlsServer({ cert: certPem, key: keyPem }, (socket) => {
      socket.on("data", (chunk: Buffer) => (received += chunk.length));
      socket.on("error", () => socket.destroy());
    });
    await new Promise<void>((r) => mallory.listen(0, "127.0.0.1", () => r()));
    try {
      const child = adapterClient(`wss://127.0.0.1:${(mallory.address() as { port: number }).port}`);
      await waitFor(
        "the adapter to stop",
        () => child.lines.some((l) => l.step === "state" && l.state === "stopped"),
        WAIT_TIMEOUT_MS_DEFAULT,
        child.output,
      );
      const refusal = child.lines.find((l) => l.step === "error");
      assert.equal(refusal?.kind, "mitm", child.output());
      assert.equal(refusal?.retry, false);
      assert.match(String(refusal?.message), /is not the expected .*nothing was sent/);
      assert.equal(received, 0, "not one byte of the request reached the impostor");
      assert.deepEqual(crashed(child), []);
      child.process.kill("SIGKILL");
    } finally {
      await new Promise<void>((r) => mallory.close(() => r()));
    }
  });
});
