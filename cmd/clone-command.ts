import { Command, Option } from "clipanion";
import { mkdir, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EdgesyncCommand, ExitCode } from "./base-command.js";
import { loadDevice } from "./device.js";
import { syncOnce } from "../agent/one-shot.js";
import { openHubSession } from "../agent/hub-link/hub-session.js";
import { trustHub } from "../agent/hub-link/hub-client.js";
import { terminalConfirm } from "./trust-prompt.js";
import { saveVaultConfig, defaultSyncConfig, loadVaultConfig } from "../agent/vault/config.js";
import { STATE_DIR } from "../agent/vault/paths.js";
import { createLogger, asLog } from "./logger.js";
import { progressLine } from "./progress.js";

export class CloneCommand extends EdgesyncCommand {
  static override paths = [["clone"]];
  static override usage = Command.Usage({
    description: "Download a vault from a hub into a new folder",
    examples: [
      ["Clone the hub's only vault", "edgesync clone nats://hub.example.org:4222 ~/notes"],
      ["Pick one by name", "edgesync clone nats://hub:4222 --vault team-notes"],
    ],
  });
  url = Option.String({ name: "hub-url" });
  dir = Option.String({ name: "dir", required: false });
  vault = Option.String("--vault", { description: "Vault name or id, when the hub keeps several" });
  identity = Option.String("--identity");
  identityAgent = Option.String("--identity-agent", {
    description: "ssh-agent socket holding the device key (or EDGESYNC_IDENTITY_AGENT)",
  });
  timeoutMs = Option.String("--timeout-ms", "300000", { description: "Give up after this long" });
  asJson = Option.Boolean("--json", false);
  acceptHubKey = Option.Boolean("--accept-hub-key", false, {
    description: "Trust the hub's certificate on first use without asking (scripts)",
  });
  fingerprint = Option.String("--fingerprint", {
    description: "Trust the hub only if its certificate has this SHA-256 (from `edgesync hub show`)",
  });

  async run() {
    const log = asLog(createLogger(process.env.EDGESYNC_LOG_LEVEL ?? "warn"));
    const device = await loadDevice(this.identity, {
      createIfMissing: !this.identityAgent,
      agentSocket: this.identityAgent,
    });
    const trust = {
      accept: this.acceptHubKey || process.env.EDGESYNC_ACCEPT_HUB_KEY === "1",
      expectFingerprint: this.fingerprint,
      confirm: terminalConfirm(),
    };
    const session = await openHubSession({
      url: this.url,
      device: device.identity,
      log,
      trust,
      timeoutMs: Number(this.timeoutMs),
    });
    const catalogue = await session.catalogue();
    log.debug({ ms: Math.round(performance.now()) }, "clone: hub catalogue received");
    // The leaf link uses the same certificate on the leafnode port: pin it there too, now.
    if (session.secure && catalogue.leafUrl)
      await trustHub(catalogue.leafUrl, { expectFingerprint: session.fingerprint });
    const choice = this.vault
      ? catalogue.vaults.find((v: { id: string; name: string }) => v.id === this.vault || v.name === this.vault)
      : catalogue.vaults.length === 1
        ? catalogue.vaults[0]
        : undefined;
    if (!choice) {
      const names =
        catalogue.vaults.map((v: { id: string; name: string }) => `${v.name} (${v.id})`).join(", ") || "none";
      if (catalogue.vaults.length === 0)
        throw new ExitCode(
          1,
          `the hub at ${this.url} has no vault this device may clone; add this device's key (\`edgesync key show\`) to the vault's authorized_keys on a device that has it`,
        );
      throw new ExitCode(
        1,
        this.vault
          ? `the hub has no vault ${JSON.stringify(this.vault)} for this device; it has: ${names}`
          : `the hub keeps ${catalogue.vaults.length} vaults for this device (${names}); pick one with --vault`,
      );
    }
    const root = resolve(this.dir ?? choice.name);
    await mkdir(root, { recursive: true });
    const existing = (await readdir(root)).filter((n) => n !== STATE_DIR);
    const resuming = await loadVaultConfig(root).then(
      (c) => c.vault.id === choice.id,
      () => false,
    );
    if (existing.length > 0 && !resuming)
      throw new ExitCode(1, `${root} is not empty; clone into a new or empty folder`);
    if (!resuming) {
      await mkdir(join(root, STATE_DIR), { recursive: true, mode: 0o700 });
      await saveVaultConfig(root, {
        vault: { id: choice.id, name: choice.name, createdAt: 0 },
        sync: defaultSyncConfig(),
        hub: { url: this.url, leafUrl: catalogue.leafUrl },
      });
    }
    const progress = progressLine(this.context.stderr, `cloning ${choice.name}`);
    const result = await syncOnce({
      root,
      connect: () => session.vaultConnection(choice.id),
      peerId: device.peerId,
      log,
      timeoutMs: Number(this.timeoutMs),
      onProgress: progress.update,
    });
    progress.done(`${result.files} files`);
    log.debug({ ms: Math.round(performance.now()) }, "clone: vault written and closed");
    if (this.asJson) return this.json({ root, vault: choice, ...result, leafUrl: catalogue.leafUrl });
    this.out(`cloned "${choice.name}" into ${root}: ${result.files} files in ${result.ms} ms`);
    if (result.missingBlobs > 0)
      this.out(
        `  ${result.missingBlobs} binary file(s) not written yet: their contents have not arrived; \`edgesync sync start\` fetches them`,
      );
    if (catalogue.leafUrl)
      this.out(`keep it in sync: edgesync sync start --cwd ${JSON.stringify(root)}   (leaf of ${catalogue.leafUrl})`);
  }
}
