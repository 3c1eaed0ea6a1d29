import { Command, Option } from "clipanion";
import { stat } from "node:fs/promises";
import { EdgesyncCommand } from "./base-command.js";
import { findNatsServer, isCve2023_47090Affected, CVE_2023_47090_FIXED_IN } from "../agent/nats/binary.js";
import { defaultIdentityPath, loadIdentity } from "../agent/auth/identity.js";
import { loadVaultConfig } from "../agent/vault/config.js";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export class DoctorCommand extends EdgesyncCommand {
  static override paths = [["doctor"]];
  static override usage = Command.Usage({
    description: "Check nats-server, the device key and the vault folder; print what to fix",
  });
  identity = Option.String("--identity");
  asJson = Option.Boolean("--json", false);

  async run() {
    const checks: Check[] = [];
    try {
      const nats = await findNatsServer();
      const affected = isCve2023_47090Affected(nats.version);
      checks.push({ name: "nats-server", ok: true, detail: `${nats.version} at ${nats.path} (${nats.source})` });
      if (affected)
        checks.push({
          name: "CVE-2023-47090",
          ok: false,
          detail: `nats-server ${nats.version} is affected (fixed in ${CVE_2023_47090_FIXED_IN}); edgesync never writes the affected configuration, but upgrade when you can`,
        });
    } catch (error) {
      checks.push({ name: "nats-server", ok: false, detail: (error as Error).message });
    }
    const keyPath = this.identity ?? defaultIdentityPath();
    try {
      const identity = await loadIdentity(keyPath);
      const mode = (await stat(keyPath)).mode & 0o777;
      checks.push({
        name: "identity",
        ok: true,
        detail: `${identity.fingerprint} (${keyPath}, mode ${mode.toString(8)})`,
      });
    } catch (error) {
      checks.push({ name: "identity", ok: false, detail: (error as Error).message });
    }
    try {
      const config = await loadVaultConfig(this.root);
      checks.push({ name: "vault", ok: true, detail: `${config.vault.name} (${config.vault.id}) at ${this.root}` });
    } catch (error) {
      checks.push({ name: "vault", ok: false, detail: (error as Error).message });
    }
    const skewNote =
      "clock: change times come from this machine's clock; keep it synced (NTP) so restore-at and diffs by time are right";
    checks.push({ name: "clock", ok: true, detail: `${new Date().toISOString()} — ${skewNote}` });
    if (this.asJson) this.json(checks);
    else for (const c of checks) this.out(`${c.ok ? "ok  " : "FIX "} ${c.name.padEnd(15)} ${c.detail}`);
    return checks.some((c) => !c.ok && c.name !== "CVE-2023-47090" && c.name !== "vault") ? 1 : 0;
  }
}
