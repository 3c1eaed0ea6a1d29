/**
 * Issue 7, hostile input: random bytes, truncated JSON and CBOR, oversized frames, sync before
 * the handshake, silence, floods and garbage after a valid handshake. None may crash the bridge,
 * reach the vault's bus as anything but a dropped message, or change the vault document; and a
 * well-behaved client still syncs afterwards.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import WebSocket from "ws";
import { encode as cborEncode } from "cbor-x";
import * as A from "@automerge/automerge";
import { SyncEngine } from "../agent/sync/engine.js";
import type { BridgeServer } from "../bridge/server/bridge-server.js";
import { startBridgeRig, type BridgeRig } from "./helpers/bridge-rig.js";
import { keyFromSeed, type SigningKey } from "../bridge/client/handshake.js";
import { CloseCode, encodeControl, encodeData, toBase64 } from "../bridge/client/frames.js";
import { memoryPins, openSession } from "../bridge/client/session.js";
import { BridgeVault } from "../bridge/client/vault.js";
import { nodeSocket } from "../bridge/node/ws-socket.js";
import type { BridgeSocket, SocketFactory } from "../bridge/client/socket.js";
import { waitFor } from "./helpers/wait.js";

const DATA_FRAME_MAX = 256 * 1024;
const RANDOM_CONNECTIONS = 120;

interface Raw {
  ws: WebSocket;
  closed: Promise<number>;
  texts: string[];
  binaries: number;
}

describe("bridge under hostile input", () => {
  let rig: BridgeRig;
  let engine: SyncEngine;
  let bridge: BridgeServer;
  let vaultId: string;
  let good: SigningKey;
  let headsBefore: string;

  before(async () => {
    rig = await startBridgeRig({
      name: "fuzzed",
      peer: "hub-replica",
      actor: "aa".repeat(16),
      keepText: "must survive\n",
      isAuthorised: () => true,
      limits: { handshakeMs: 1_000, dataFrameBytesMax: DATA_FRAME_MAX, framesPerSecond: 100, framesBurst: 200 },
    });
    ({ engine, bridge, vaultId } = rig);
    headsBefore = A.getHeads(engine.doc).join();
    good = await keyFromSeed(new Uint8Array(randomBytes(32)));
  });

  after(async () => {
    await rig?.stop();
  });

  function raw(path = `/v1/${vaultId}`): Promise<Raw> {
    const ws = new WebSocket(`${bridge.origin}${path}`, { rejectUnauthorized: false });
    const r: Raw = {
      ws,
      texts: [],
      binaries: 0,
      closed: new Promise((resolve) => ws.on("close", (code) => resolve(code))),
    };
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => (isBinary ? r.binaries++ : r.texts.push(data.toString())));
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(r));
      ws.once("error", reject);
    });
  }

  const validPeerHello = () =>
    encodeControl({
      t: "hello",
      v: 1,
      key: toBase64(good.publicKey),
      nonce: toBase64(new Uint8Array(randomBytes(32))),
    });

  it("closes on random bytes, truncated JSON or CBOR and sync frames before the handshake, sending no sync data", async () => {
    const codes = new Map<number, number>();
    let binariesOut = 0;
    for (let batch = 0; batch < RANDOM_CONNECTIONS; batch += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const r = await raw();
          const kind = (batch + j) % 5;
          const hello = validPeerHello();
          if (kind === 0) r.ws.send(randomBytes(randomInt(0, 2048)), { binary: true });
          if (kind === 1) r.ws.send(randomBytes(randomInt(1, 512)).toString("latin1"));
          if (kind === 2) r.ws.send(hello.slice(0, randomInt(0, hello.length - 1)));
          if (kind === 3) {
            const cbor = cborEncode({ t: "hello", v: 1, key: Buffer.from(good.publicKey), nonce: randomBytes(32) });
            r.ws.send(cbor.subarray(0, randomInt(1, cbor.length)), { binary: randomInt(0, 2) === 0 });
          }
          if (kind === 4) r.ws.send(encodeData({ op: "broadcast", payload: new Uint8Array(randomBytes(64)) }));
          const code = await r.closed;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          binariesOut += r.binaries;
          for (const text of r.texts) assert.match(JSON.parse(text).t as string, /^(hello|error)$/);
        }),
      );
    }
    assert.equal(binariesOut, 0);
    // 1007: ws itself refuses a text frame that is not UTF-8 (RFC 6455 §8.1).
    for (const code of codes.keys())
      assert.ok(
        ([CloseCode.malformed, CloseCode.protocol, 1007] as number[]).includes(code),
        `close code ${code} (${JSON.stringify([...codes])})`,
      );
  });

  it("closes an oversized frame with 1009, a silent peer after the handshake timeout, refuses unknown paths, and answers an unknown vault as a served one", async () => {
    const big = await raw();
    big.ws.send(new Uint8Array(DATA_FRAME_MAX + 1));
    assert.equal(await big.closed, CloseCode.tooBig);
    const silent = await raw();
    assert.equal(await silent.closed, CloseCode.handshakeTimeout);
    assert.deepEqual(
      silent.texts.map((t) => JSON.parse(t).t),
      ["hello", "error"],
    );
    const unknown = await raw(`/v1/${randomUUID()}`);
    assert.equal(await unknown.closed, CloseCode.handshakeTimeout);
    assert.deepEqual(
      unknown.texts.map((t) => JSON.parse(t).t),
      ["hello", "error"],
    );
    await assert.rejects(raw("/v1/../../etc/passwd"), /Unexpected server response: 404/);
  });

  /** A session authenticated with the good key, then the raw socket for whatever comes next. */
  async function authenticated() {
    let socket: BridgeSocket | undefined;
    let closeCode = 0;
    const factory: SocketFactory = (url, events) =>
      (socket = nodeSocket(url, {
        ...events,
        onClose: (code, reason) => ((closeCode = code), events.onClose(code, reason)),
      }));
    await openSession(
      { url: `${bridge.origin}/v1/${vaultId}`, key: good, socket: factory, pins: memoryPins() },
      { onData: () => {}, onClose: () => {} },
    );
    return { socket: socket as BridgeSocket, closeCode: () => closeCode };
  }

  it("drops garbage sync payloads after the handshake at the engine, without touching the vault", async () => {
    const droppedBefore = engine.stats.dropped;
    const { socket, closeCode } = await authenticated();
    for (let i = 0; i < 60; i++) {
      // A whole (unchunked) message of random bytes; every third one shaped as a sync message of garbage Automerge.
      const payload = new Uint8Array(randomBytes(randomInt(4, 300)));
      payload.set(i % 3 === 0 ? [1, 0, 1, 2] : [1, 0], 0);
      socket.send(encodeData(i % 2 ? { op: "broadcast", payload } : { op: "send", to: "hub-replica", payload }));
      // and a chunk frame that lies about its size, which the reassembler drops
      socket.send(
        encodeData({ op: "broadcast", payload: Uint8Array.from([1, 1, 0, 0, 0, i, 0, 5, 0, 2, 0, 0, 0, 1, 7]) }),
      );
    }
    await waitFor(
      "the bad payloads to be dropped",
      () => engine.stats.dropped >= droppedBefore + 20,
      10_000,
      () => `dropped ${engine.stats.dropped - droppedBefore}`,
    );
    assert.equal(closeCode(), 0, "well-formed frames with bad payloads keep the connection");
    socket.send(new Uint8Array([7, 7, 7]));
    await waitFor("the malformed frame to close the connection", () => closeCode() !== 0, 10_000);
    assert.equal(closeCode(), CloseCode.malformed);
    assert.equal(A.getHeads(engine.doc).join(), headsBefore);
  });

  it("closes a flood over the rate limit with 4008", async () => {
    const { socket, closeCode } = await authenticated();
    for (let i = 0; i < 1000; i++) socket.send(encodeData({ op: "broadcast", payload: new Uint8Array([9]) }));
    await waitFor("the flood to close the connection", () => closeCode() !== 0, 10_000);
    assert.equal(closeCode(), CloseCode.rateLimited);
    assert.ok(bridge.stats.rateLimited >= 1);
  });

  it("still serves a well-behaved client the intact vault afterwards", async () => {
    const vault = await BridgeVault.connect({ url: `${bridge.origin}/v1/${vaultId}`, key: good, socket: nodeSocket });
    try {
      assert.equal(vault.readText("keep.md"), "must survive\n");
      assert.equal(A.getHeads(engine.doc).join(), headsBefore);
    } finally {
      await vault.close();
    }
    await waitFor(
      "every connection to be closed",
      () => bridge.connections() === 0,
      10_000,
      () => `${bridge.connections()} still open`,
    );
    assert.equal(bridge.connections(), 0, "every connection was closed and forgotten");
  });
});
