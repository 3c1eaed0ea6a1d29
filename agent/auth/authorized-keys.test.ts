import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Identity } from "./identity.js";
import {
  addKey,
  effectiveKeys,
  parseAuthorizedKeys,
  removeKey,
  ProblemKind,
  AUTHORIZED_KEYS_BYTES_MAX,
} from "./authorized-keys.js";

const alice = Identity.generate("alice@laptop");
const bob = Identity.generate("bob@phone");
const carol = Identity.generate("carol");
// Real key lines of other types, as ssh-keygen writes them (only their shape matters here).
const RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDGmzA5ZxXfJ0Rz1qFh2hT0 rsa@host";
const ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFq ecdsa@host";
const SK = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIB sk@host";

describe("authorized_keys", () => {
  it("reads keys with comments, blank lines, CRLF, tabs and a BOM", () => {
    const text = `\uFEFF# devices\r\n\r\n${alice.sshPublicLine()}\r\n   \t\n\t${bob.sshPublicLine("bob  on   the phone")}  \n# end`;
    const { keys, problems } = parseAuthorizedKeys(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      keys.map((k) => [k.line, k.comment, k.fingerprint, k.nkeyPublic]),
      [
        [3, "alice@laptop", alice.fingerprint, alice.nkeyPublic],
        [5, "bob  on   the phone", bob.fingerprint, bob.nkeyPublic],
      ],
    );
    assert.deepEqual(keys[0].publicKey, alice.publicKey);
    assert.equal(keys[0].type, "ssh-ed25519");
  });

  it("reports every unsupported key type once, by line, without failing", () => {
    const text = [RSA, alice.sshPublicLine(), ECDSA, SK, "ssh-dss AAAAB3NzaC1kc3MAAACBAP x"].join("\n");
    const { keys, problems } = parseAuthorizedKeys(text);
    assert.deepEqual(
      keys.map((k) => k.line),
      [2],
    );
    assert.deepEqual(
      problems.map((p) => [p.line, p.kind]),
      [
        [1, "unsupported-type"],
        [3, "unsupported-type"],
        [4, "unsupported-type"],
        [5, "unsupported-type"],
      ],
    );
    assert.match(problems[0].message, /ssh-rsa keys are not supported.*ssh-keygen -t ed25519/);
  });

  it("recognises a key type it has never heard of by the name inside its blob", () => {
    const blob = Buffer.concat([
      Buffer.from([0, 0, 0, 20]),
      Buffer.from("ssh-xmss@openssh.com"),
      Buffer.alloc(8),
    ]).toString("base64");
    const { problems } = parseAuthorizedKeys(`ssh-xmss@openssh.com ${blob} future`);
    assert.deepEqual(
      problems.map((p) => p.kind),
      [ProblemKind.Unsupported],
    );
  });

  it("reports damaged keys and lines that are not keys", () => {
    const good = alice.sshPublicLine();
    const base64 = good.split(" ")[1];
    const lines = [
      `ssh-ed25519 ${base64.slice(0, 30)}*${base64.slice(31)} broken`,
      `ssh-ed25519 ${base64.slice(0, 40)} cut`,
      "ssh-ed25519",
      "hello world",
      `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from("ssh-rsa")]).toString("base64")} lies`,
      good,
    ];
    const { keys, problems } = parseAuthorizedKeys(lines.join("\n"));
    assert.deepEqual(
      keys.map((k) => k.line),
      [6],
    );
    assert.deepEqual(
      problems.map((p) => [p.line, p.kind]),
      [
        [1, "malformed"],
        [2, "malformed"],
        [3, "malformed"],
        [4, "malformed"],
        [5, "malformed"],
      ],
    );
    assert.match(problems[0].message, /not valid base64/);
  });

  it("keeps the first of duplicate keys and says which line it repeats", () => {
    const text = [alice.sshPublicLine("first"), bob.sshPublicLine(), alice.sshPublicLine("second")].join("\n");
    const { keys, problems } = parseAuthorizedKeys(text);
    assert.deepEqual(
      keys.map((k) => [k.line, k.comment]),
      [
        [1, "first"],
        [2, "bob@phone"],
      ],
    );
    assert.deepEqual(problems, [{ line: 3, kind: "duplicate", message: "duplicate of the key on line 1; ignored" }]);
  });

  it("accepts options that only switch off ssh features and refuses those it cannot enforce", () => {
    const text = [
      `restrict,no-pty ${alice.sshPublicLine()}`,
      `no-port-forwarding,permitopen="host:80",environment="A=b c" ${bob.sshPublicLine()}`,
      `from="10.0.0.0/8",no-pty ${carol.sshPublicLine()}`,
      `command="echo \\"hi, there\\"" ${carol.sshPublicLine()}`,
      `expiry-time="20300101" ${carol.sshPublicLine()}`,
      `no-pty,"unclosed ${carol.sshPublicLine()}`,
    ].join("\n");
    const { keys, problems } = parseAuthorizedKeys(text);
    assert.deepEqual(
      keys.map((k) => k.comment),
      ["alice@laptop", "bob@phone"],
    );
    assert.deepEqual(
      problems.map((p) => [p.line, p.kind]),
      [
        [3, "unenforceable-option"],
        [4, "unenforceable-option"],
        [5, "unenforceable-option"],
        [6, "malformed"],
      ],
    );
    assert.match(problems[0].message, /option from cannot be enforced by edgesync, so this key is not authorised/);
  });

  it("reports unresolved merge conflict markers", () => {
    const text = `<<<<<<< ours\n${alice.sshPublicLine()}\n=======\n${bob.sshPublicLine()}\n>>>>>>> theirs\n`;
    const { keys, problems } = parseAuthorizedKeys(text);
    assert.equal(keys.length, 2);
    assert.deepEqual(
      problems.map((p) => [p.line, p.kind]),
      [
        [1, "merge-conflict"],
        [3, "merge-conflict"],
        [5, "merge-conflict"],
      ],
    );
  });

  it("stops at the size limit and says so", () => {
    const filler = `# ${"x".repeat(1000)}\n`;
    const text = filler.repeat(Math.ceil(AUTHORIZED_KEYS_BYTES_MAX / filler.length)) + alice.sshPublicLine();
    const { keys, problems } = parseAuthorizedKeys(text);
    assert.equal(keys.length, 0);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].kind, "too-large");
  });

  it("treats a missing file as no keys", () => {
    assert.deepEqual(parseAuthorizedKeys(undefined), { keys: [], problems: [] });
  });

  it("gives the same fingerprint as ssh-keygen -l for every key in the file", async () => {
    const path = join(await mkdtemp(join(tmpdir(), "es-ak-")), "authorized_keys");
    const r = spawnSync(
      "ssh-keygen",
      ["-q", "-t", "ed25519", "-N", "", "-C", "kg", "-f", path.replace("authorized_keys", "k")],
      { encoding: "utf8" },
    );
    assert.ok(!r.error && r.status === 0, `ssh-keygen is needed for this test: ${r.error?.message ?? r.stderr}`);
    const line = (await readFile(path.replace("authorized_keys", "k.pub"), "utf8")).trim();
    const listed = spawnSync("ssh-keygen", ["-l", "-f", path.replace("authorized_keys", "k.pub")], {
      encoding: "utf8",
    }).stdout.split(" ")[1];
    assert.equal(parseAuthorizedKeys(`# x\n${line}\n`).keys[0].fingerprint, listed);
  });

  describe("editing", () => {
    it("adds a key at the end, leaving every other byte as it was", () => {
      const text = `# devices\r\nssh-rsa AAAA odd\r\n${alice.sshPublicLine()}`;
      const added = addKey(text, `  ${bob.sshPublicLine()}  `);
      assert.equal(added, `${text}\r\n${bob.sshPublicLine()}\r\n`);
      assert.equal(addKey("", alice.sshPublicLine()), `${alice.sshPublicLine()}\n`);
      assert.equal(addKey("# only a comment\n", alice.sshPublicLine()), `# only a comment\n${alice.sshPublicLine()}\n`);
    });

    it("does not add a key twice, nor a line that would grant nothing", () => {
      const text = `${alice.sshPublicLine()}\n`;
      assert.equal(addKey(text, alice.sshPublicLine("other comment")), text);
      assert.throws(() => addKey(text, RSA), /cannot add this key: ssh-rsa keys are not supported/);
      assert.throws(() => addKey(text, "# comment"), /empty or a comment/);
      assert.throws(() => addKey(text, `${bob.sshPublicLine()}\n${carol.sshPublicLine()}`), /exactly one key line/);
    });

    it("removes a key by fingerprint, nkey or bytes, duplicates included, leaving other lines byte for byte", () => {
      const lines = [
        "# keep me  \r\n",
        `${alice.sshPublicLine()}\r\n`,
        `no-pty ${bob.sshPublicLine()}\n`,
        "\n",
        `${alice.sshPublicLine("dup")}\n`,
        `${RSA}`,
      ];
      const text = lines.join("");
      const expected = [lines[0], lines[2], lines[3], lines[5]].join("");
      assert.equal(removeKey(text, alice.fingerprint), expected);
      assert.equal(removeKey(text, alice.nkeyPublic), expected);
      assert.equal(removeKey(text, alice.publicKey), expected);
      assert.equal(removeKey(text, carol.fingerprint), text, "an absent key changes nothing");
      assert.equal(
        removeKey(removeKey(text, bob.fingerprint), alice.fingerprint),
        [lines[0], lines[3], lines[5]].join(""),
      );
    });
  });

  describe("effective keys", () => {
    const hub = Identity.generate("hub@vps");

    it("are the file's keys when it grants anyone", () => {
      const parsed = parseAuthorizedKeys(alice.sshPublicLine());
      assert.deepEqual(effectiveKeys(parsed, hub), { keys: parsed.keys });
    });

    it("keep the hub's key, and say why, when the file would lock everyone out", () => {
      for (const text of [undefined, "", "# nobody\n", RSA]) {
        const { keys, reason } = effectiveKeys(parseAuthorizedKeys(text), hub);
        assert.deepEqual(
          keys.map((k) => [k.fingerprint, k.nkeyPublic, k.comment, k.line]),
          [[hub.fingerprint, hub.nkeyPublic, "hub@vps", 0]],
        );
        assert.match(reason ?? "", /no usable ssh-ed25519 key.*keeping the hub's key SHA256:/);
      }
      assert.match(effectiveKeys(parseAuthorizedKeys(RSA), hub).reason ?? "", /\(1 line with problems\)/);
    });
  });
});
