import { Command, Option } from "clipanion";
import { EdgesyncCommand, ExitCode } from "./base-command.js";
import { loadDevice } from "./device.js";
import { syncOnce } from "../agent/one-shot.js";
import { openHubSession } from "../agent/hub-link/hub-session.js";
import { loadVaultConfig } from "../agent/vault/config.js";
import { createLogger, asLog } from "./logger.js";

abstract class OneShotCommand extends EdgesyncCommand {
  hubUrl = Option.String("--hub-url", { description: "Hub client URL (default: [hub] url from the vault config)" });
  identity = Option.String("--identity");
  identityAgent = Option.String("--identity-agent", {
    description: "ssh-agent socket holding the device key (or EDGESYNC_IDENTITY_AGENT)",
  });
  timeoutMs = Option.String("--timeout-ms", "120000");
  asJson = Option.Boolean("--json", false);

  async syncNow(verb: string) {
    const config = await loadVaultConfig(this.root);
    const url = this.hubUrl ?? process.env.EDGESYNC_HUB_URL ?? config.hub.url;
    if (!url)
      throw new ExitCode(
        1,
        `no hub known for this vault: pass --hub-url nats://HOST:4222 (or set [hub] url in .edgesync/config.toml)`,
      );
    const device = await loadDevice(this.identity, { agentSocket: this.identityAgent });
    const log = asLog(createLogger(process.env.EDGESYNC_LOG_LEVEL ?? "warn"));
    // The hub was pinned by clone (or `hub trust`): never trust a new certificate silently here.
    const session = await openHubSession({
      url,
      device: device.identity,
      log,
      trust: {},
      timeoutMs: Number(this.timeoutMs),
    });
    const result = await syncOnce({
      root: this.root,
      connect: () => session.vaultConnection(config.vault.id),
      peerId: device.peerId,
      log,
      timeoutMs: Number(this.timeoutMs),
    });
    if (this.asJson) return this.json(result);
    this.out(`${verb}: in step with ${result.peers.length} peer(s), ${result.files} files, ${result.ms} ms`);
    if (result.missingBlobs > 0)
      this.out(
        `  ${result.missingBlobs} binary file(s) not written yet: their contents have not arrived; \`edgesync sync start\` fetches them`,
      );
  }
}

export class PullCommand extends OneShotCommand {
  static override paths = [["pull"]];
  static override usage = Command.Usage({
    description: "Sync once with the hub and exit when in step (non-zero on failure)",
  });
  async run() {
    await this.syncNow("pulled");
  }
}

export class PushCommand extends OneShotCommand {
  static override paths = [["push"]];
  static override usage = Command.Usage({
    description: "Send local changes to the hub and exit once it holds them (non-zero on failure)",
  });
  async run() {
    await this.syncNow("pushed");
  }
}
