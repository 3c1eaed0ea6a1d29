import { Command, Option } from "clipanion";
import { EdgesyncCommand } from "./base-command.js";
import { Identity, saveIdentity, loadIdentity, defaultIdentityPath } from "../agent/auth/identity.js";

export class KeyGenerateCommand extends EdgesyncCommand {
  static override paths = [["key", "generate"]];
  static override usage = Command.Usage({
    description: "Create this device's ed25519 key (OpenSSH format)",
    examples: [
      ["Default location ~/.edgesync/id_ed25519", "edgesync key generate"],
      ["Elsewhere", "edgesync key generate --identity ./id_ed25519"],
    ],
  });
  identity = Option.String("--identity", { description: "Where to write the private key" });
  comment = Option.String("--comment", { description: "Comment at the end of the public key line" });
  force = Option.Boolean("--force", false, { description: "Replace an existing key" });
  asJson = Option.Boolean("--json", false);

  async run() {
    const path = this.identity ?? defaultIdentityPath();
    const identity = Identity.generate(this.comment);
    await saveIdentity(identity, path, this.force);
    const info = {
      path,
      publicKey: identity.sshPublicLine(),
      fingerprint: identity.fingerprint,
      nkey: identity.nkeyPublic,
    };
    if (this.asJson) return this.json(info);
    this.out(`wrote ${path} (0600) and ${path}.pub`);
    this.out(info.publicKey);
    this.out(`fingerprint ${info.fingerprint}`);
  }
}

export class KeyShowCommand extends EdgesyncCommand {
  static override paths = [["key", "show"]];
  static override usage = Command.Usage({
    description: "Print this device's public key line, fingerprint and NATS nkey",
  });
  identity = Option.String("--identity", { description: "Private key file" });
  asJson = Option.Boolean("--json", false);

  async run() {
    const path = this.identity ?? defaultIdentityPath();
    const identity = await loadIdentity(path);
    const info = {
      path,
      publicKey: identity.sshPublicLine(),
      fingerprint: identity.fingerprint,
      nkey: identity.nkeyPublic,
    };
    if (this.asJson) return this.json(info);
    this.out(info.publicKey);
    this.out(`fingerprint ${info.fingerprint}`);
    this.out(`nkey        ${info.nkey}`);
  }
}
