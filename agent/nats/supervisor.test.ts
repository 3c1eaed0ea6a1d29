import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { connect, type ConnectionOptions } from "@nats-io/transport-node";
import {
  NatsServerSupervisor,
  NatsServerReloadError,
  PortInUseError,
  classifyStartFailure,
  parseLinkEvent,
  portsFrom,
  type LinkEvent,
  type NatsServerExit,
} from "./supervisor.js";
import { NatsConfigError, type NatsServerConfig } from "./server-config.js";
import { waitFor } from "../../test/helpers/wait.js";

const dirs: string[] = [];
const servers: NatsServerSupervisor[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "es-sup-"));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const loopback = (port = -1) => ({ host: "127.0.0.1", port });

async function supervised(
  config: Omit<NatsServerConfig, "stateDir" | "serverName"> & { serverName?: string },
  options = {},
) {
  const s = new NatsServerSupervisor({ serverName: config.role, ...config, stateDir: await tempDir() }, options);
  servers.push(s);
  return s;
}

/** Publishes on one server until a subscriber on the other gets it (interest crosses links asynchronously). */
async function roundTrip(
  pubOpts: ConnectionOptions | string,
  subOpts: ConnectionOptions | string,
  deadlineMs = 10_000,
): Promise<string | undefined> {
  const options = (o: ConnectionOptions | string) => (typeof o === "string" ? { servers: o } : o);
  const sub = await connect(options(subOpts));
  const pub = await connect(options(pubOpts));
  const s = sub.subscribe("t.x", { max: 1, timeout: deadlineMs });
  await sub.flush();
  const received = (async () => {
    try {
      for await (const m of s) return m.string();
    } catch {
      return undefined; // timed out
    }
    return undefined;
  })();
  const timer = setInterval(() => pub.publish("t.x", "hello"), 25);
  const text = await received;
  clearInterval(timer);
  await pub.close();
  await sub.close();
  return text;
}

async function busyPort(): Promise<{ port: number; close(): void }> {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  return { port: (blocker.address() as { port: number }).port, close: () => blocker.close() };
}

/** A self-signed cert for 127.0.0.1 (the TLS helper makes the real ones; this only feeds the listeners). */
async function selfSigned(dir: string, name: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const r = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, `openssl is needed for this test: ${r.stderr}`);
  return { certFile, keyFile };
}

