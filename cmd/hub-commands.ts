import { Command, Option } from "clipanion";
import { chmod, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EdgesyncCommand, ExitCode } from "./base-command.js";
import { PinStore } from "../agent/auth/pins.js";
import { loadHubTls } from "../agent/auth/tls.js";
import { edgesyncHome } from "../agent/auth/identity.js";
import { HUB_SERVER_DIR } from "../agent/hub/hub-state.js";
import { trustHub } from "../agent/hub-link/hub-client.js";
import { terminalConfirm } from "./trust-prompt.js";
import { loadDevice } from "./device.js";
import { writeFileAtomic } from "../agent/fs/atomic-write.js";
import { exportHubBundle, importHubBundle, parseHubBundle } from "../agent/hub/hub-bundle.js";

export class HubTrustCommand extends EdgesyncCommand {
  static override paths = [["hub", "trust"]];
  static override usage = Command.Usage({
    description: "Pin a hub's TLS certificate on this device (trust on first use)",
    details:
      "Reads the certificate the hub presents, shows its SHA-256 and records it in ~/.edgesync/known_hubs.json. A hub that later presents another certificate is refused.",
    examples: [
      ["Trust after comparing the fingerprint", "edgesync hub trust nats-leaf://hub.example.org:7422"],
      [
        "Non-interactive, with the fingerprint from `hub show`",
        "edgesync hub trust nats://hub:4222 --fingerprint 3f9a…",
      ],
    ],
  });
  url = Option.String({ name: "hub-url" });
  fingerprint = Option.String("--fingerprint", { description: "The SHA-256 the hub must present" });
  yes = Option.Boolean("--yes", false, { description: "Trust without asking" });

  async run() {
    const trusted = await trustHub(this.url, {
      accept: this.yes,
      expectFingerprint: this.fingerprint,
      confirm: terminalConfirm(),
    });
    this.out(`${trusted.firstUse ? "trusted" : "already trusted"}: ${this.url} (sha256 ${trusted.fingerprint})`);
  }
}

export class HubForgetCommand extends EdgesyncCommand {
  static override paths = [["hub", "forget"]];
  static override usage = Command.Usage({ description: "Drop a hub's pin (after it was re-keyed on purpose)" });
  url = Option.String({ name: "hub-url" });

  async run() {
    const removed = await new PinStore().forget(this.url);
    if (!removed) throw new ExitCode(1, `no pin for ${this.url}; \`edgesync hub show\` lists the pinned hubs`);
    this.out(`forgot ${this.url}; the next connection asks to trust it again`);
  }
}

export class HubShowCommand extends EdgesyncCommand {
  static override paths = [["hub", "show"]];
  static override usage = Command.Usage({
    description: "Show this hub's certificate fingerprint and key (on a hub), and the hubs this device pinned",
  });
  serverDir = Option.String("--server-dir", {
    description: "The hub's server folder (default ~/.edgesync/.edgesync-server)",
  });
  asJson = Option.Boolean("--json", false);

  async run() {
    const dir = this.serverDir ?? process.env.EDGESYNC_SERVER_DIR ?? join(edgesyncHome(), HUB_SERVER_DIR);
    const own = await loadHubTls(dir);
    const device = own ? await loadDevice(undefined).catch(() => undefined) : undefined;
    const pins = await new PinStore().list();
    if (this.asJson)
      return this.json({
        hub: own ? { serverDir: dir, certFingerprint: own.fingerprint, key: device?.sshLine } : undefined,
        pinned: pins,
      });
    if (own) {
      this.out(`this hub: certificate sha256 ${own.fingerprint}`);
      if (device) this.out(`          key ${device.identity.fingerprint} (${device.sshLine})`);
    }
    if (pins.length === 0) this.out("no pinned hubs");
    for (const { name, pin } of pins)
      this.out(
        `${name}  sha256 ${pin.certFingerprint}${pin.hubKeyFingerprint ? `  key ${pin.hubKeyFingerprint}` : ""}  since ${new Date(pin.trustedAtMs).toISOString()}`,
      );
  }
}

const hubServerDir = (flag: string | undefined) =>
  resolve(flag ?? process.env.EDGESYNC_SERVER_DIR ?? join(edgesyncHome(), HUB_SERVER_DIR));

export class HubExportCommand extends EdgesyncCommand {
  static override paths = [["hub", "export"]];
  static override usage = Command.Usage({
    description:
      "Write what another hub needs to join this hub's cluster (secret: operator, system and cluster keys, TLS pair, admins)",
    details:
      "The file (mode 0600) lets a new hub serve the same accounts under the same pinned certificate: copy it over a secure channel, run `edgesync hub import FILE` on the new hub before its first start, then delete it. Anyone holding it can sign in to every vault of the cluster.",
    examples: [["Export for a second hub", "edgesync hub export --out hub-bundle.json"]],
  });
  outFile = Option.String("--out", { required: true, description: "File to write (created 0600)" });
  serverDir = Option.String("--server-dir", {
    description: "The hub's server folder (default ~/.edgesync/.edgesync-server)",
  });

  async run() {
    const bundle = await exportHubBundle(hubServerDir(this.serverDir));
    const target = resolve(this.outFile);
    await writeFileAtomic(target, `${JSON.stringify(bundle, null, 2)}\n`, { mode: 0o600 });
    await chmod(target, 0o600);
    this.context.stderr.write(
      `edgesync: WARNING: ${target} is SECRET — it holds the operator, system and cluster keys and the TLS key: anyone with it can sign in to every vault of this cluster. Copy it to the new hub over a secure channel, import it there, then delete it.\n`,
    );
    this.out(target);
  }
}

export class HubImportCommand extends EdgesyncCommand {
  static override paths = [["hub", "import"]];
  static override usage = Command.Usage({
    description: "Install a bundle from `edgesync hub export` on a new hub, before its first start",
    details:
      "The hub then serves the same accounts under the same certificate, and may route to the other hubs (`sync start --nats-role hub --cluster-listen HOST:PORT --peer nats-route://OTHER:PORT`). A server folder that already holds a hub with other keys is left alone.",
    examples: [
      [
        "Join a cluster",
        "edgesync hub import hub-bundle.json && edgesync sync start --nats-role hub --cluster-listen 0.0.0.0:6222 --peer nats-route://hub1.example.org:6222",
      ],
    ],
  });
  file = Option.String({ name: "bundle-file" });
  serverDir = Option.String("--server-dir", {
    description: "The hub's server folder (default ~/.edgesync/.edgesync-server)",
  });

  async run() {
    const source = resolve(this.file);
    const text = await readFile(source, "utf8").catch((error: NodeJS.ErrnoException) => {
      throw new ExitCode(
        1,
        `cannot read ${source} (${error.code ?? error.message}); give the file \`edgesync hub export --out FILE\` wrote`,
      );
    });
    const dir = hubServerDir(this.serverDir);
    const written = await importHubBundle(dir, parseHubBundle(text, source));
    this.out(
      written
        ? `imported the hub bundle into ${dir}; start the hub with --cluster-listen and --peer to join the cluster`
        : `${dir} already holds this bundle; nothing to do`,
    );
  }
}
