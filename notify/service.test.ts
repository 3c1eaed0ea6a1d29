import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request as httpRequest } from "node:http";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import WebSocket from "ws";
import { NatsServerSupervisor } from "../agent/nats/supervisor.js";
import { NatsTransport } from "../agent/nats/nats-transport.js";
import { runTransportContract } from "../agent/sync/transport-contract.js";
import { asPeerId } from "../agent/sync/ports.js";
import { Identity } from "../agent/auth/identity.js";
import { startNotifyService, type NotifyService } from "./service.js";
import { NotifyClient } from "./client.js";
import { newMessage, encodeMessage, type Signer } from "./model.js";
import { notifySubject, syncPrefix, rpcSubject } from "../agent/nats/notify-subjects.js";
import { signRequest, type RpcReply } from "./rpc.js";
import { base64urlEncode, utf8 } from "./encoding.js";
import { AUTH_DOMAIN, CLOSE_REVOKED, type ServerFrame } from "./web/protocol.js";

let server: NatsServerSupervisor;
let dir: string;
const conns: NatsConnection[] = [];
const open = async () => {
  const nc = await connect({ servers: server.clientUrl });
  conns.push(nc);
  return nc;
};
const signerOf = (id: Identity): Signer => ({ peerId: id.nkeyPublic, sign: (b) => id.sign(b) });
const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as RpcReply;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "es-notify-svc-"));
  server = new NatsServerSupervisor({
    role: "peer",
    stateDir: join(dir, "nats"),
    serverName: "notify-svc",
    client: { host: "127.0.0.1", port: -1 },
  });
  await server.start();
});
after(async () => {
  for (const nc of conns) await nc.close().catch(() => {});
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

runTransportContract("NatsTransport on the notify sync bus", async () => {
  const ncs = [await open(), await open(), await open()];
  const [a, b, c] = ["peer-a", "peer-b", "peer-c"].map(
    (id, i) => new NatsTransport({ nc: ncs[i], subjectPrefix: syncPrefix("default"), self: asPeerId(id) }),
  );
  return {
    a,
    b,
    c,
    settle: async () => {
      await Promise.all(ncs.map((nc) => nc.flush()));
      await new Promise((r) => setTimeout(r, 5));
    },
    teardown: async () => {
      for (const t of [a, b, c]) await t.stop();
    },
  };
});

describe("notify service", () => {
  let service: NotifyService;
  let agent: Identity;
  let nc: NatsConnection;

  before(async () => {
    agent = Identity.generate("agent@test");
    nc = await open();
    service = await startNotifyService({
      nc,
      homeDir: join(dir, "home"),
      log: { debug() {}, info() {}, warn() {} },
      inboxListen: "127.0.0.1:-1",
      device: { peerId: agent.nkeyPublic, sign: (b) => agent.sign(b), publicKey: agent.publicKey, name: "agent" },
    });
  });
  after(async () => {
    await service.stop();
  });

  it("drops malformed, forged and misrouted live messages with a reason, and keeps working", async () => {
    const subject = notifySubject("default", "p", "t");
    const good = newMessage({ project: "p", thread: "t", body: "ok" }, signerOf(agent), "agent", Date.now());
    const forged = { ...good, id: "f".repeat(20) };
    const misrouted = newMessage({ project: "p", thread: "other", body: "x" }, signerOf(agent), "agent", Date.now());
    const stranger = newMessage(
      { project: "p", thread: "t", body: "hi" },
      signerOf(Identity.generate()),
      "who",
      Date.now(),
    );
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array([0xff, 0, 1]), /not JSON/],
      [utf8("x".repeat(200_000)), /exceeds/],
      [utf8(JSON.stringify(forged)), /signature does not match/],
      [encodeMessage(misrouted), /subject does not match/],
      [encodeMessage(stranger), /not paired/],
    ];
    for (const [bytes, pattern] of cases) {
      const reply = decode((await nc.request(subject, bytes, { timeout: 5000 })).data);
      assert.equal(reply.ok, false);
      assert.match(reply.ok ? "" : reply.error.message, pattern);
    }
    const reply = decode((await nc.request(subject, encodeMessage(good), { timeout: 5000 })).data);
    assert.deepEqual(reply, { ok: true, result: { id: good.id, stored: "stored" } });
    assert.equal(service.store.get(good.id)?.body, "ok");
  });

  it("cuts a long log to fit one NATS reply, keeping the newest messages", async () => {
    const client = new NotifyClient({ nc, signer: signerOf(agent), name: "agent" });
    const body = "x".repeat(16 * 1024 - 100);
    for (let i = 0; i < 60; i++) await client.send({ project: "big", thread: "t", body: `${i} ${body}` });
    const log = await client.log({ project: "big", thread: "t" });
    assert.ok(log.length > 30 && log.length < 60, String(log.length));
    const all = service.store.list({ project: "big", thread: "t" }); // oldest first
    assert.equal(all.length, 60);
    assert.deepEqual(
      log.map((m) => m.id),
      all.slice(-log.length).map((m) => m.id),
    );
  });

  it("ends an ask with an answer that reached the store without a live delivery", async () => {
    const client = new NotifyClient({ nc, signer: signerOf(agent), name: "agent" });
    const other = Identity.generate();
    await service.store.putDevice({
      v: 1,
      peer: other.nkeyPublic,
      name: "other",
      kind: "full",
      addedAt: 1,
      addedBy: other.nkeyPublic,
    });
    const started = Date.now();
    const { answer } = await client.ask(
      { project: "p", thread: "quiet", body: "?", actions: [{ id: "ok", label: "OK" }] },
      {
        timeoutMs: 10_000,
        // As if it came by store sync from another device: no live message on the thread at all.
        onSent: (q) => {
          const reply = newMessage(
            { project: "p", thread: "quiet", body: "OK", replyTo: q.id, actionResponse: "ok" },
            signerOf(other),
            "other",
            Date.now(),
          );
          setTimeout(() => void service.store.insert(reply, JSON.stringify(reply)), 200);
        },
      },
    );
    assert.equal(answer.actionResponse, "ok");
    assert.ok(Date.now() - started < 2_000, "answered by the long poll, not a periodic check");
  });

  it("refuses replayed, stale and unsigned requests", async () => {
    const request = signRequest("threads", {}, signerOf(agent), Date.now());
    const bytes = utf8(JSON.stringify(request));
    assert.equal(decode((await nc.request(rpcSubject("default", "threads"), bytes, { timeout: 5000 })).data).ok, true);
    const replay = decode((await nc.request(rpcSubject("default", "threads"), bytes, { timeout: 5000 })).data);
    assert.deepEqual(replay, { ok: false, error: { name: "AuthorizationError", message: "request replayed" } });
    const stale = signRequest("threads", {}, signerOf(agent), Date.now() - 10 * 60_000);
    assert.match(
      JSON.stringify(
        decode(
          (await nc.request(rpcSubject("default", "threads"), utf8(JSON.stringify(stale)), { timeout: 5000 })).data,
        ),
      ),
      /clock/,
    );
    const tampered = { ...signRequest("devices", {}, signerOf(agent), Date.now()), op: "unpair" };
    assert.match(
      JSON.stringify(
        decode(
          (await nc.request(rpcSubject("default", "unpair"), utf8(JSON.stringify(tampered)), { timeout: 5000 })).data,
        ),
      ),
      /signature/,
    );
  });

  it("serves the inbox only under its own host name and to same-origin sockets", async () => {
    const url = new URL(service.inboxUrl as string);
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        httpRequest({ host: url.hostname, port: url.port, path: "/", headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on("error", reject)
          .end();
      });
    assert.equal(await status(url.host), 200);
    assert.equal(await status(`evil.example:${url.port}`), 421);
    const foreign = new WebSocket(`ws://${url.host}/ws`, { headers: { Origin: "http://evil.example" } });
    const refused = await new Promise<string>((resolve) => {
      foreign.on("unexpected-response", (_req, res) => resolve(String(res.statusCode)));
      foreign.on("open", () => resolve("open"));
      foreign.on("error", () => resolve("error"));
    });
    assert.equal(refused, "403");
  });

  it("pairs a browser key over the socket with a token and closes the socket when it is unpaired", async () => {
    const url = new URL(service.inboxUrl as string);
    const browser = Identity.generate();
    const ws = new WebSocket(`ws://${url.host}/ws`, { headers: { Origin: `http://${url.host}` } });
    const frames: ServerFrame[] = [];
    const next = (t: ServerFrame["t"]) =>
      new Promise<ServerFrame>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${t} frame; got ${JSON.stringify(frames)}`)), 10_000);
        const check = () => {
          const found = frames.find((f) => f.t === t);
          if (found) {
            clearTimeout(timer);
            resolve(found);
          } else setTimeout(check, 10);
        };
        check();
      });
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    ws.on("message", (data) => frames.push(JSON.parse(String(data)) as ServerFrame));
    const challenge = (await next("challenge")) as Extract<ServerFrame, { t: "challenge" }>;
    ws.send(
      JSON.stringify({
        t: "auth",
        from: browser.nkeyPublic,
        name: "b",
        sig: base64urlEncode(browser.sign(utf8(AUTH_DOMAIN + challenge.nonce))),
      }),
    );
    await next("unpaired");
    ws.send(JSON.stringify({ t: "send", ref: 1, json: "{}" }));
    assert.match(JSON.stringify(await next("error")), /pair this browser first/);

    const client = new NotifyClient({ nc, signer: signerOf(agent), name: "agent" });
    const { token } = await client.pair("browser");
    ws.send(JSON.stringify({ t: "pair", request: signRequest("accept", { token }, signerOf(browser), Date.now()) }));
    const ready = (await next("ready")) as Extract<ServerFrame, { t: "ready" }>;
    assert.equal(ready.device.name, "browser");
    assert.equal(ready.device.kind, "notify");

    const reply = newMessage(
      { project: "p", thread: "t", body: "from the browser" },
      signerOf(browser),
      "browser",
      Date.now(),
    );
    ws.send(JSON.stringify({ t: "send", ref: 2, json: JSON.stringify(reply) }));
    assert.deepEqual(await next("sent"), { t: "sent", ref: 2, id: reply.id });
    assert.equal(service.store.get(reply.id)?.from, browser.nkeyPublic);

    await client.unpair("browser");
    await next("revoked");
    assert.equal(await closed, CLOSE_REVOKED);
    assert.deepEqual(service.notifyKeys(), []);
  });
});