describe("NatsServerSupervisor roles", () => {
  it("links a leaf to a hub so a message published on the leaf reaches the hub", async () => {
    const hub = await supervised({ role: "hub", client: loopback(), leafnode: loopback() });
    const ports = await hub.start();
    assert.ok(ports.leafnode && ports.leafnode > 0 && ports.leafnode !== ports.client);
    const events: LinkEvent[] = [];
    const leaf = await supervised(
      { role: "leaf", client: loopback(), remotes: [{ url: `nats-leaf://127.0.0.1:${ports.leafnode}` }] },
      { onLink: (e: LinkEvent) => events.push(e) },
    );
    await leaf.start();
    assert.equal(await roundTrip(leaf.clientUrl, hub.clientUrl), "hello");
    assert.deepEqual(
      events.map((e) => [e.kind, e.state, e.remote]),
      [["leafnode", "up", `127.0.0.1:${ports.leafnode}`]],
      "the leaf reports its link to the hub",
    );
    assert.equal(leaf.links().length, 1);
    assert.equal(hub.links().length, 1);
    await hub.stop();
    for (let i = 0; i < 400 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      events.map((e) => e.state),
      ["up", "down"],
      "and its loss",
    );
    assert.equal(leaf.links().length, 0);
  });

  it("links a leaf to a hub over the hub's websocket listener (the proxy-friendly path)", async () => {
    const hub = await supervised({
      role: "hub",
      client: loopback(),
      leafnode: loopback(),
      leafnodeWebsocket: loopback(),
    });
    const ports = await hub.start();
    assert.ok(ports.websocket && ports.websocket > 0);
    const leaf = await supervised({
      role: "leaf",
      client: loopback(),
      remotes: [{ url: `ws://127.0.0.1:${ports.websocket}` }],
    });
    await leaf.start();
    assert.equal(await roundTrip(leaf.clientUrl, hub.clientUrl), "hello");
  });

  it("links a leaf over TLS when it pins the hub's certificate, and a leaf pinning another one stays out", async () => {
    const dir = await tempDir();
    const hubCert = await selfSigned(dir, "hub");
    const otherCert = await selfSigned(dir, "other");
    const hub = await supervised({ role: "hub", client: loopback(), leafnode: loopback(), tls: hubCert });
    const ports = await hub.start();
    const url = `tls://127.0.0.1:${ports.leafnode}`;
    const hubClient = { servers: hub.clientUrl, tls: { caFile: hubCert.certFile } };
    const pinned = await supervised({
      role: "leaf",
      serverName: "pinned",
      client: loopback(),
      remotes: [{ url, caFile: hubCert.certFile }],
    });
    await pinned.start();
    assert.equal(await roundTrip(pinned.clientUrl, hubClient), "hello");
    const wrong = await supervised({
      role: "leaf",
      serverName: "wrong",
      client: loopback(),
      remotes: [{ url, caFile: otherCert.certFile }],
    });
    await wrong.start();
    await waitFor(
      "the leaf with the wrong CA to log the TLS failure",
      () => /x509|certificate/i.test(wrong.logTail()),
      10_000,
      () => wrong.logTail(),
    );
    assert.match(wrong.logTail(), /x509|certificate/i, "the leaf with the wrong CA logs the TLS failure");
    assert.equal(await roundTrip(wrong.clientUrl, hubClient, 300), undefined, "nothing crosses from the unpinned leaf");
  });

  it("meshes two peers through cluster routes", async () => {
    const a = await supervised({
      role: "peer",
      serverName: "pa",
      client: loopback(),
      cluster: { ...loopback(), routes: [] },
    });
    const pa = await a.start();
    const routes: LinkEvent[] = [];
    const b = await supervised(
      {
        role: "peer",
        serverName: "pb",
        client: loopback(),
        cluster: { ...loopback(), routes: [`nats-route://127.0.0.1:${pa.cluster}`] },
      },
      { onLink: (e: LinkEvent) => routes.push(e) },
    );
    await b.start();
    assert.equal(await roundTrip(b.clientUrl, a.clientUrl), "hello");
    // A duplicate route (each side soliciting) may come and go; at least one stays up.
    assert.deepEqual([routes[0].kind, routes[0].state], ["route", "up"]);
    assert.ok(b.links().some((l) => l.kind === "route"));
  });
});

