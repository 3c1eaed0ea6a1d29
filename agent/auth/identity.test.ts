import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, readdir, stat, chmod, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Prefix, fromPublic } from "@nats-io/nkeys";
import {
  Identity,
  KeyMissingError,
  KeyPermissionError,
  defaultIdentityPath,
  edgesyncHome,
  loadIdentity,
  loadOrCreateIdentity,
  saveIdentity,
  verifyEd25519,
} from "./identity.js";
import { KeyFormatError } from "./openssh-format.js";

const tempDir = () => mkdtemp(join(tmpdir(), "es-identity-"));

function sshKeygen(...args: string[]): string {
  const r = spawnSync("ssh-keygen", args, { encoding: "utf8" });
  assert.ok(!r.error, `ssh-keygen is needed for this test (apt-get install openssh-client): ${r.error?.message}`);
  assert.equal(r.status, 0, `ssh-keygen ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

describe("device identity", () => {
  it("saves a key pair that ssh-keygen reads, with the same fingerprint", async () => {
    const dir = join(await tempDir(), "home");
    const path = join(dir, "id_ed25519");
    const identity = Identity.generate("alice@laptop");
    await saveIdentity(identity, path);

    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.match(await readFile(path, "utf8"), /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    assert.equal(await readFile(`${path}.pub`, "utf8"), `${identity.sshPublicLine()}\n`);
    assert.match(identity.sshPublicLine(), /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=* alice@laptop$/);

    assert.equal(sshKeygen("-l", "-f", `${path}.pub`).trim(), `256 ${identity.fingerprint} alice@laptop (ED25519)`);
    assert.equal(sshKeygen("-l", "-f", path).trim(), `256 ${identity.fingerprint} alice@laptop (ED25519)`);
    assert.equal(sshKeygen("-y", "-f", path).trim(), identity.sshPublicLine());
    assert.deepEqual(await readdir(dir), ["id_ed25519", "id_ed25519.pub"], "no temp files left behind");
  });

  it("loads back the key it saved", async () => {
    const path = join(await tempDir(), "id_ed25519");
    const identity = Identity.generate("x");
    await saveIdentity(identity, path);
    const loaded = await loadIdentity(path);
    assert.deepEqual(loaded.publicKey, identity.publicKey);
    assert.equal(loaded.comment, "x");
    const message = new TextEncoder().encode("hello");
    assert.ok(identity.verify(loaded.sign(message), message));
  });

  it('loads a key made by ssh-keygen -t ed25519 -N ""', async () => {
    const path = join(await tempDir(), "id_ed25519");
    sshKeygen("-q", "-t", "ed25519", "-N", "", "-C", "made by ssh-keygen", "-f", path);
    const identity = await loadIdentity(path);
    assert.equal(identity.comment, "made by ssh-keygen");
    assert.equal(identity.sshPublicLine(), (await readFile(`${path}.pub`, "utf8")).trim());
    assert.equal(sshKeygen("-l", "-f", path).split(" ")[1], identity.fingerprint);
    const message = new TextEncoder().encode("signed by a loaded key");
    assert.equal(identity.sign(message).length, 64);
    assert.ok(verifyEd25519(identity.sign(message), message, identity.publicKey));
  });

  it("refuses a private key that group or others can read, naming the file and the fix", async () => {
    const path = join(await tempDir(), "id_ed25519");
    await saveIdentity(Identity.generate("x"), path);
    for (const mode of [0o640, 0o604, 0o660, 0o602]) {
      await chmod(path, mode);
      await assert.rejects(loadIdentity(path), (e: Error) => {
        assert.ok(e instanceof KeyPermissionError, `mode ${mode.toString(8)}: ${e.name}`);
        assert.ok(e.message.includes(path) && e.message.includes(`chmod 600 ${path}`), e.message);
        assert.ok(!e.message.includes("\n"), "one line");
        return true;
      });
    }
    await chmod(path, 0o400);
    await loadIdentity(path);
  });

  it("says where the key is missing and how to create one", async () => {
    const path = join(await tempDir(), "nope");
    await assert.rejects(
      loadIdentity(path),
      (e: Error) =>
        e instanceof KeyMissingError && e.message.includes(path) && e.message.includes("edgesync key generate"),
    );
  });

  it("refuses malformed key files with an error naming the file", async () => {
    const dir = await tempDir();
    const good = Identity.generate("c").privateKeyFile();
    const body = good.split("\n").slice(1, -2).join("");
    const rewrap = (b64: string) => `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`;
    const flip = (b64: string, at: number) => {
      const bytes = Buffer.from(b64, "base64");
      bytes[at] ^= 0xff;
      return bytes.toString("base64");
    };
    const cases: [string, string, RegExp][] = [
      ["empty", "", /no BEGIN OPENSSH PRIVATE KEY/],
      ["public line", Identity.generate("p").sshPublicLine(), /no BEGIN OPENSSH PRIVATE KEY/],
      [
        "pem rsa",
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        /found a RSA PRIVATE KEY block/,
      ],
      ["not base64", rewrap("!!!!not base64!!!!"), /not valid base64/],
      ["truncated", rewrap(body.slice(0, 120)), /corrupt|truncated|base64/],
      ["bad magic", rewrap(flip(body, 0)), /not an openssh-key-v1/],
      // Layout: magic 15, "none" 8, "none" 8, "" 4, count 4, public blob 4+51, section length 4 → 98.
      ["check ints differ", rewrap(flip(body, 98)), /check failed/],
      // …then check ints 8, type 15, public key 4+32, secret length 4, seed 32 → the public half at 193.
      ["halves differ", rewrap(flip(body, 200)), /do not match/],
    ];
    for (const [name, text, pattern] of cases) {
      const path = join(dir, name.replace(/ /g, "-"));
      await writeFile(path, text, { mode: 0o600 });
      await assert.rejects(loadIdentity(path), (e: Error) => {
        assert.ok(e instanceof KeyFormatError, `${name}: ${e.name}: ${e.message}`);
        assert.match(e.message, pattern, name);
        assert.ok(e.message.startsWith(path), `${name}: names the file: ${e.message}`);
        return true;
      });
    }
  });

  it("refuses a passphrase-protected key and an RSA key with the fix", async () => {
    const dir = await tempDir();
    sshKeygen("-q", "-t", "ed25519", "-N", "secret", "-f", join(dir, "enc"));
    await assert.rejects(loadIdentity(join(dir, "enc")), /passphrase-protected.*--identity-agent/);
    sshKeygen("-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", join(dir, "rsa"));
    await assert.rejects(loadIdentity(join(dir, "rsa")), /ssh-rsa is not supported.*ssh-keygen -t ed25519/);
  });

  it("does not replace an existing key unless asked", async () => {
    const path = join(await tempDir(), "id_ed25519");
    const first = Identity.generate("1");
    await saveIdentity(first, path);
    await assert.rejects(saveIdentity(Identity.generate("2"), path), /already exists; pass --force/);
    assert.deepEqual((await loadIdentity(path)).publicKey, first.publicKey);
    const second = Identity.generate("2");
    await saveIdentity(second, path, true);
    assert.deepEqual((await loadIdentity(path)).publicKey, second.publicKey);
  });

  it("creates the key on first use only when asked", async () => {
    const path = join(await tempDir(), "sub", "id_ed25519");
    await assert.rejects(loadOrCreateIdentity(path), KeyMissingError);
    const made = await loadOrCreateIdentity(path, true);
    assert.equal(made.created, true);
    const again = await loadOrCreateIdentity(path, true);
    assert.equal(again.created, false);
    assert.deepEqual(again.identity.publicKey, made.identity.publicKey);
  });

  it("maps the same 32 bytes to a NATS user nkey, account nkey and seeds", () => {
    const identity = Identity.generate("n");
    assert.match(identity.nkeyPublic, /^U[A-Z2-7]{55}$/);
    assert.match(identity.accountNkeyPublic, /^A[A-Z2-7]{55}$/);
    assert.deepEqual(fromPublic(identity.nkeyPublic).getPublicKey(), identity.nkeyPublic);
    assert.match(new TextDecoder().decode(identity.natsSeed()), /^SU[A-Z2-7]{56}$/);
    assert.match(new TextDecoder().decode(identity.natsSeed(Prefix.Account)), /^SA[A-Z2-7]{56}$/);

    const user = identity.natsKeyPair();
    const account = identity.natsKeyPair(Prefix.Account);
    assert.equal(user.getPublicKey(), identity.nkeyPublic);
    assert.equal(account.getPublicKey(), identity.accountNkeyPublic);
    const message = new TextEncoder().encode("nonce");
    // The nkey signs with the very same ed25519 key, so either side verifies the other.
    assert.ok(identity.verify(user.sign(message), message));
    assert.ok(fromPublic(identity.nkeyPublic).verify(message, identity.sign(message)));
    assert.deepEqual(identity.sign(message), account.sign(message));
  });

  it("finds the default key under EDGESYNC_HOME unless a path is given", () => {
    const saved = { home: process.env.EDGESYNC_HOME, identity: process.env.EDGESYNC_IDENTITY };
    try {
      process.env.EDGESYNC_HOME = "/srv/es-home";
      delete process.env.EDGESYNC_IDENTITY;
      assert.equal(edgesyncHome(), "/srv/es-home");
      assert.equal(defaultIdentityPath(), "/srv/es-home/id_ed25519");
      assert.equal(defaultIdentityPath("/keys/device"), "/keys/device");
      process.env.EDGESYNC_IDENTITY = "/keys/env";
      assert.equal(defaultIdentityPath(), "/keys/env");
      assert.equal(defaultIdentityPath("/keys/flag"), "/keys/flag");
    } finally {
      for (const [key, value] of [
        ["EDGESYNC_HOME", saved.home],
        ["EDGESYNC_IDENTITY", saved.identity],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
