import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate, createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { Identity } from "./identity.js";
import { derToPem, TlsMaterialError } from "./tls.js";
import {
  routeCertificateDer,
  routeHostnames,
  routeKeyPem,
  routeKeyPin,
  routeTrust,
  routeTrustAnchorDer,
  writeRouteTls,
  writeRouteTrust,
} from "./route-tls.js";
import { NatsServerSupervisor, type LinkEvent } from "../nats/supervisor.js";
import type { RouteTls } from "../nats/server-config.js";
import { waitFor } from "../../test/helpers/wait.js";

const dirs: string[] = [];
const servers: NatsServerSupervisor[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), "es-route-tls-"));
  dirs.push(dir);
  return dir;
};
after(async () => {
  for (const server of servers) await server.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const rawKey = (cert: X509Certificate) =>
  new Uint8Array(cert.publicKey.export({ format: "der", type: "spki" }).subarray(12));

function opensslVerify(
  dir: string,
  caPem: string,
  certDer: Uint8Array,
  purpose: string,
): { ok: boolean; output: string } {
  const caFile = join(dir, `ca-${Math.random()}.pem`);
  const certFile = join(dir, `cert-${Math.random()}.pem`);
  spawnSync("sh", ["-c", `cat > ${caFile}`], { input: caPem });
  spawnSync("sh", ["-c", `cat > ${certFile}`], { input: derToPem(certDer) });
  const r = spawnSync("openssl", ["verify", "-purpose", purpose, "-CAfile", caFile, certFile], { encoding: "utf8" });
  assert.ok(!r.error, `openssl is needed for this test: ${r.error?.message}`);
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe("route certificates made from device keys", () => {
  it("carries the device key, is signed by it, and serves as server and client of a route", () => {
    const device = Identity.generate("a");
    const cert = new X509Certificate(
      routeCertificateDer(device, { hostnames: ["peer-a.lan", "10.9.8.7", "fd00::17"] }),
    );
    assert.deepEqual(rawKey(cert), device.publicKey);
    assert.ok(
      cert.verify(
        createPublicKey({
          key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), device.publicKey]),
          format: "der",
          type: "spki",
        }),
      ),
    );
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage?.sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    assert.match(cert.subject, new RegExp(`CN=${device.nkeyPublic}`));
    assert.match(cert.issuer, /OU=device/);
    for (const name of ["127.0.0.1", "10.9.8.7"]) assert.ok(cert.checkIP(name), name);
    assert.ok(cert.checkIP("fd00::17"));
    assert.ok(cert.checkHost("peer-a.lan"));
    assert.ok(cert.checkHost("localhost"));
    assert.ok(new Date(cert.validFrom).getTime() < Date.now(), "valid already, even for a peer whose clock lags");
  });

  it("names this machine's own host name and interface addresses without being told", () => {
    const names = routeHostnames(["Extra.Example"]);
    assert.ok(names.includes("127.0.0.1") && names.includes("localhost") && names.includes("extra.example"));
    assert.equal(names.length, new Set(names).size);
    assert.ok(!names.some((n) => n.startsWith("fe80:")), "link-local addresses carry a zone a certificate cannot name");
  });

  it("refuses a name that is neither a host name nor an IP address", () => {
    assert.throws(() => routeCertificateDer(Identity.generate("a"), { hostnames: ["bad name"] }), TlsMaterialError);
  });

  it("exports the key as PKCS#8 that matches the certificate", () => {
    const device = Identity.generate("a");
    const cert = new X509Certificate(routeCertificateDer(device));
    assert.ok(cert.checkPrivateKey(createPrivateKey(routeKeyPem(device))));
  });

  it("pins a key as nats-server does: SHA-256 of the certificate's SubjectPublicKeyInfo", () => {
    const device = Identity.generate("a");
    const cert = new X509Certificate(routeCertificateDer(device));
    assert.equal(
      routeKeyPin(device.publicKey),
      createHash("sha256")
        .update(cert.publicKey.export({ format: "der", type: "spki" }))
        .digest("hex"),
    );
  });
});

