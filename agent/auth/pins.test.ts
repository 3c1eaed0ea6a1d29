import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, createServer, type PeerCertificate, type Server } from "node:tls";
import { Identity } from "./identity.js";
import {
  PinMismatchError,
  PinStore,
  PinStoreError,
  checkPin,
  hubPinName,
  tlsOptionsForPinned,
  type PinnedTlsOptions,
} from "./pins.js";
import { certDer, generateHubCert } from "./tls.js";

const tempDir = () => mkdtemp(join(tmpdir(), "es-pins-"));
const hubKey = Identity.generate("hub").fingerprint;
const otherKey = Identity.generate("other").fingerprint;
const CERT_A = "a".repeat(64);
const CERT_B = "b".repeat(64);

describe("known hubs (TOFU pins)", () => {
  it("names a hub by host and port whatever the scheme", () => {
    assert.equal(hubPinName("nats://Hub.Example:4222"), "hub.example:4222");
    assert.equal(hubPinName("tls://hub.example"), "hub.example:4222");
    assert.equal(hubPinName("nats-leaf://hub.example"), "hub.example:7422");
    assert.equal(hubPinName("wss://hub.example/leaf"), "hub.example:443");
    assert.equal(hubPinName("nats://[::1]:4333"), "[::1]:4333");
    assert.equal(hubPinName("  My-Hub "), "my-hub");
  });

  it("trusts, lists, gets and forgets hubs in a 0600 file written atomically", async () => {
    const dir = join(await tempDir(), "home");
    const store = new PinStore(join(dir, "known_hubs.json"));
    assert.deepEqual(await store.list(), []);
    await store.trust(
      "nats://hub.example:4222",
      { certFingerprint: "AA:".repeat(31) + "AA", hubKeyFingerprint: hubKey },
      1_000,
    );
    await store.trust("other", { certFingerprint: CERT_B }, 2_000);
    assert.equal((await stat(store.path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ["known_hubs.json"]);
    assert.deepEqual(await store.get("tls://hub.example"), {
      certFingerprint: CERT_A,
      hubKeyFingerprint: hubKey,
      trustedAtMs: 1_000,
    });
    assert.deepEqual(
      (await store.list()).map((e) => e.name),
      ["hub.example:4222", "other"],
    );
    assert.equal(await store.forget("hub.example:4222"), true);
    assert.equal(await store.forget("hub.example:4222"), false);
    assert.deepEqual(
      (await store.list()).map((e) => e.name),
      ["other"],
    );
    assert.deepEqual(JSON.parse(await readFile(store.path, "utf8")), {
      version: 1,
      hubs: { other: { certFingerprint: CERT_B, trustedAtMs: 2_000 } },
    });
  });

  it("says first use, then ok, then refuses a changed certificate with the command that re-trusts", async () => {
    const store = new PinStore(join(await tempDir(), "known_hubs.json"));
    assert.deepEqual(await store.check("nats://hub:4222", { certFingerprint: CERT_A }), { status: "first-use" });
    await store.trust("nats://hub:4222", { certFingerprint: CERT_A, hubKeyFingerprint: hubKey });
    assert.equal(
      (await store.check("tls://hub:4222", { certFingerprint: CERT_A.toUpperCase(), hubKeyFingerprint: hubKey }))
        .status,
      "ok",
    );
    assert.equal(
      (await store.check("tls://hub:4222", { certFingerprint: CERT_A })).status,
      "ok",
      "a hub key not yet known is no mismatch",
    );

    const changed = await store.check("nats://hub:4222", { certFingerprint: CERT_B, hubKeyFingerprint: hubKey });
    assert.equal(changed.status, "mismatch");
    assert.ok(changed.status === "mismatch" && changed.error instanceof PinMismatchError);
    assert.match(
      changed.status === "mismatch" ? changed.error.message : "",
      /TLS certificate of hub hub:4222 changed.*run `edgesync hub forget hub:4222` and trust it again/,
    );

    const rekeyed = checkPin("hub:4222", await store.get("hub:4222"), {
      certFingerprint: CERT_A,
      hubKeyFingerprint: otherKey,
    });
    assert.equal(rekeyed.status, "mismatch");
    assert.match(
      rekeyed.status === "mismatch" ? rekeyed.error.message : "",
      /key of hub hub:4222 changed \(trusted SHA256:/,
    );
  });

  it("refuses fingerprints that are not fingerprints", async () => {
    const store = new PinStore(join(await tempDir(), "known_hubs.json"));
    await assert.rejects(store.trust("h", { certFingerprint: "abc" }), RangeError);
    await assert.rejects(store.trust("h", { certFingerprint: CERT_A, hubKeyFingerprint: "MD5:xx" }), RangeError);
  });

  it("refuses a damaged known_hubs.json with the fix, instead of trusting anew", async () => {
    const path = join(await tempDir(), "known_hubs.json");
    const store = new PinStore(path);
    for (const text of [
      "{",
      "[]",
      JSON.stringify({ version: 2, hubs: {} }),
      JSON.stringify({ version: 1, hubs: { h: { certFingerprint: "zz", trustedAtMs: 1 } } }),
    ]) {
      await writeFile(path, text);
      await assert.rejects(
        store.check("h", { certFingerprint: CERT_A }),
        (e: Error) => e instanceof PinStoreError && e.message.includes(path) && /fix or delete it/.test(e.message),
      );
    }
  });

  describe("pinned TLS options", () => {
    const servers: Server[] = [];
    after(() => servers.forEach((s) => s.close()));

    async function tlsServer(cert: { certPem: string; keyPem: string }): Promise<number> {
      const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (socket) => socket.end("hello\n"));
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return (server.address() as { port: number }).port;
    }

    const dial = (port: number, host: string, options: PinnedTlsOptions) =>
      new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, servername: host, ...options }, () =>
          socket.once("data", (d) => (socket.end(), resolve(d.toString()))),
        );
        socket.once("error", reject);
      });

    it("connect to the pinned self-signed server by any name, and to no other", async () => {
      const hub = await generateHubCert();
      const impostor = await generateHubCert();
      const port = await tlsServer(hub);
      assert.equal(await dial(port, "localhost", tlsOptionsForPinned(hub.certPem)), "hello\n");
      assert.equal(
        await dial(port, "some.other.name", tlsOptionsForPinned(hub.certPem)),
        "hello\n",
        "the pin, not the name, is checked",
      );
      await assert.rejects(dial(port, "localhost", tlsOptionsForPinned(impostor.certPem)), /self[- ]signed/);
    });

    it("refuse a certificate that is not the pinned one even when the chain check passes", async () => {
      const hub = await generateHubCert();
      const other = await generateHubCert();
      const check = tlsOptionsForPinned(hub.certPem, "hub h").checkServerIdentity;
      assert.equal(check("h", { raw: Buffer.from(certDer(hub.certPem)) } as PeerCertificate), undefined);
      const refused = check("h", { raw: Buffer.from(certDer(other.certPem)) } as PeerCertificate);
      assert.ok(refused instanceof PinMismatchError);
      assert.match(refused.message, /hub h presented a TLS certificate .* other than the pinned one/);
    });
  });
});
