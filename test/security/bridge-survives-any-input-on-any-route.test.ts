/**
 * Issue 21 item 6: no input on any path crashes the hub. A hand-written attacker (raw TLS and TCP
 * sockets, frames written byte by byte) throws oversized, truncated and garbage frames at every
 * route of a real hub's bridge — a served vault, an unknown vault, `/automerge` with and without a
 * token, an unknown path, a malformed vault id, a path no URL parser takes — after the upgrade, and garbage HTTP before it. The
 * hub must still run afterwards and still serve a member, who syncs a file to a leaf's disk.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { readText } from "../helpers/cli.js";
import { pidAlive } from "../helpers/agents.js";
import { automergeEndpointUrl, vaultAccountOf } from "../../bridge/client/index.js";
import { startHubBridgeRig, type HubBridgeRig } from "./bridge-hub-rig.js";
import { attack, frame, upgradeRequest, type RawTarget } from "./raw-websocket.js";
import { waitFor } from "../helpers/wait.js";

const MIB = 1024 * 1024;
/** Attacks in flight at once; each comes from its own loopback address (`sourceOf`). */
const PARALLEL = 6;
/**
 * One source address per attack: sockets the client has closed can still count against the bridge's
 * per-address limit of unauthenticated sockets for a moment, and an attack shed at accept for that
 * would never reach the route it is meant to try.
 */
const sourceOf = (route: number, job: number) => `127.0.${10 + route}.${1 + job}`;
const UPGRADING_ROUTES = new Set(["a served vault", "an unknown vault", "/automerge with a member's token"]);

/** Frames to send once the upgrade went through (or was refused: then they are garbage after a response). */
const afterUpgrade: { name: string; bytes: () => Buffer[] }[] = [
  { name: "a 2 MiB binary frame", bytes: () => [frame(2, randomBytes(2 * MIB))] },
  { name: "a 2 MiB text frame", bytes: () => [frame(1, Buffer.alloc(2 * MIB, 0x61))] },
  { name: "random binary", bytes: () => [frame(2, randomBytes(4096))] },
  { name: "invalid UTF-8 text", bytes: () => [frame(1, Buffer.from([0xc3, 0x28, 0xff, 0xfe]))] },
  { name: "an unmasked frame", bytes: () => [frame(2, randomBytes(64), { mask: false })] },
  { name: "a reserved opcode", bytes: () => [frame(3, randomBytes(16))] },
  { name: "a continuation with no start", bytes: () => [frame(0, randomBytes(16))] },
  { name: "a truncated frame, then the end", bytes: () => [frame(2, randomBytes(10), { declaredLength: 100_000 })] },
  { name: "a frame announcing 2^62 bytes", bytes: () => [frame(2, randomBytes(10), { declaredLength: 2 ** 62 })] },
  { name: "a close frame with a 1-byte reason", bytes: () => [frame(8, Buffer.from([3]))] },
  {
    name: "a fragmented 2 MiB message",
    bytes: () => [frame(2, randomBytes(MIB), { fin: false }), frame(0, randomBytes(MIB + 10))],
  },
  { name: "raw garbage", bytes: () => [randomBytes(8192)] },
];

