import { Command, Option } from "clipanion";
import { NotifyCommand } from "./notify-base.js";
import { parsePairingInput } from "../notify/pair-url.js";
import { writeJoined, resolveNatsUrl, resolveNotifySet } from "../notify/connect.js";
import { publicKeyFromPeerId } from "../notify/encoding.js";
import { sshFingerprint } from "../agent/auth/openssh-format.js";
import { NotifyInputError, PairingError } from "../notify/errors.js";

/** After pairing, how long to wait for the paired device to be known where this device connects. */
const SETTLE_MS = 5_000;

export class NotifyJoinCommand extends NotifyCommand {
  static override paths = [["notify", "join"]];
  static override usage = Command.Usage({
    description: "Pair this device with notify using a token from `edgesync notify pair` (creates a device key if there is none)",
    examples: [["From the printed URL", "edgesync notify join 'edgesync:notify-pair#pair=ABCD-EFGH-JKMN&hub=nats%3A%2F%2Fhub.example.org%3A4222&fp=SHA256%3A…'"], ["A bare token", "edgesync notify join ABCD-EFGH-JKMN --nats nats://hub.example.org:4222"]],
  });
  link = Option.String({ name: "url-or-token" });
  name = Option.String("--name", { description: "The name this device shows as sender (default: the one chosen at `notify pair`)" });

  async run() {
    const link = parsePairingInput(this.link);
    if (!link) throw new NotifyInputError("that is neither a pairing URL nor a token: paste what `edgesync notify pair` printed");
    // Pairing goes through --nats when given (e.g. an agent's own NATS: a hub in operator mode admits
    // no key before it is paired); the device then uses the hub the link names.
    const target = this.nats ? await resolveNatsUrl(this.homeDir, this.nats) : link.hub ? { url: link.hub, ownAgent: false } : await resolveNatsUrl(this.homeDir);
    const url = link.hub ?? target.url;
    const fingerprintOf = (peer: string) => sshFingerprint(publicKeyFromPeerId(peer) as Uint8Array);
    const answer = await this.withClient(async (client) => {
      const paired = await client.join(link.token, fingerprintOf, link.fp);
      const deadline = Date.now() + SETTLE_MS;
      for (;;) {
        const known = await client.whoami().then(() => true, () => false);
        if (known) break;
        if (Date.now() > deadline) throw new PairingError("paired, but the server this device reaches has not heard of it yet; retry in a moment");
        await new Promise((r) => setTimeout(r, 100));
      }
      return paired;
    }, { createKey: true, target, set: await resolveNotifySet(this.homeDir, link.set ?? this.set ?? process.env.EDGESYNC_NOTIFY_SET, process.cwd()) });
    const name = this.name ?? answer.device.name;
    await writeJoined(this.homeDir, { hub: url, set: answer.set, name, creator: answer.creator, fp: link.fp, joinedAt: Date.now() });
    if (this.asJson) return this.json({ ...answer, hub: url });
    this.out(`paired as "${answer.device.name}" with notify set ${answer.set} (issued by ${answer.creatorName}); this device can now send, read and answer messages`);
  }
}
