import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { connect } from "@nats-io/transport-node";
import { PinStore, tlsOptionsForPinned } from "./pins.js";
import { probeNatsServerCert, probeServerCert, ProbeError } from "./tls-probe.js";
import { generateHubCert, writeHubTls } from "./tls.js";
import { startTestNatsServer, type TestNatsServer } from "../../test/helpers/test-nats-server.js";

const tempDir = () => mkdtemp(join(tmpdir(), "es-probe-"));
const tlsBlock = (certFile: string, keyFile: string) =>
  `tls {\n  cert_file: ${JSON.stringify(certFile)}\n  key_file: ${JSON.stringify(keyFile)}\n  timeout: 5\n}`;

describe("probing a hub's certificate for TOFU", () => {
  const natsServers: TestNatsServer[] = [];
  const sockets: (Server | NetServer)[] = [];
  after(async () => {
    sockets.forEach((s) => s.close());
    await Promise.all(natsServers.map((s) => s.stop()));
  });

  const listen = async <T extends Server | NetServer>(server: T) => {
    sockets.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as { port: number }).port;
  };

  it("reads the certificate of a server that speaks TLS from the first byte, sending nothing", async () => {
    const cert = await generateHubCert();
    let received = 0;
    const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (socket) =>
      socket.on("data", (d) => (received += d.length)),
    );
    const port = await listen(server);
    const probed = await probeServerCert("127.0.0.1", port);
    assert.equal(probed.fingerprint, cert.fingerprint);
    assert.match(probed.pem, /^-----BEGIN CERTIFICATE-----\n/);
    assert.equal(received, 0, "no application data was sent");
  });

  it("reads INFO from a real nats-server 2.9, upgrades the same socket and gets its certificate", async () => {
    const dir = await tempDir();
    const files = await writeHubTls(dir);
    const server = await startTestNatsServer(dir, tlsBlock(files.certFile, files.keyFile), "tlshub");
    natsServers.push(server);
    const probed = await probeNatsServerCert("127.0.0.1", server.port);
    assert.equal(probed.fingerprint, files.fingerprint);
    assert.equal(probed.info.tls_required, true);
    assert.equal(typeof probed.info.server_id, "string");

    // The TOFU flow end to end: pin what the probe saw, then connect trusting only that.
    const store = new PinStore(join(dir, "known_hubs.json"));
    assert.equal((await store.check(server.url, { certFingerprint: probed.fingerprint })).status, "first-use");
    await store.trust(server.url, { certFingerprint: probed.fingerprint });
    assert.equal((await store.check(server.url, { certFingerprint: probed.fingerprint })).status, "ok");
    const nc = await connect({ servers: server.url, tls: tlsOptionsForPinned(probed.pem), timeout: 5_000 });
    await nc.flush();
    await nc.close();
  });

  it("lets a pinned nats.js client refuse a server with another certificate", async () => {
    const dir = await tempDir();
    const files = await writeHubTls(dir);
    const server = await startTestNatsServer(dir, tlsBlock(files.certFile, files.keyFile), "impostor");
    natsServers.push(server);
    const pinned = await generateHubCert();
    await assert.rejects(
      connect({ servers: server.url, tls: tlsOptionsForPinned(pinned.certPem), timeout: 3_000, reconnect: false }),
      /self[- ]signed|certificate/i,
    );
  });

  it("says a NATS server without TLS has no certificate to pin", async () => {
    const dir = await tempDir();
    const server = await startTestNatsServer(dir, "", "plain");
    natsServers.push(server);
    await assert.rejects(
      probeNatsServerCert("127.0.0.1", server.port),
      (e: Error) => e instanceof ProbeError && /does not offer TLS/.test(e.message),
    );
  });

  it("says a port that is not NATS is not NATS, and gives up on a silent one within its deadline", async () => {
    const http = createNetServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    await assert.rejects(probeNatsServerCert("127.0.0.1", await listen(http)), /is not a NATS server/);
    const silent = createNetServer(() => {});
    const started = Date.now();
    await assert.rejects(
      probeNatsServerCert("127.0.0.1", await listen(silent), { timeoutMs: 300 }),
      /no answer .* within 300 ms/,
    );
    assert.ok(Date.now() - started < 3_000);
    const huge = createNetServer((socket) => socket.write(`INFO ${"x".repeat(70 * 1024)}`));
    await assert.rejects(probeNatsServerCert("127.0.0.1", await listen(huge)), /without a complete INFO line/);
  });

  it("says where it could not connect", async () => {
    const closed = createNetServer();
    const port = await listen(closed);
    closed.close();
    await assert.rejects(probeNatsServerCert("127.0.0.1", port), /cannot reach 127\.0\.0\.1:\d+/);
    await assert.rejects(probeServerCert("127.0.0.1", port), /TLS handshake with 127\.0\.0\.1:\d+ failed/);
  });
});