describe("NatsServerSupervisor lifecycle", () => {
  it("writes its config 0600 in the state folder and restarts after stop with fresh ports", async () => {
    const s = await supervised({ role: "peer", client: loopback(), monitoring: loopback() });
    const first = await s.start();
    assert.ok(first.monitoring && first.monitoring > 0);
    assert.equal((await stat(s.configPath)).mode & 0o777, 0o600);
    const pid = s.pid as number;
    await Promise.all([s.stop(), s.stop()]);
    await s.stop();
    assert.equal(alive(pid), false);
    assert.equal(s.running, false);
    assert.throws(() => s.ports);
    const second = await s.start();
    assert.ok(second.client > 0);
    assert.notEqual(s.pid, pid);
    await s.stop();
  });

  it("reloads a new config with SIGHUP, keeping its clients, and reports a reload the server refuses", async () => {
    const s = await supervised({ role: "peer", client: loopback(), cluster: { ...loopback(), routes: [] } });
    await s.start();
    const nc = await connect({ servers: s.clientUrl });
    try {
      await s.reload({ ...s.config, maxPayloadBytes: 2 * 1024 * 1024 });
      assert.match(await readFile(s.configPath, "utf8"), /max_payload: 2097152/);
      await nc.flush();
      assert.equal(nc.isClosed(), false, "outside operator mode a reload keeps clients");
      await assert.rejects(
        s.reload({ ...s.config, client: { host: "127.0.0.1", port: 1 } }),
        (e: Error) => e instanceof NatsServerReloadError && /port/.test(e.message),
      );
      await s.reload({ ...s.config, client: loopback() });
      assert.equal(s.running, true);
    } finally {
      await nc.close();
    }
  });

  it("reports a server that dies on its own, and not one that was stopped", async () => {
    const exits: NatsServerExit[] = [];
    const s = await supervised(
      { role: "peer", client: loopback() },
      { onUnexpectedExit: (exit: NatsServerExit) => exits.push(exit) },
    );
    await s.start();
    process.kill(s.pid as number, "SIGKILL");
    for (let i = 0; i < 400 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(exits, [{ code: null, signal: "SIGKILL" }]);
    assert.equal(s.running, false);
    await s.start();
    await s.stop();
    assert.equal(exits.length, 1);
  });

  it("names the port and the flag when the client port is taken", async () => {
    const busy = await busyPort();
    try {
      const s = await supervised({ role: "peer", client: loopback(busy.port) });
      await assert.rejects(
        s.start(),
        (e: Error) =>
          e instanceof PortInUseError &&
          e.listener === "client" &&
          e.port === busy.port &&
          e.message.includes("--nats-listen"),
      );
      assert.equal(s.pid, undefined);
    } finally {
      busy.close();
    }
  });

  it("names the leafnode flag when the leafnode port is taken", async () => {
    const busy = await busyPort();
    try {
      const s = await supervised({ role: "hub", client: loopback(), leafnode: loopback(busy.port) });
      await assert.rejects(
        s.start(),
        (e: Error) =>
          e instanceof PortInUseError &&
          e.listener === "leafnode" &&
          e.message.includes(`${busy.port}`) &&
          e.message.includes("--leaf-listen"),
      );
    } finally {
      busy.close();
    }
  });

  it("turns a configuration nats-server rejects into a NatsConfigError", async () => {
    const s = await supervised({
      role: "hub",
      client: loopback(),
      tls: { certFile: "/nonexistent/hub.crt", keyFile: "/nonexistent/hub.key" },
    });
    await assert.rejects(
      s.start(),
      (e: Error) => e instanceof NatsConfigError && /nonexistent\/hub\.crt/.test(e.message),
    );
  });

  it("leaves no nats-server behind when its parent is killed with SIGKILL", async () => {
    const dir = await tempDir();
    const script = join(dir, "parent.mts");
    await writeFile(
      script,
      `import { NatsServerSupervisor } from ${JSON.stringify(new URL("./supervisor.ts", import.meta.url).pathname)};
const s = new NatsServerSupervisor({ role: "peer", stateDir: ${JSON.stringify(dir)}, serverName: "orphan", client: { host: "127.0.0.1", port: -1 } });
await s.start();
console.log(s.pid);
setInterval(() => {}, 1000);
`,
    );
    const parent = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
    const pid = await new Promise<number>((resolve) =>
      parent.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim()))),
    );
    assert.ok(pid > 0 && alive(pid), "nats-server runs while its parent does");
    parent.kill("SIGKILL");
    for (let i = 0; i < 400 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(alive(pid), false, "nats-server exited with its parent");
  });
});

const base = (): NatsServerConfig => ({ role: "peer", stateDir: "/x", serverName: "p", client: loopback(4222) });

