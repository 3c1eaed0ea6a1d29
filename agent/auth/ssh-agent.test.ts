import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, stat } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { Identity, saveIdentity } from "./identity.js";
import { AgentIdentity, SshAgentClient, SshAgentError } from "./ssh-agent.js";
import { SshWriter } from "./ssh-wire.js";
import { waitFor } from "../../test/helpers/wait.js";

const AGENT_START_TIMEOUT_MS = 5_000;

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(command, args, { encoding: "utf8", env: { ...process.env, ...env } });
  assert.ok(!r.error, `${command} is needed for this test (apt-get install openssh-client): ${r.error?.message}`);
  assert.equal(r.status, 0, `${command} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

ed.hashes.sha512 = sha512; // checked with @noble/ed25519, independently of the code under test

describe("ssh-agent client", () => {
  let dir: string;
  let socketPath: string;
  let agent: ChildProcess;
  const device = Identity.generate("device@test");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "es-agent-"));
    socketPath = join(dir, "agent.sock");
    agent = spawn("ssh-agent", ["-D", "-a", socketPath], { stdio: "ignore" });
    const spawned = new Promise<void>(
      (resolve, reject) => (
        agent.once("spawn", resolve),
        agent.once("error", (e) => reject(new Error(`ssh-agent is needed for this test: ${e.message}`)))
      ),
    );
    await spawned;
    await waitFor(
      "the ssh-agent socket",
      () =>
        stat(socketPath).then(
          () => true,
          () => false,
        ),
      AGENT_START_TIMEOUT_MS,
    );
  });

  after(async () => {
    if (agent.exitCode === null) {
      const exited = new Promise((r) => agent.once("exit", r));
      agent.kill("SIGTERM");
      await exited;
    }
  });

  it("lists the identities a real ssh-agent holds, of every type", async () => {
    const client = new SshAgentClient(socketPath);
    assert.deepEqual(await client.listIdentities(), []);
    await saveIdentity(device, join(dir, "id_ed25519"));
    run("ssh-add", ["-q", join(dir, "id_ed25519")], { SSH_AUTH_SOCK: socketPath });
    run("ssh-keygen", ["-q", "-t", "rsa", "-b", "1024", "-N", "", "-C", "an rsa key", "-f", join(dir, "id_rsa")]);
    run("ssh-add", ["-q", join(dir, "id_rsa")], { SSH_AUTH_SOCK: socketPath });
    const keys = await client.listIdentities();
    assert.deepEqual(
      keys.map((k) => [k.type, k.comment]),
      [
        ["ssh-ed25519", "device@test"],
        ["ssh-rsa", "an rsa key"],
      ],
    );
    assert.deepEqual(keys[0].publicKey, device.publicKey);
    assert.equal(keys[1].publicKey, undefined);
  });

  it("signs with the agent's ed25519 key: a raw 64-byte signature that verifies", async () => {
    const identity = await AgentIdentity.open(socketPath);
    assert.equal(identity.fingerprint, device.fingerprint);
    assert.equal(identity.nkeyPublic, device.nkeyPublic);
    assert.equal(identity.accountNkeyPublic, device.accountNkeyPublic);
    assert.equal(identity.sshPublicLine(), device.sshPublicLine());
    const message = new TextEncoder().encode("a user JWT's header.payload");
    const signature = await identity.sign(message);
    assert.equal(signature.length, 64);
    assert.ok(ed.verify(signature, message, device.publicKey));
    // ed25519 is deterministic: the agent's signature is the one the in-memory key makes.
    assert.deepEqual(signature, device.sign(message));
  });

  it("chooses a key by fingerprint, and says what it holds when the choice is absent", async () => {
    assert.equal((await AgentIdentity.open(socketPath, device.fingerprint)).fingerprint, device.fingerprint);
    assert.equal((await AgentIdentity.open(socketPath, device.publicKey)).fingerprint, device.fingerprint);
    const absent = Identity.generate("absent");
    await assert.rejects(
      AgentIdentity.open(socketPath, absent.fingerprint),
      (e: Error) =>
        e instanceof SshAgentError &&
        e.message.includes(absent.fingerprint) &&
        e.message.includes(`it holds: ${device.fingerprint} device@test`),
    );
  });

  it("says when the agent refuses to sign with a key it does not hold", async () => {
    const client = new SshAgentClient(socketPath);
    await assert.rejects(
      client.signEd25519(Identity.generate("x").publicKey, new Uint8Array(8)),
      /the ssh-agent refused to sign with SHA256:.*ssh-add -l/,
    );
  });

  it("says when no agent listens at the socket", async () => {
    await assert.rejects(
      new SshAgentClient(join(dir, "none.sock")).listIdentities(),
      /cannot reach the ssh-agent at .*none\.sock \(ENOENT\)/,
    );
  });
});

describe("ssh-agent client against a misbehaving agent", () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  async function fakeAgent(answer: (socket: Socket) => void): Promise<string> {
    const path = join(await mkdtemp(join(tmpdir(), "es-fake-agent-")), "s");
    const server = createServer((socket) => socket.once("data", () => answer(socket)));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return path;
  }
  const frame = (body: Uint8Array) => new SshWriter().bytes(body).done();

  it("refuses an oversized, a malformed, a wrong-key and a silent answer", async () => {
    const huge = await fakeAgent((s) => s.write(Buffer.from([0x7f, 0, 0, 0])));
    await assert.rejects(new SshAgentClient(huge).listIdentities(), /sent a \d+-byte message \(limit 262144\)/);

    const truncated = await fakeAgent((s) => s.end(frame(new SshWriter().byte(12).u32(3).done())));
    await assert.rejects(new SshAgentClient(truncated).listIdentities(), /malformed identities answer/);

    const device = Identity.generate("d");
    const impostor = Identity.generate("i");
    const listing = new SshWriter()
      .byte(12)
      .u32(1)
      .bytes(new SshWriter().string("ssh-ed25519").bytes(device.publicKey).done())
      .string("d")
      .done();
    let calls = 0;
    const lying = await fakeAgent((s) => {
      if (calls++ === 0) return s.end(frame(listing));
      const sig = new SshWriter()
        .string("ssh-ed25519")
        .bytes(impostor.sign(new Uint8Array(1)))
        .done();
      s.end(frame(new SshWriter().byte(14).bytes(sig).done()));
    });
    const identity = await AgentIdentity.open(lying);
    await assert.rejects(identity.sign(new Uint8Array(1)), /returned a signature that SHA256:.* does not verify/);

    const silent = await fakeAgent(() => {});
    await assert.rejects(
      new SshAgentClient(silent, { timeoutMs: 200 }).listIdentities(),
      /did not answer within 200 ms/,
    );
  });

  it("says when the agent holds no ed25519 key, or several without a choice", async () => {
    const none = await fakeAgent((s) => s.end(frame(new SshWriter().byte(12).u32(0).done())));
    await assert.rejects(AgentIdentity.open(none), /holds no ed25519 key; add one with `ssh-add/);
    const a = Identity.generate("a");
    const b = Identity.generate("b");
    const key = (id: Identity) => new SshWriter().string("ssh-ed25519").bytes(id.publicKey).done();
    const two = await fakeAgent((s) =>
      s.end(frame(new SshWriter().byte(12).u32(2).bytes(key(a)).string("a").bytes(key(b)).string("b").done())),
    );
    await assert.rejects(AgentIdentity.open(two), /holds 2 ed25519 keys .*choose one by its fingerprint/);
    assert.equal((await AgentIdentity.open(two, b.fingerprint)).comment, "b");
  });
});
