import { Command, Option } from "clipanion";
import { NotifyCommand, parseDuration } from "./notify-base.js";
import { formatToken, PAIRING_TTL_MS } from "../notify/pairing.js";
import { parsePairingInput, pairingUrl } from "../notify/pair-url.js";
import { DEFAULT_SET } from "../agent/nats/notify-subjects.js";
import type { NotifyClient } from "../notify/client.js";
import { HubError, requestDoorUser } from "../agent/hub-link/hub-client.js";
import type { DeviceKey } from "../agent/auth/identity.js";

/**
 * A leaf's hub-account link drops and redials for about a second whenever the hub re-issues that
 * device's rights (a vault registered, a key's sets changed): a request in that gap goes unanswered.
 */
const DOOR_REQUEST_ATTEMPTS = 4;
const DOOR_RETRY_MS = 1_000;

export class NotifyPairCommand extends NotifyCommand {
  static override paths = [["notify", "pair"]];
  static override usage = Command.Usage({
    description:
      "Print a one-time token (and QR code) that pairs a phone, browser or CLI with notify — and nothing else",
    details: `
      The token is single use and expires after 10 minutes; only its hash is stored. The new device presents it with
      \`edgesync notify join URL\`, or in the web inbox. When this agent syncs with a hub, the URL also carries the hub's
      pairing-door credentials (as long-lived as the token), so a device without an agent can pair at the hub. Paired devices can send, read and answer messages, not reach vaults.
    `,
    examples: [["Pair a phone", "edgesync notify pair --name phone"]],
  });
  name = Option.String("--name", { description: "What to call the new device (unique; used by `notify unpair`)" });
  ttl = Option.String("--ttl", { description: "Token lifetime, at most 10m (default 10m)" });
  qr = Option.Boolean("--qr", true, { description: "Print the URL as a QR code (--no-qr to skip)" });

  #doorProblem: string | undefined;

  /**
   * Adds the hub's pairing-door credentials to a link that names a hub, so that a device holding no
   * admitted key can present the token there. Without a hub (a peer, an older hub) the link stays as it is.
   */
  async #withDoor(client: NotifyClient, device: DeviceKey, url: string): Promise<string> {
    const link = parsePairingInput(url);
    if (!link?.hub) return url;
    for (let attempt = 1; ; attempt++) {
      try {
        const door = await requestDoorUser(client.nc, device, { set: link.set ?? DEFAULT_SET });
        return pairingUrl({ ...link, door: door.jwt }, url.slice(0, url.indexOf("#")));
      } catch (error) {
        // A hub that answered (a refusal) has no cause; only an unanswered or garbled request is worth repeating.
        const unanswered = error instanceof HubError && error.cause !== undefined;
        if (!unanswered || attempt >= DOOR_REQUEST_ATTEMPTS) {
          this.#doorProblem = error instanceof Error ? error.message : String(error);
          return url;
        }
        await new Promise((resolve) => setTimeout(resolve, DOOR_RETRY_MS));
      }
    }
  }

  async run() {
    const ttlMs = this.ttl === undefined ? PAIRING_TTL_MS : parseDuration(this.ttl, "--ttl");
    const issued = await this.withClient(async (client, device) => {
      const token = await client.pair(this.name ?? "phone", ttlMs);
      return { ...token, url: await this.#withDoor(client, device.identity, token.url) };
    });
    if (issued.hub !== undefined && isLoopback(issued.hub)) {
      this.context.stderr.write(
        `edgesync: note: the link names ${issued.hub}, reachable from this machine only; for other devices start the agent with --notify-nats-url nats://HUB:4222\n`,
      );
    }
    if (this.#doorProblem)
      this.context.stderr.write(
        `edgesync: note: no pairing-door credentials from a hub (${this.#doorProblem}); a device without an agent pairs through the web inbox or with \`notify join --nats\` pointing at an agent's own NATS\n`,
      );
    if (this.asJson) return this.json(issued);
    this.out(
      `token    ${formatToken(issued.token)}   (for "${issued.name}", single use, expires ${new Date(issued.expiresAt).toLocaleTimeString()})`,
    );
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
