/**
 * Issue 7, interop: an unmodified automerge-repo client (Repo + BrowserWebSocketClientAdapter, in
 * its own Node process that trusts the bridge's certificate through NODE_EXTRA_CA_CERTS) syncs the
 * vault document through `/automerge` with a signed URL token, both ways with a peer on NATS — and
 * gets nothing without a token or with an unauthorised key.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { stringifyAutomergeUrl } from "@automerge/automerge-repo";
import { SyncEngine } from "../agent/sync/engine.js";
import { readEntry } from "../agent/vault/model/vault-doc.js";
import type { BridgeServer } from "../bridge/server/bridge-server.js";
import { startBridgeRig, type BridgeRig } from "./helpers/bridge-rig.js";
import { keyFromSeed, type SigningKey } from "../bridge/client/handshake.js";
import { automergeEndpointUrl, vaultAutomergeUrl, vaultDocumentId } from "../bridge/client/automerge-token.js";
import { CloseCode } from "../bridge/client/frames.js";
import { decodeCbor, encodeCbor } from "../bridge/server/cbor.js";
import WebSocket from "ws";
import * as A from "@automerge/automerge";
import { waitFor } from "./helpers/wait.js";

const SCRIPT = resolve("test/helpers/automerge-repo-client.mjs");

interface Child {
  process: ChildProcess;
  lines: Record<string, unknown>[];
  output: () => string;
  exited: Promise<number | null>;
}

describe("bridge /automerge: an unmodified automerge-repo client", () => {
  let rig: BridgeRig;
  let engine: SyncEngine;
  let bridge: BridgeServer;
  let certFile: string;
  let vaultId: string;
  let allowed: SigningKey;
  const children: ChildProcess[] = [];

  before(async () => {
    allowed = await keyFromSeed(new Uint8Array(randomBytes(32)));
    rig = await startBridgeRig({
      name: "interop",
      peer: "agent",
      actor: "bb".repeat(16),
      keepText: "from the vault\n",
      isAuthorised: (key) => Buffer.from(key).equals(Buffer.from(allowed.publicKey)),
    });
    ({ engine, bridge, certFile, vaultId } = rig);
  });

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await rig?.stop();
  });

  function runClient(url: string, mode: "read-write" | "expect-refused"): Child {
    const child = spawn(process.execPath, [SCRIPT, url, vaultAutomergeUrl(vaultId), mode], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    const lines: Record<string, unknown>[] = [];
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of chunk.toString().split("\n").filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    return {
      process: child,
      lines,
      output: () => output,
      exited: new Promise((r) => child.once("exit", (code) => r(code))),
    };
  }

  it("names the vault document as automerge-repo does", () => {
    const hex = vaultId.replace(/-/g, "");
    const bytes = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
    assert.equal(vaultAutomergeUrl(vaultId), stringifyAutomergeUrl({ documentId: bytes as never }));
    assert.equal(vaultDocumentId("00000000-0000-4000-8000-000000000000").length > 20, true);
  });

  it("syncs the vault document both ways with a signed token", async () => {
    const url = await automergeEndpointUrl({
      origin: bridge.origin,
      vaultId,
      key: allowed,
      certFingerprint: bridge.certFingerprint,
    });
    const client = runClient(url, "read-write");
    await waitFor(
      "the client to find the document",
      () => client.lines.some((l) => l.step === "found"),
      30_000,
      client.output,
    );
    const found = client.lines.find((l) => l.step === "found")!;
    assert.equal(found.name, "interop");
    assert.equal(found.keep, "from the vault\n");
    await waitFor(
      "the client's write in the NATS peer's document",
      () => readEntry(engine.doc, "from-repo.md") !== undefined,
      30_000,
      client.output,
    );
    assert.equal(new TextDecoder().decode(readEntry(engine.doc, "from-repo.md")!.bytes), "written by automerge-repo\n");
    await engine.change([
      { type: "put", path: "from-nats.md", bytes: new TextEncoder().encode("to automerge-repo\n"), mtime: 2 },
    ]);
    await waitFor(
      "the NATS peer's write at the client",
      () => client.lines.some((l) => l.step === "remote" && l.text === "to automerge-repo\n"),
      30_000,
      client.output,
    );
    client.process.kill("SIGKILL");
  });

  it("closes garbage behind a valid token — random bytes, truncated CBOR, text, sync before join, another document — and leaves the vault alone", async () => {
    const heads = A.getHeads(engine.doc).join();
    const documentId = vaultDocumentId(vaultId);
    const join = encodeCbor({ type: "join", senderId: "fuzzer", peerMetadata: {}, supportedProtocolVersions: ["1"] });
    const cases: { frames: (Uint8Array | string)[]; codes: number[]; answer?: string }[] = [
      { frames: [new Uint8Array(randomBytes(64))], codes: [CloseCode.malformed] },
      { frames: [join.subarray(0, join.length - 3)], codes: [CloseCode.malformed] },
      { frames: ['{"type":"join"}'], codes: [CloseCode.malformed] },
      { frames: [encodeCbor([1, 2, 3])], codes: [CloseCode.malformed] },
      {
        frames: [
          encodeCbor({ type: "sync", senderId: "fuzzer", targetId: "x", documentId, data: new Uint8Array([1]) }),
        ],
        codes: [CloseCode.protocol],
      },
      {
        frames: [encodeCbor({ type: "join", senderId: "fuzzer", supportedProtocolVersions: ["2"] })],
        codes: [CloseCode.protocol],
      },
      {
        frames: [
          join,
          encodeCbor({
            type: "request",
            senderId: "fuzzer",
            targetId: "x",
            documentId,
            data: new Uint8Array(randomBytes(40)),
          }),
        ],
        codes: [CloseCode.malformed],
      },
      {
        frames: [
          join,
          encodeCbor({
            type: "request",
            senderId: "fuzzer",
            targetId: "x",
            documentId: "2nothere",
            data: new Uint8Array([1]),
          }),
        ],
        codes: [],
        answer: "doc-unavailable",
      },
    ];
    for (const c of cases) {
      const url = await automergeEndpointUrl({
        origin: bridge.origin,
        vaultId,
        key: allowed,
        certFingerprint: bridge.certFingerprint,
      });
      const ws = new WebSocket(url, { rejectUnauthorized: false });
      const answers: string[] = [];
      ws.on("message", (data: Buffer) =>
        answers.push(String((decodeCbor(new Uint8Array(data)) as { type?: unknown }).type)),
      );
      const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
      await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
      for (const f of c.frames) ws.send(f, { binary: typeof f !== "string" });
      if (c.answer) {
        await waitFor(
          `a ${c.answer} answer`,
          () => answers.includes(c.answer as string),
          30_000,
          () => answers.join(),
        );
        ws.close();
      } else {
        assert.ok(c.codes.includes(await closed), `frames ${c.frames.length}: answers ${answers.join()}`);
      }
      await closed;
    }
    assert.equal(A.getHeads(engine.doc).join(), heads);
  });

  it("refuses a client without a token, with a reused token and with an unauthorised key: the document stays unavailable", async () => {
    const refusedBefore = bridge.stats.refused;
    const stranger = await keyFromSeed(new Uint8Array(randomBytes(32)));
    const urls = [
      `${bridge.origin}/automerge`,
      await automergeEndpointUrl({
        origin: bridge.origin,
        vaultId,
        key: stranger,
        certFingerprint: bridge.certFingerprint,
      }),
      await automergeEndpointUrl({ origin: bridge.origin, vaultId, key: allowed, certFingerprint: "00".repeat(32) }),
    ];
    const results = await Promise.all(
      urls.map(async (url) => {
        const client = runClient(url, "expect-refused");
        const code = await client.exited;
        return { code, lines: client.lines, output: client.output() };
      }),
    );
    // The adapter sees the HTTP refusal of the upgrade (and, being automerge-repo's, rethrows it).
    assert.deepEqual(
      results.map((r) => [r.code, r.lines.map((l) => `${String(l.step)} ${String(l.status)}`)]),
      [
        [0, ["refused 401"]],
        [0, ["refused 403"]],
        [0, ["refused 401"]],
      ],
      results.map((r) => r.output).join("\n"),
    );
    assert.ok(bridge.stats.refused >= refusedBefore + 3, `refused ${bridge.stats.refused - refusedBefore}`);
    assert.equal(readEntry(engine.doc, "from-stranger.md"), undefined);
  });
});
