/**
 * An authorised but buggy client on the vault's NATS subjects: garbage, truncated and oversized
 * frames, lying chunk headers, broken Automerge sync messages, spoofed senders, odd subjects. Real
 * agents on a real nats-server must drop all of it, log it, stay up, and keep syncing.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { sandbox, stop, readText, type Sandbox } from "../helpers/cli.js";
import {
  startAgent,
  cli,
  pidAlive,
  startUpstreamServer,
  type RunningAgent,
  type UpstreamServer,
} from "../helpers/agents.js";
import { encodeMessage } from "../../agent/sync/messages.js";
import { waitFor } from "../helpers/wait.js";

/** Header of a whole (unchunked) transport frame. */
const whole = (body: Uint8Array) => Uint8Array.from([1, 0, ...body]);
/** A chunk frame header with whatever fields a buggy client fancies. */
function chunk(id: number, index: number, count: number, total: number, body: Uint8Array): Uint8Array {
  const out = Buffer.alloc(14 + body.length);
  out[0] = 1;
  out[1] = 1;
  out.writeUInt32BE(id, 2);
  out.writeUInt16BE(index, 6);
  out.writeUInt16BE(count, 8);
  out.writeUInt32BE(total, 10);
  out.set(body, 14);
  return out;
}

function garbage(): Uint8Array[] {
  const frames: Uint8Array[] = [
    new Uint8Array(0),
    Uint8Array.from([1]),
    Uint8Array.from([9, 9, 9]),
    randomBytes(1000),
    whole(new Uint8Array(0)),
    whole(Uint8Array.from([1])),
    whole(Uint8Array.from([7, 1, 2, 3])), // unknown wire version
    whole(Uint8Array.from([1, 9])), // unknown message type
    whole(Uint8Array.from([1, 1, 1, 0xff, 0xff])), // announce claiming 65535 heads
    whole(Uint8Array.from([1, 1, 1, 0, 2, ...randomBytes(40)])), // announce with a wrong length
    whole(encodeMessage({ type: "announce", heads: [randomBytes(32).toString("hex")], ready: true })), // heads nobody has
    whole(encodeMessage({ type: "sync", data: randomBytes(500) })), // a broken Automerge sync message
    whole(encodeMessage({ type: "sync", data: Uint8Array.from([0x42, 0, 0, 0, 0, 0, 0]) })),
    whole(Uint8Array.from([1, 3, 0xff, 0xff, ...randomBytes(32)])), // blob-want claiming 65535 hashes
    whole(encodeMessage({ type: "blob-want", hashes: [randomBytes(32).toString("hex")] })), // a blob nobody references
    whole(Uint8Array.from([1, 4, ...randomBytes(32), 0, 0, 0, 9, 0, 0, 0, 4, 1, 2])), // blob chunk past its total
    whole(
      encodeMessage({
        type: "blob",
        hash: randomBytes(32).toString("hex"),
        offset: 0,
        total: 4_000_000_000,
        chunk: randomBytes(100),
      }),
    ), // unsolicited 4 GB blob
    chunk(1, 0, 3, 4_000_000_000, randomBytes(100)), // claims 4 GB
    chunk(2, 5, 3, 300, randomBytes(100)), // index beyond count
    chunk(3, 0, 1, 100, randomBytes(100)), // a "chunked" message of one chunk
    chunk(4, 0, 2, 150, randomBytes(100)),
    chunk(4, 0, 2, 150, randomBytes(100)), // duplicate chunk
    chunk(4, 1, 2, 9999, randomBytes(50)), // inconsistent total
    chunk(5, 0, 65535, 65535 * 100, randomBytes(100)), // a message that never completes
  ];
  for (let i = 0; i < 200; i++) frames.push(randomBytes(1 + (i % 97) * 13));
  return frames;
}