/** Things to send instead of a proper upgrade. */
const beforeUpgrade: { name: string; bytes: (path: string) => Buffer | string }[] = [
  { name: "garbage instead of HTTP", bytes: () => randomBytes(4096) },
  { name: "a truncated request line", bytes: (path) => `GET ${path} HTT` },
  {
    name: "an upgrade with a bad key",
    bytes: (path) => upgradeRequest(path).replace(/Sec-WebSocket-Key: \S+/, "Sec-WebSocket-Key: nope"),
  },
  { name: "an upgrade with version 99", bytes: (path) => upgradeRequest(path).replace("Version: 13", "Version: 99") },
  { name: "a 100 KiB header", bytes: (path) => upgradeRequest(path, `X-Big: ${"x".repeat(100 * 1024)}\r\n`) },
  {
    name: "a body on a GET with a lying length",
    bytes: (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc`,
  },
  {
    name: "a chunked body that never ends",
    bytes: (path) => `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\nabc`,
  },
];

describe("the bridge survives any input on any route", { timeout: 600_000 }, () => {
  let rig: HubBridgeRig;
  let target: RawTarget;
  const routes: Record<string, () => Promise<string>> = {};

  before(async () => {
    rig = await startHubBridgeRig("bridge-fuzz-routes");
    target = { host: "127.0.0.1", port: rig.port, tls: true };
    const tokenPath = async () => {
      const url = await automergeEndpointUrl({
        origin: rig.origin,
        vaultId: rig.vaultId,
        key: rig.member,
        certFingerprint: rig.certFingerprint,
        account: vaultAccountOf(rig.vaultId),
      });
      return new URL(url).pathname + new URL(url).search;
    };
    Object.assign(routes, {
      "a served vault": async () => `/v1/${rig.vaultId}`,
      "an unknown vault": async () => `/v1/${randomUUID()}`,
      "/automerge without a token": async () => "/automerge",
      "/automerge with a member's token": tokenPath,
      "an unknown path": async () => "/nope/../../etc/passwd",
      "a malformed vault id": async () => "/v1/ZZZ%00",
      "a path that is no URL": async () => "//[",
    });
  });

  after(async () => {
    await rig?.stop();
  });

  const hubAlive = () => rig.hub.exitCode === null && rig.hub.signalCode === null && pidAlive(rig.hub.pid!);

  async function inBatches(jobs: (() => Promise<unknown>)[]): Promise<void> {
    for (let i = 0; i < jobs.length; i += PARALLEL) await Promise.all(jobs.slice(i, i + PARALLEL).map((job) => job()));
  }

  const routeNames = [
    "a served vault",
    "an unknown vault",
    "/automerge without a token",
    "/automerge with a member's token",
    "an unknown path",
    "a malformed vault id",
    "a path that is no URL",
  ];
  for (const [r, route] of routeNames.entries()) {
    it(`lives through hostile frames and garbage HTTP on ${route}`, async () => {
      const upgrades: string[] = [];
      const from = (job: number): RawTarget => ({ ...target, localAddress: sourceOf(r, job) });
      const jobs = [
        ...afterUpgrade.map(
          (c, j) => async () =>
            upgrades.push(
              `${c.name}: ${(await attack(from(j), upgradeRequest(await routes[route]()), c.bytes(), 2_000)).split("\r\n")[0]}`,
            ),
        ),
        ...beforeUpgrade.map(
          (c, j) => async () => attack(from(afterUpgrade.length + j), c.bytes(await routes[route]()), [], 1_000),
        ),
        // Plain TCP bytes to the TLS port: garbage before the TLS handshake.
        async () =>
          attack({ ...from(afterUpgrade.length + beforeUpgrade.length), tls: false }, randomBytes(2048), [], 1_000),
      ];
      await inBatches(jobs);
      // A crash shows as an exit shortly after the input; give it time to happen.
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(hubAlive(), `the hub died on hostile input to ${route}:\n${rig.detail()}`);
      // The frames reached a WebSocket where one exists (not an answer to a refused upgrade).
      if (UPGRADING_ROUTES.has(route)) for (const answer of upgrades) assert.match(answer, /: HTTP\/1\.1 101 /, answer);
    });
  }

  it("still serves a member afterwards: its file reaches the leaf's disk", async () => {
    assert.ok(hubAlive(), `the hub is gone:\n${rig.detail()}`);
    const vault = await rig.connect(rig.member);
    try {
      await vault.writeFile("after-the-fuzz.md", "still here\n");
      await waitFor(
        "the member's file on the leaf's disk",
        async () => (await readText(join(rig.folder, "after-the-fuzz.md"))) === "still here\n",
        60_000,
        rig.detail,
      );
    } finally {
      await vault.close();
    }
  });
});
