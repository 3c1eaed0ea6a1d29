import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import {
  connectNats,
  ConnectError,
  DEFAULT_RECONNECT,
  NatsAuthRefusedError,
  NatsTlsRefusedError,
  reconnectDelayMs,
} from "./connect.js";
import { NatsServerSupervisor } from "./supervisor.js";
import { silentLog } from "../sync/ports.js";

const dirs: string[] = [];
const servers: NatsServerSupervisor[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "es-conn-"));
  dirs.push(d);
  return d;
};

/** When nats.js would dial, given our delay: it asks before each dial and after each sleep. */
function dialTimes(outageMs: number, factor: number): number[] {
  const dials = [0];
  let now = 0;
  while (now < outageMs) {
    const wait = reconnectDelayMs(now, factor);
    const last = dials[dials.length - 1];
    if (now - last >= wait) dials.push(now);
    else now = Math.min(now + (last + wait - now), outageMs);
  }
  return dials;
}

describe("reconnect backoff", () => {
  it("retries at once, then backs off roughly doubling up to the cap, and never stalls", () => {
    const dials = dialTimes(120_000, 1);
    const gaps = dials.slice(1).map((t, i) => t - dials[i]);
    assert.equal(gaps[0], DEFAULT_RECONNECT.initialMs);
    for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] >= gaps[i - 1], `gap ${i} shrank: ${gaps}`);
    assert.ok(gaps.at(-1)! <= DEFAULT_RECONNECT.maxMs);
    assert.ok(gaps.at(-1)! >= DEFAULT_RECONNECT.maxMs / 2, `reaches the cap: ${gaps}`);
    assert.ok(dials.length > 10 && dials.length < 30, `${dials.length} dials in two minutes`);
  });

  it("spreads clients apart by their jitter factor", () => {
    assert.notDeepEqual(dialTimes(30_000, 1), dialTimes(30_000, 1.2));
    assert.equal(reconnectDelayMs(1_000_000, 1.2), DEFAULT_RECONNECT.maxMs * 1.2);
    assert.equal(reconnectDelayMs(0, 1), DEFAULT_RECONNECT.initialMs);
  });
});

describe("connectNats", () => {
  it("fails fast with a ConnectError naming the address when nothing listens", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await assert.rejects(
      connectNats({ servers: `nats://127.0.0.1:${port}`, name: "t", log: silentLog, timeoutMs: 2_000 }),
      (e: Error) => e instanceof ConnectError && e.message.includes(`127.0.0.1:${port}`),
    );
  });

  it("says the device was refused when the server wants credentials it lacks", async () => {
    const s = new NatsServerSupervisor({
      role: "peer",
      stateDir: await tempDir(),
      serverName: "auth",
      client: { host: "127.0.0.1", port: -1 },
      authConfig: "authorization { token: s3cret }",
    });
    servers.push(s);
    await s.start();
    await assert.rejects(
      connectNats({ servers: s.clientUrl, name: "t", log: silentLog, timeoutMs: 2_000 }),
      NatsAuthRefusedError,
    );
    const nc = await connectNats({
      servers: s.clientUrl,
      name: "t",
      log: silentLog,
      authenticator: () => ({ auth_token: "s3cret" }),
    });
    await nc.close();
  });

  it("says the certificate is not the pinned one when the server presents another", async () => {
    const dir = await tempDir();
    const cert = (name: string) => {
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
          join(dir, `${name}.key`),
          "-out",
          join(dir, `${name}.crt`),
        ],
        { encoding: "utf8" },
      );
      assert.equal(r.status, 0, `openssl is needed for this test: ${r.stderr}`);
      return { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    };
    const hub = cert("hub");
    const other = cert("other");
    const s = new NatsServerSupervisor({
      role: "hub",
      stateDir: dir,
      serverName: "tls",
      client: { host: "127.0.0.1", port: -1 },
      tls: hub,
    });
    servers.push(s);
    await s.start();
    await assert.rejects(
      connectNats({
        servers: s.clientUrl,
        name: "t",
        log: silentLog,
        timeoutMs: 2_000,
        tls: { caFile: other.certFile },
      }),
      NatsTlsRefusedError,
    );
    const nc = await connectNats({ servers: s.clientUrl, name: "t", log: silentLog, tls: { caFile: hub.certFile } });
    await nc.close();
  });
});
