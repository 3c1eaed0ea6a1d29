import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { connect } from "@nats-io/transport-node";
import { NatsServerSupervisor, PortInUseError } from "./supervisor.js";
import { renderConfig, UnsafeConfigError, assertNoCve2023_47090 } from "./server-config.js";

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

async function roundTrip(pubUrl: string, subUrl: string): Promise<string> {
  const sub = await connect({ servers: subUrl });
  const pub = await connect({ servers: pubUrl });
  const s = sub.subscribe("t.x", { max: 1 });
  await sub.flush();
  // Interest crosses a leaf or route link asynchronously: publish until it arrives.
  const received = (async () => {
    for await (const m of s) return m.string();
    return "";
  })();
  const timer = setInterval(() => pub.publish("t.x", "hello"), 50);
  const text = await received;
  clearInterval(timer);
  await pub.close();
  await sub.close();
  return text;
}

describe("NatsServerSupervisor", () => {
  it("links a leaf to a hub so a message published on the leaf reaches the hub", async () => {
    const hub = new NatsServerSupervisor({ role: "hub", stateDir: await tempDir(), serverName: "hub", client: { host: "127.0.0.1", port: -1 }, leafnode: { host: "127.0.0.1", port: -1 } });
    servers.push(hub);
    const ports = await hub.start();
    assert.ok(ports.leafnode && ports.leafnode > 0);
    const leaf = new NatsServerSupervisor({ role: "leaf", stateDir: await tempDir(), serverName: "leaf", client: { host: "127.0.0.1", port: -1 }, remotes: [{ url: `nats-leaf://127.0.0.1:${ports.leafnode}` }] });
    servers.push(leaf);
    await leaf.start();
    assert.equal(await roundTrip(leaf.clientUrl, hub.clientUrl), "hello");
  });

  it("meshes two peers through cluster routes", async () => {
    const a = new NatsServerSupervisor({ role: "peer", stateDir: await tempDir(), serverName: "pa", client: { host: "127.0.0.1", port: -1 }, cluster: { host: "127.0.0.1", port: -1, routes: [] } });
    servers.push(a);
    const pa = await a.start();
    const b = new NatsServerSupervisor({ role: "peer", stateDir: await tempDir(), serverName: "pb", client: { host: "127.0.0.1", port: -1 }, cluster: { host: "127.0.0.1", port: -1, routes: [`nats-route://127.0.0.1:${pa.cluster}`] } });
    servers.push(b);
    await b.start();
    assert.equal(await roundTrip(b.clientUrl, a.clientUrl), "hello");
  });

  it("names the port and the flag when a port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    const s = new NatsServerSupervisor({ role: "hub", stateDir: await tempDir(), serverName: "busy", client: { host: "127.0.0.1", port } });
    await assert.rejects(s.start(), (e: Error) => e instanceof PortInUseError && e.message.includes(String(port)) && e.message.includes("--nats-listen"));
    blocker.close();
  });

  it("leaves no nats-server behind when its parent is killed with SIGKILL", async () => {
    const dir = await tempDir();
    const script = join(dir, "parent.mts");
    await writeFile(script, `import { NatsServerSupervisor } from ${JSON.stringify(new URL("./supervisor.ts", import.meta.url).pathname)};
const s = new NatsServerSupervisor({ role: "peer", stateDir: ${JSON.stringify(dir)}, serverName: "orphan", client: { host: "127.0.0.1", port: -1 } });
await s.start();
console.log(s.pid);
setInterval(() => {}, 1000);
`);
    const parent = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
    const pid = await new Promise<number>((resolve) => parent.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim()))));
    assert.ok(alive(pid), "nats-server runs while its parent does");
    parent.kill("SIGKILL");
    for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(alive(pid), false, "nats-server exited with its parent");
  });
});

describe("renderConfig", () => {
  it("never writes authorization{} together with a system account (CVE-2023-47090)", () => {
    assert.throws(() => assertNoCve2023_47090("authorization { user: a }\nsystem_account: SYS\n"), UnsafeConfigError);
    assert.throws(() => renderConfig({ role: "hub", stateDir: "/x", serverName: "h", client: { host: "0.0.0.0", port: 4222 }, authConfig: "authorization { token: x }\naccounts { SYS { users: [] } }\nsystem_account: SYS" }), UnsafeConfigError);
  });
});