describe("malformed NATS payloads on vault subjects", () => {
  let box: Sandbox;
  let server: UpstreamServer;
  let a: string;
  let b: string;
  let agentA: RunningAgent;
  let agentB: RunningAgent;
  let nc: NatsConnection;
  let vaultId: string;
  const peers = new Set<string>();
  const detail = () => `--- A\n${agentA?.output().slice(-3000)}\n--- B\n${agentB?.output().slice(-3000)}`;

  before(async () => {
    box = await sandbox("garbage");
    server = await startUpstreamServer("garbage");
    a = join(box.dir, "a");
    b = join(box.dir, "b");
    await mkdir(a);
    assert.equal(cli(box, "a", ["init", "--cwd", a]).code, 0);
    vaultId = /id = "([0-9a-f-]{36})"/.exec(await readFile(join(a, ".edgesync/config.toml"), "utf8"))![1];
    const args = (dir: string) => ["--nats-role", "peer", "--nats-upstream", server.clientUrl, "--cwd", dir];
    agentA = await startAgent(box, "a", args(a));
    assert.equal(cli(box, "b", ["clone", server.clientUrl, b]).code, 0);
    agentB = await startAgent(box, "b", args(b));
    nc = await connect({ servers: server.clientUrl, name: "buggy-client" });
    const sub = nc.subscribe(`es.v1.vault.${vaultId}.announce.*`);
    void (async () => {
      for await (const m of sub) peers.add(m.subject.split(".").at(-1)!);
    })();
    await waitFor("both agents' announcements", () => peers.size >= 2, 30_000, detail);
  });

  after(async () => {
    await nc?.close();
    if (agentA) await stop(agentA, "SIGINT");
    if (agentB) await stop(agentB, "SIGINT");
    await server?.stop();
    await box?.cleanup();
  });

  it("drops garbage on every vault subject, logs it, stays up and keeps syncing", async () => {
    const prefix = `es.v1.vault.${vaultId}`;
    const [p1, p2] = [...peers];
    const subjects = [
      `${prefix}.announce.BUGGYCLIENT`.toLowerCase(),
      `${prefix}.announce.${p1}`, // spoofing a real device's announce
      `${prefix}.p.${p1}.${p2}`, // spoofing one device to the other
      `${prefix}.p.${p2}.${p1}`,
      `${prefix}.p.${p1}.buggy-client`,
      `${prefix}.p.${p1}`,
      `${prefix}.p.${p1}.${p2}.extra`,
      `${prefix}.announce`,
      `${prefix}.nonsense`,
    ];
    let sent = 0;
    for (const subject of subjects) {
      for (const frame of garbage()) {
        nc.publish(subject, frame);
        sent++;
      }
    }
    await nc.flush();
    // Still up, and still syncing both ways.
    await writeFile(join(a, "after-garbage.md"), "A survived\n");
    await writeFile(join(b, "from-b.md"), "B survived\n");
    await waitFor(
      "sync after the garbage",
      async () =>
        (await readText(join(b, "after-garbage.md"))) === "A survived\n" &&
        (await readText(join(a, "from-b.md"))) === "B survived\n",
      60_000,
      detail,
    );
    assert.ok(pidAlive(agentA.pid!) && pidAlive(agentB.pid!));
    assert.equal(agentA.exitCode, null);
    assert.equal(agentB.exitCode, null);
    assert.match(agentA.output() + agentB.output(), /dropped message/, "the drops are logged");
    assert.ok(sent > 1500);
    // Bad frames the transport drops (chunk headers that lie, duplicates, oversized claims) get one
    // rate-limited line per peer, naming the peer and subject, with a count and the reasons.
    const frameLines = (agentA.output() + agentB.output())
      .split("\n")
      .filter((l) => /dropped malformed frames from peer/.test(l));
    assert.ok(frameLines.length > 0, `the transport logs frames it drops\n${detail()}`);
    assert.ok(
      frameLines.some(
        (l) =>
          l.includes("buggyclient") &&
          /malformed|oversized|inconsistent|duplicate/.test(l) &&
          /"?dropped"?[=:]\s*\d+/.test(l),
      ),
      `a line names the peer, the reason and a count:\n${frameLines.join("\n")}`,
    );
    assert.ok(frameLines.length <= sent / 20, `rate-limited: ${frameLines.length} lines for ${sent} frames`);
    const logged = (agentA.output() + agentB.output()).split("\n").filter((l) => /dropped/.test(l)).length;
    console.log(
      `# malformed frames published: ${sent} on ${subjects.length} subjects; drop lines logged: ${logged} (transport frame lines: ${frameLines.length})`,
    );
  });
});
