import { Command, Option } from "clipanion";
import { NotifyCommand, parseDuration } from "./notify-base.js";
import { formatToken, PAIRING_TTL_MS } from "../notify/pairing.js";

export class NotifyPairCommand extends NotifyCommand {
  static override paths = [["notify", "pair"]];
  static override usage = Command.Usage({
    description: "Print a one-time token (and QR code) that pairs a phone, browser or CLI with notify — and nothing else",
    details: `
      The token is single use and expires after 10 minutes; only its hash is stored. The new device presents it with
      \`edgesync notify join URL\`, or in the web inbox. Paired devices can send, read and answer messages, not reach vaults.
    `,
    examples: [["Pair a phone", "edgesync notify pair --name phone"]],
  });
  name = Option.String("--name", { description: "What to call the new device (unique; used by `notify unpair`)" });
  ttl = Option.String("--ttl", { description: "Token lifetime, at most 10m (default 10m)" });
  qr = Option.Boolean("--qr", true, { description: "Print the URL as a QR code (--no-qr to skip)" });

  async run() {
    const ttlMs = this.ttl === undefined ? PAIRING_TTL_MS : parseDuration(this.ttl, "--ttl");
    const issued = await this.withClient((client) => client.pair(this.name ?? "phone", ttlMs));
    if (issued.hub !== undefined && isLoopback(issued.hub)) {
      this.context.stderr.write(`edgesync: note: the link names ${issued.hub}, reachable from this machine only; for other devices start the agent with --notify-nats-url nats://HUB:4222\n`);
    }
    if (this.asJson) return this.json(issued);
    this.out(`token    ${formatToken(issued.token)}   (for "${issued.name}", single use, expires ${new Date(issued.expiresAt).toLocaleTimeString()})`);
    this.out(`url      ${issued.url}`);
    this.out(`key      ${issued.fp}`);
    this.out(`on the new device: edgesync notify join '${issued.url}'   — or enter the token in the web inbox`);
    if (!this.qr) return;
    const { default: qrcode } = await import("qrcode-terminal"); // only when asked: every command pays for top-level imports
    qrcode.generate(issued.url, { small: true }, (code) => this.context.stdout.write(`${code}\n`));
  }
}

function isLoopback(url: string): boolean {
  const host = URL.canParse(url) ? new URL(url).hostname : "";
  return host === "localhost" || host === "[::1]" || host.startsWith("127.");
}
