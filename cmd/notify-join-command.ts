import { Command, Option } from "clipanion";
import { NotifyCommand } from "./notify-base.js";
import { loadDevice } from "./device.js";
import { ExitCode } from "./base-command.js";
import { parsePairingInput, type PairingLink } from "../notify/pair-url.js";
import { writeJoined, resolveNatsUrl, resolveNotifySet, type NatsTarget } from "../notify/connect.js";
import { joinThroughDoor, waitUntilAdmitted } from "../notify/door-join.js";
import { publicKeyFromPeerId } from "../notify/encoding.js";
import type { PairAnswer } from "../notify/handlers.js";
import { sshFingerprint } from "../agent/auth/openssh-format.js";
import { Identity } from "../agent/auth/identity.js";
import { ProbeError } from "../agent/auth/tls-probe.js";
import { ConnectError } from "../agent/nats/connect.js";
import { trustHub, type TrustedHub } from "../agent/hub-link/hub-client.js";
import { AuthorizationError, NotifyInputError, PairingError } from "../notify/errors.js";

/** After pairing, how long to wait for the paired device to be known where this device connects. */
const SETTLE_MS = 10_000;

// tls-probe.ts says this when the server's INFO offers no TLS: an agent's own (loopback) server.
const NO_TLS = /does not offer TLS/;

const fingerprintOf = (peer: string) => sshFingerprint(publicKeyFromPeerId(peer) as Uint8Array);

export class NotifyJoinCommand extends NotifyCommand {
  static override paths = [["notify", "join"]];
  static override usage = Command.Usage({
    description:
      "Pair this device with notify using a token from `edgesync notify pair` (creates a device key if there is none)",
    details: `
      A link that names a hub and carries its door credentials is redeemed through the hub's pairing door: a connection
      that can do nothing but present the token. The hub's certificate is trusted on first use, as \`clone\` does
      (asked, or --accept-hub-key).
      With --nats the token goes to that NATS server instead (e.g. an agent's own, through an SSH tunnel).
    `,
    examples: [
      [
        "From the printed URL",
        "edgesync notify join 'edgesync:notify-pair#pair=ABCD-EFGH-JKMN&hub=nats%3A%2F%2Fhub.example.org%3A4222&fp=SHA256%3A…'",
      ],
      ["A bare token", "edgesync notify join ABCD-EFGH-JKMN --nats nats://hub.example.org:4222"],
    ],
  });
  link = Option.String({ name: "url-or-token" });
  name = Option.String("--name", {
    description: "The name this device shows as sender (default: the one chosen at `notify pair`)",
  });

  async run() {
    const link = parsePairingInput(this.link);
    if (!link)
      throw new NotifyInputError(
        "that is neither a pairing URL nor a token: paste what `edgesync notify pair` printed",
      );
    const hub = !this.nats && link.hub && link.door ? await this.#tlsHub(link.hub) : undefined;
    const target = this.nats
      ? await resolveNatsUrl(this.homeDir, this.nats)
      : link.hub
        ? { url: link.hub, ownAgent: false }
        : await resolveNatsUrl(this.homeDir);
    const url = link.hub ?? target.url;
    const set = await resolveNotifySet(
      this.homeDir,
      link.set ?? this.set ?? process.env.EDGESYNC_NOTIFY_SET,
      process.cwd(),
    );
    const answer =
      hub && link.door
        ? await this.#throughDoor(link, link.door, url, hub, set)
        : await this.#direct(link, target, set);
    const name = this.name ?? answer.device.name;
    await writeJoined(this.homeDir, {
      hub: url,
      set: answer.set,
      name,
      creator: answer.creator,
      fp: link.fp,
      joinedAt: Date.now(),
    });
    if (this.asJson) return this.json({ ...answer, hub: url });
    this.out(
      `paired as "${answer.device.name}" with notify set ${answer.set} (issued by ${answer.creatorName}); this device can now send, read and answer messages`,
    );
  }

  /** The hub's pinned certificate, or undefined for a server without TLS (an agent's own NATS: no door there). */
  async #tlsHub(url: string): Promise<TrustedHub | undefined> {
    try {
      return await trustHub(url, this.trustOptions());
    } catch (error) {
      if (error instanceof ProbeError && NO_TLS.test(error.message)) return undefined;
      throw error instanceof ProbeError ? new ConnectError(error.message, { cause: error }) : error;
    }
  }

  /** The hub's pairing door, then a connection with this device's own key once the hub admits it. */
  async #throughDoor(link: PairingLink, door: string, url: string, hub: TrustedHub, set: string): Promise<PairAnswer> {
    const device = await loadDevice(this.identity, { createIfMissing: true, agentSocket: "" });
    const identity = device.identity;
    if (!(identity instanceof Identity))
      throw new ExitCode(1, "notify signs with the key file; unset EDGESYNC_IDENTITY_AGENT for notify commands");
    const signer = { peerId: device.peerId, sign: (bytes: Uint8Array) => identity.sign(bytes) };
    const answer = await joinThroughDoor({
      url,
      door,
      hub,
      set,
      token: link.token,
      signer,
      name: await this.senderName(device),
      fingerprintOf,
      expectFingerprint: link.fp,
    });
    const target = { url, ownAgent: false };
    await waitUntilAdmitted(
      () => this.withClient((client) => client.whoami().then(() => true), { target, set }),
      SETTLE_MS,
    );
    return answer;
  }

  /** Through a NATS server that carries the pairing subject to the issuing agent (--nats, or an agent's own). */
  async #direct(link: PairingLink, target: NatsTarget, set: string): Promise<PairAnswer> {
    try {
      return await this.#directOnce(link, target, set);
    } catch (error) {
      // A hub admits no key before pairing: without door credentials this link cannot be redeemed there.
      if (error instanceof AuthorizationError && !this.nats && link.hub && !link.door) {
        throw new AuthorizationError(
          `the hub at ${link.hub} admits no key before pairing, and this link carries no pairing-door credentials (its agent has no hub, or an older edgesync); pair with --nats pointing at the issuing agent's own NATS, or through the web inbox`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  async #directOnce(link: PairingLink, target: NatsTarget, set: string): Promise<PairAnswer> {
    return this.withClient(
      async (client) => {
        const paired = await client.join(link.token, fingerprintOf, link.fp);
        const deadline = Date.now() + SETTLE_MS;
        for (;;) {
          const known = await client.whoami().then(
            () => true,
            () => false,
          );
          if (known) break;
          if (Date.now() > deadline)
            throw new PairingError(
              "paired, but the server this device reaches has not heard of it yet; retry in a moment",
            );
          await new Promise((r) => setTimeout(r, 100));
        }
        return paired;
      },
      { createKey: true, target, set },
    );
  }
}
