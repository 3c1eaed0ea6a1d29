import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  decodeBase64Strict,
  decodePrivateKeyFile,
  encodePrivateKeyFile,
  parsePublicKeyBlob,
  parseSshPublicLine,
  sshFingerprint,
  sshPublicLine,
  KeyFormatError,
} from "./openssh-format.js";

// A key made by `ssh-keygen -t ed25519 -C me@host`, with the fingerprint `ssh-keygen -l` printed for it.
const SSH_KEYGEN_PRIVATE = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCpuxA1rMYnlke8lZwN7lwjugPqhJ2ACBBe0hbLyEID1AAAAJDbUJWD21CV
gwAAAAtzc2gtZWQyNTUxOQAAACCpuxA1rMYnlke8lZwN7lwjugPqhJ2ACBBe0hbLyEID1A
AAAECThRB4bcXxPoOCEHafwiAZLLzaFZDiLpBT3nNiMin/Iqm7EDWsxieWR7yVnA3uXCO6
A+qEnYAIEF7SFsvIQgPUAAAAB21lQGhvc3QBAgMEBQY=
-----END OPENSSH PRIVATE KEY-----
`;
const SSH_KEYGEN_PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKm7EDWsxieWR7yVnA3uXCO6A+qEnYAIEF7SFsvIQgPU me@host";
const SSH_KEYGEN_FINGERPRINT = "SHA256:KQlM8B4pQFAm/arz9E6BA2x1oR/YjHJ1YC/tLXmAjtI";

describe("OpenSSH key formats", () => {
  it("reads ssh-keygen's private key and re-encodes it byte for byte", () => {
    const { seed, publicKey, comment } = decodePrivateKeyFile(SSH_KEYGEN_PRIVATE);
    assert.equal(comment, "me@host");
    assert.equal(sshPublicLine(publicKey, comment), SSH_KEYGEN_PUBLIC);
    assert.equal(sshFingerprint(publicKey), SSH_KEYGEN_FINGERPRINT);
    // ssh-keygen's check int for this file is 0xdb509583.
    assert.equal(encodePrivateKeyFile(seed, publicKey, comment, 0xdb509583), SSH_KEYGEN_PRIVATE);
  });

  it("parses a public key line with or without a comment", () => {
    const { publicKey, comment } = parseSshPublicLine(`  ${SSH_KEYGEN_PUBLIC}  \r`);
    assert.equal(comment, "me@host");
    assert.equal(sshFingerprint(publicKey), SSH_KEYGEN_FINGERPRINT);
    assert.equal(parseSshPublicLine(SSH_KEYGEN_PUBLIC.replace(" me@host", "")).comment, "");
    assert.equal(parseSshPublicLine(`${SSH_KEYGEN_PUBLIC} with spaces`).comment, "me@host with spaces");
  });

  it("rejects other key types, a type mismatch inside the blob, and damaged base64", () => {
    assert.throws(() => parseSshPublicLine("ssh-rsa AAAAB3NzaC1yc2E= x"), /ssh-rsa is not supported/);
    const rsaBlob = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from("ssh-rsa")]).toString("base64");
    assert.throws(() => parsePublicKeyBlob(rsaBlob), /key type ssh-rsa is not supported/);
    const blob = SSH_KEYGEN_PUBLIC.split(" ")[1];
    assert.throws(() => parsePublicKeyBlob(`${blob.slice(0, 20)}*${blob.slice(21)}`), /not valid base64/);
    assert.throws(() => parsePublicKeyBlob(blob.slice(0, 40)), KeyFormatError);
    assert.throws(() => parsePublicKeyBlob(`${blob.slice(0, -1)}AAAA`), KeyFormatError, "trailing bytes");
  });

  it("decodes only canonical base64", () => {
    assert.deepEqual(decodeBase64Strict("aGk="), new TextEncoder().encode("hi"));
    assert.deepEqual(decodeBase64Strict("aGk"), new TextEncoder().encode("hi"));
    for (const bad of ["aG k=", "aGk==", "a", "aGl=", "aGk=\n", "-_8="])
      assert.equal(decodeBase64Strict(bad), undefined, bad);
  });
});