describe("route trust anchors", () => {
  it("chain a device's certificate under that device's key and no other (checked by openssl)", async () => {
    const dir = await tempDir();
    const [a, b] = [Identity.generate("a"), Identity.generate("b")];
    const certA = routeCertificateDer(a);
    assert.ok(new X509Certificate(certA).checkIssued(new X509Certificate(routeTrustAnchorDer(a.publicKey))));
    for (const purpose of ["sslserver", "sslclient"]) {
      const trusted = opensslVerify(dir, routeTrust([a.publicKey, b.publicKey]).caPem, certA, purpose);
      assert.ok(trusted.ok, trusted.output);
    }
    const untrusted = opensslVerify(dir, routeTrust([b.publicKey]).caPem, certA, "sslclient");
    assert.equal(untrusted.ok, false, untrusted.output);
  });

  it("reject a certificate that copies a trusted device's names with another key", async () => {
    const dir = await tempDir();
    const [a, stranger] = [Identity.generate("a"), Identity.generate("stranger")];
    const slashed = (name: string) =>
      name
        .split("\n")
        .map((p) => `/${p}`)
        .join("");
    const anchorName = slashed(new X509Certificate(routeTrustAnchorDer(a.publicKey)).subject);
    const routeName = slashed(new X509Certificate(routeCertificateDer(a)).subject);
    const file = (name: string) => join(dir, name);
    await writeFile(file("s.key"), routeKeyPem(stranger), { mode: 0o600 });
    await writeFile(file("ext"), "extendedKeyUsage=clientAuth\n");
    const openssl = (...args: string[]) => {
      const r = spawnSync("openssl", args, { encoding: "utf8" });
      assert.equal(r.status, 0, `openssl ${args.join(" ")}: ${r.stderr}`);
    };
    // A look-alike anchor of A's name on the stranger's key, and a route certificate issued under it.
    openssl(
      "req",
      "-new",
      "-x509",
      "-key",
      file("s.key"),
      "-subj",
      anchorName,
      "-days",
      "2",
      "-out",
      file("fake-anchor.crt"),
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    );
    openssl("req", "-new", "-key", file("s.key"), "-subj", routeName, "-out", file("route.csr"));
    openssl(
      "x509",
      "-req",
      "-in",
      file("route.csr"),
      "-CA",
      file("fake-anchor.crt"),
      "-CAkey",
      file("s.key"),
      "-set_serial",
      "7",
      "-days",
      "2",
      "-extfile",
      file("ext"),
      "-out",
      file("route.crt"),
    );
    const trust = routeTrust([a.publicKey]).caPem;
    for (const forged of ["fake-anchor.crt", "route.crt"]) {
      const der = new Uint8Array(new X509Certificate(await readFile(file(forged))).raw);
      const verified = opensslVerify(dir, trust, der, "sslclient");
      assert.equal(verified.ok, false, `${forged}: ${verified.output}`);
    }
    const underCopiedName = opensslVerify(
      dir,
      trust,
      new Uint8Array(new X509Certificate(await readFile(file("route.crt"))).raw),
      "sslclient",
    );
    assert.match(underCopiedName.output, /signature failure/, "the names matched A's anchor; the signature did not");
  });

  it("are the same text for the same keys in any order, once each", () => {
    const keys = [Identity.generate("a"), Identity.generate("b"), Identity.generate("c")].map((d) => d.publicKey);
    const one = routeTrust(keys);
    const other = routeTrust([keys[2], keys[0], keys[1], keys[0]]);
    assert.equal(one.caPem, other.caPem);
    assert.deepEqual(one.pins, other.pins);
    assert.equal(one.pins.length, 3);
    assert.equal((one.caPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 3);
    const anchor = new X509Certificate(routeTrustAnchorDer(keys[0]));
    assert.equal(anchor.ca, true);
    assert.deepEqual(rawKey(anchor), keys[0]);
  });

  it("refuse a key that is not 32 bytes", () => {
    assert.throws(() => routeTrust([new Uint8Array(31)]), TlsMaterialError);
  });

  it("are written once and rewritten only when the keys change", async () => {
    const dir = await tempDir();
    const device = Identity.generate("a");
    const files = await writeRouteTls(dir, device, [device.publicKey]);
    assert.equal((await stat(files.keyFile)).mode & 0o777, 0o600);
    const same = await writeRouteTrust(dir, [device.publicKey], files);
    assert.equal(same.changed, false);
    const more = await writeRouteTrust(dir, [device.publicKey, Identity.generate("b").publicKey], files);
    assert.equal(more.changed, true);
    assert.equal(await readFile(files.caFile, "utf8"), more.caPem);
  });
});

describe("routes between nats-servers with device-key TLS", () => {
  async function peer(name: string, device: Identity, trusted: Identity[], routes: string[] = []) {
    const dir = await tempDir();
    const files = await writeRouteTls(
      join(dir, "route-tls"),
      device,
      trusted.map((d) => d.publicKey),
    );
    const tls: RouteTls = { certFile: files.certFile, keyFile: files.keyFile, caFile: files.caFile, pins: files.pins };
    const events: LinkEvent[] = [];
    const server = new NatsServerSupervisor(
      {
        role: "peer",
        serverName: name,
        stateDir: dir,
        client: { host: "127.0.0.1", port: -1 },
        cluster: { host: "127.0.0.1", port: -1, routes, tls },
      },
      { onLink: (e) => events.push(e) },
    );
    servers.push(server);
    const ports = await server.start();
    return { server, ports, dir, files, events };
  }

  async function delivered(from: string, to: string, timeoutMs: number): Promise<boolean> {
    const [pub, sub] = await Promise.all([connect({ servers: from }), connect({ servers: to })]);
    try {
      const subscription = sub.subscribe("probe", { max: 1 });
      await sub.flush();
      const deadline = Date.now() + timeoutMs;
      const got = (async () => {
        for await (const _ of subscription) return true;
        return false;
      })();
      while (Date.now() < deadline) {
        pub.publish("probe", "x");
        const result = await Promise.race([got, new Promise<undefined>((r) => setTimeout(r, 100))]);
        if (result) return true;
      }
      return false;
    } finally {
      await Promise.all([pub.close(), sub.close()]);
    }
  }

  it("carries messages between trusted keys, refuses an untrusted one, and closes a route on a reload without its key", async () => {
    const [a, b, stranger] = [Identity.generate("a"), Identity.generate("b"), Identity.generate("stranger")];
    const pa = await peer("pa", a, [a, b]);
    const route = [`nats-route://127.0.0.1:${pa.ports.cluster}`];
    const pb = await peer("pb", b, [a, b], route);
    assert.ok(await delivered(pb.server.clientUrl, pa.server.clientUrl, 10_000), "a message crosses the trusted route");

    const ps = await peer("ps", stranger, [a, b, stranger], route);
    assert.equal(
      await delivered(ps.server.clientUrl, pa.server.clientUrl, 1_500),
      false,
      "nothing crosses from the untrusted key",
    );
    assert.match(pa.server.logTail(), /TLS route handshake error/);
    const upIds = new Set(pa.events.filter((e) => e.state === "up").map((e) => e.id));
    assert.ok(
      pa.events.every((e) => e.state === "up" || upIds.has(e.id)),
      "a route refused at its handshake is not reported as a link going down",
    );

    const withoutB = await writeRouteTrust(join(pa.dir, "route-tls"), [a.publicKey]);
    const cluster = pa.server.config.cluster!;
    await pa.server.reload({
      ...pa.server.config,
      cluster: { ...cluster, tls: { ...cluster.tls!, pins: withoutB.pins } },
    });
    await waitFor(
      "the reload to close B's route",
      () =>
        /due to pinned certs reload/.test(pa.server.logTail()) && pa.server.links().every((l) => l.kind !== "route"),
    );
    assert.equal(
      await delivered(pb.server.clientUrl, pa.server.clientUrl, 1_500),
      false,
      "nothing crosses from the removed key",
    );
  });

  it("never dials into a server whose key it does not trust, even one that trusts it", async () => {
    const [a, stranger] = [Identity.generate("a"), Identity.generate("stranger")];
    const target = await peer("pt", stranger, [stranger, a]);
    const dialler = await peer("pd", a, [a], [`nats-route://127.0.0.1:${target.ports.cluster}`]);
    assert.equal(await delivered(dialler.server.clientUrl, target.server.clientUrl, 1_500), false);
    assert.match(dialler.server.logTail(), /TLS route handshake error: x509: certificate signed by unknown authority/);
  });
});