describe("start-up output", () => {
  it("recognises 2.9.10's leafnode and route link lines", () => {
    const t = "[27176] 2026/11/22 18:59:10.995702 [INF] ";
    assert.deepEqual(parseLinkEvent(`${t}127.0.0.1:35597 - lid_ws:4 - Leafnode connection created for account: $G `), {
      kind: "leafnode",
      state: "up",
      remote: "127.0.0.1:35597",
      id: "lid_ws:4",
    });
    assert.deepEqual(
      parseLinkEvent(`${t}127.0.0.1:35597 - lid:4 - Leafnode connection closed: Client Closed account: $G`),
      { kind: "leafnode", state: "down", remote: "127.0.0.1:35597", id: "lid:4" },
    );
    assert.deepEqual(parseLinkEvent(`${t}127.0.0.1:16222 - rid:4 - Route connection created`), {
      kind: "route",
      state: "up",
      remote: "127.0.0.1:16222",
      id: "rid:4",
    });
    assert.deepEqual(parseLinkEvent(`${t}127.0.0.1:16222 - rid:4 - Router connection closed: Server Shutdown`), {
      kind: "route",
      state: "down",
      remote: "127.0.0.1:16222",
      id: "rid:4",
    });
    assert.equal(parseLinkEvent(`${t}127.0.0.1:5 - cid:4 - Client connection created`), undefined);
  });

  const hub: NatsServerConfig = {
    role: "hub",
    stateDir: "/x",
    serverName: "h",
    client: loopback(4222),
    leafnode: loopback(7422),
    leafnodeWebsocket: loopback(8080),
  };
  const exit = { code: 1, signal: null };

  it("reads the ports from the log, or from the ports file where the log lacks them", () => {
    const json = {
      nats: ["nats://127.0.0.1:44673"],
      websocket: ["ws://127.0.0.1:34005"],
      cluster: ["nats://127.0.0.1:45309"],
      monitoring: ["http://127.0.0.1:44943"],
    };
    const all = { ...hub, cluster: { ...loopback(-1), routes: [] }, monitoring: loopback(-1) };
    const leafLine = "[1] [INF] Listening for leafnode connections on 127.0.0.1:43511\n[1] [INF] Server is ready\n";
    assert.deepEqual(portsFrom(json, leafLine, all), {
      client: 44673,
      leafnode: 43511,
      websocket: 34005,
      cluster: 45309,
      monitoring: 44943,
    });
    assert.equal(portsFrom(json, "Server is ready", all), undefined, "the leafnode port is only ever in the log");
    const log = [
      "[1] [INF] Starting http monitor on 127.0.0.1:44943",
      "[1] [INF] Listening for websocket clients on ws://127.0.0.1:34005",
      "[1] [INF] Listening for leafnode connections on 127.0.0.1:43511",
      "[1] [INF] Listening for client connections on 127.0.0.1:44673",
      "[1] [INF] Server is ready",
    ].join("\n");
    assert.equal(portsFrom(undefined, log, all), undefined, "the route listener is logged after 'ready'");
    assert.deepEqual(
      portsFrom(undefined, `${log}\n[1] [INF] Listening for route connections on 127.0.0.1:45309\n`, all),
      { client: 44673, leafnode: 43511, websocket: 34005, cluster: 45309, monitoring: 44943 },
    );
    assert.equal(
      portsFrom(undefined, "[1] [INF] Listening for client connections on [::]:4222\n", {
        ...base(),
        client: loopback(-1),
      })?.client,
      4222,
    );
  });

  it("maps each listener's bind failure (2.9.10 wording) to its flag", () => {
    const lines: [string, string][] = [
      [
        '[FTL] Error listening on port: 127.0.0.1:4222, "listen tcp 127.0.0.1:4222: bind: address already in use"',
        "--nats-listen",
      ],
      [
        "[FTL] Error listening on leafnode port: 7422 - listen tcp 0.0.0.0:7422: bind: address already in use",
        "--leaf-listen",
      ],
      [
        "[FTL] Unable to listen for websocket connections: listen tcp 127.0.0.1:8080: bind: address already in use",
        "--leaf-ws-listen",
      ],
      [
        "[FTL] Error listening on router port: 6222 - listen tcp [::]:6222: bind: address already in use",
        "--cluster-listen",
      ],
    ];
    for (const [line, flag] of lines) {
      const error = classifyStartFailure(`Starting nats-server\n${line}\n`, hub, "/x/nats-server.conf", exit);
      assert.ok(error instanceof PortInUseError, line);
      assert.match(error.message, new RegExp(flag));
    }
  });

  it("reports a config error with nats-server's own line, and anything else with the last lines", () => {
    const config = classifyStartFailure(
      'nats-server: /x/nats-server.conf:2:1: unknown field "bogus"\n',
      hub,
      "/x/nats-server.conf",
      exit,
    );
    assert.ok(config instanceof NatsConfigError);
    assert.match(config.message, /unknown field "bogus"/);
    const other = classifyStartFailure("Starting nats-server\n[FTL] something odd\n", hub, "/x/nats-server.conf", {
      code: null,
      signal: "SIGSEGV",
    });
    assert.equal(other.name, "NatsServerStartError");
    assert.match(other.message, /SIGSEGV.*something odd/);
  });
});
