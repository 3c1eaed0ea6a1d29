import { Command } from "clipanion";
import { NotifyCommand } from "./notify-base.js";
import { formatTime } from "./format.js";

export class NotifyDevicesCommand extends NotifyCommand {
  static override paths = [["notify", "devices"]];
  static override usage = Command.Usage({
    description: "List the devices of this notify set: agents (full) and paired devices (notify only)",
    examples: [["All", "edgesync notify devices"]],
  });

  async run() {
    const devices = await this.withClient((client) => client.devices());
    if (this.asJson) return this.json(devices);
    for (const d of devices) {
      const state = d.revokedAt !== undefined ? `unpaired ${formatTime(d.revokedAt)}` : "active";
      this.out(
        `${d.name.padEnd(20)} ${d.kind.padEnd(6)} ${state.padEnd(32)} added ${formatTime(d.addedAt)}  ${d.peer}`,
      );
    }
  }
}
