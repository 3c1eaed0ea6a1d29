import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certDer,
  certFingerprint,
  derToPem,
  ensureHubTls,
  generateHubCert,
  loadHubTls,
  normaliseFingerprint,
  writeHubTls,
  TlsMaterialError,
} from "./tls.js";

const tempDir = () => mkdtemp(join(tmpdir(), "es-tls-"));

describe("hub TLS certificate", () => {
  it("writes tls.crt and a 0600 tls.key naming loopback and the given hosts", async () => {
    const dir = join(await tempDir(), "server");
    const files = await writeHubTls(dir, { hostnames: ["hub.example.org", "10.1.2.3", "[fd00::7]"] });
    assert.equal((await stat(files.keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(dir)).sort(), ["tls.crt", "tls.key"]);
    const cert = new X509Certificate(await readFile(files.certFile));
    assert.equal(
      cert.subjectAltName,
      "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:hub.example.org, IP Address:10.1.2.3, IP Address:FD00:0:0:0:0:0:0:7",
    );
    assert.equal(cert.ca, false);
    assert.ok(cert.checkHost("hub.example.org"));
    assert.ok(
      new Date(cert.validTo).getTime() > Date.now() + 9 * 365 * 86_400_000,
      "long-lived: the pin carries the trust",
    );
    assert.ok(new Date(cert.validFrom).getTime() < Date.now(), "valid already, even for a clock that lags");
    assert.equal(files.fingerprint, normaliseFingerprint(cert.fingerprint256));
  });

  it("fingerprints PEM and DER alike, as openssl does", async () => {
    const { certPem, fingerprint } = await generateHubCert();
    const der = certDer(certPem);
    assert.equal(certFingerprint(der), fingerprint);
    assert.equal(certFingerprint(derToPem(der)), fingerprint);
    assert.match(fingerprint, /^[0-9a-f]{64}$/);
    const file = join(await tempDir(), "c.pem");
    await writeFile(file, certPem);
    const r = spawnSync("openssl", ["x509", "-noout", "-fingerprint", "-sha256", "-in", file], { encoding: "utf8" });
    assert.ok(!r.error && r.status === 0, `openssl is needed for this test: ${r.error?.message ?? r.stderr}`);
    assert.equal(normaliseFingerprint(r.stdout.split("=")[1]), fingerprint);
  });

  it("keeps an existing pair so pins stay valid, and makes one when there is none", async () => {
    const dir = await tempDir();
    const first = await ensureHubTls(dir);
    assert.equal(first.created, true);
    const again = await ensureHubTls(dir, { hostnames: ["other.example"] });
    assert.equal(again.created, false);
    assert.equal(again.fingerprint, first.fingerprint);
    assert.equal(await loadHubTls(await tempDir()), undefined);
  });

  it("refuses a key that does not belong to the certificate, and garbage", async () => {
    const dir = await tempDir();
    await writeHubTls(dir);
    const other = await generateHubCert();
    await writeFile(join(dir, "tls.key"), other.keyPem);
    await assert.rejects(
      loadHubTls(dir),
      (e: Error) => e instanceof TlsMaterialError && /does not belong to .*delete both/.test(e.message),
    );
    await writeFile(join(dir, "tls.crt"), "not a certificate");
    await assert.rejects(loadHubTls(dir), TlsMaterialError);
    assert.throws(() => certFingerprint("nope"), TlsMaterialError);
  });

  it("refuses a host name that is neither a name nor an address", async () => {
    await assert.rejects(generateHubCert({ hostnames: ["bad name"] }), /neither a host name nor an IP address/);
  });
});
