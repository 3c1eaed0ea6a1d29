/**
 * What every `edgesync notify …` command shares: the NATS connection (--nats, $EDGESYNC_NATS_URL,
 * the running agent, or the hub this device joined), this device's key, and input parsing that turns
 * bad flags into one-line NotifyInputErrors.
 */
import { Option } from "clipanion";
import { hostname } from "node:os";
import { EdgesyncCommand, ExitCode } from "./base-command.js";
import { loadDevice, type Device } from "./device.js";
import { edgesyncHome, Identity } from "../agent/auth/identity.js";
import { NotifyClient } from "../notify/client.js";
import { connectForNotify, readJoined, resolveNatsUrl, resolveNotifySet, type NatsTarget } from "../notify/connect.js";
import { terminalConfirm } from "./trust-prompt.js";
import type { TrustOptions } from "../agent/hub-link/hub-client.js";
import { NotifyInputError } from "../notify/errors.js";
import { parseActionSpec, type Draft, type NotifyMedia } from "../notify/model.js";

export abstract class NotifyCommand extends EdgesyncCommand {
  nats = Option.String("--nats", {
    description: "NATS URL (default: $EDGESYNC_NATS_URL, else the running agent's, else the hub this device joined)",
  });
  identity = Option.String("--identity", { description: "Device key file" });
  asJson = Option.Boolean("--json", false, { description: "Machine-readable output" });
  acceptHubKey = Option.Boolean("--accept-hub-key", false, {
    description:
      "Trust the hub's TLS certificate on first use without asking (scripts; also EDGESYNC_ACCEPT_HUB_KEY=1)",
  });
  set = Option.String("--set", {
    description:
      "Notify set: a vault id, or default (default: $EDGESYNC_NOTIFY_SET, else the vault of the current folder, else the set this device joined, else default)",
  });

  get homeDir(): string {
    return edgesyncHome();
  }

  /** Connects, runs `work`, and always closes the connection. */
  withClient<T>(
    work: (client: NotifyClient, device: Device) => Promise<T>,
    options: { createKey?: boolean; target?: NatsTarget; set?: string } = {},
  ): Promise<T> {
    return withNotifyClient(
      {
        identityPath: this.identity,
        createKey: options.createKey,
        nats: this.nats,
        target: options.target,
        trust: this.trustOptions(),
        set: options.set ?? this.set ?? process.env.EDGESYNC_NOTIFY_SET,
        cwd: process.cwd(),
      },
      work,
    );
  }

  /** First use of a hub's certificate: --accept-hub-key (or EDGESYNC_ACCEPT_HUB_KEY=1), else ask on the terminal. */
  trustOptions(): TrustOptions {
    return { accept: this.acceptHubKey || process.env.EDGESYNC_ACCEPT_HUB_KEY === "1", confirm: terminalConfirm() };
  }

  senderName(device: Device): Promise<string> {
    return senderName(this.homeDir, device);
  }
}

export interface NotifyConnectOptions {
  identityPath?: string;
  createKey?: boolean;
  /** NATS URL given by the user (else $EDGESYNC_NATS_URL, the running agent's, the joined hub's). */
  nats?: string;
  target?: NatsTarget;
  trust: TrustOptions;
  /** The set given by the user; else the vault around `cwd`, the joined set, or default. */
  set?: string;
  cwd: string;
}

/** Connects as this device, runs `work` with a notify client, and always closes the connection. */
export async function withNotifyClient<T>(
  options: NotifyConnectOptions,
  work: (client: NotifyClient, device: Device) => Promise<T>,
): Promise<T> {
  // Notify signs every message synchronously: it needs the key file, never the ssh-agent.
  const device = await loadDevice(options.identityPath, {
    createIfMissing: options.createKey ?? false,
    agentSocket: "",
  });
  const identity = device.identity;
  if (!(identity instanceof Identity))
    throw new ExitCode(1, "notify signs with the key file; unset EDGESYNC_IDENTITY_AGENT for notify commands");
  const homeDir = edgesyncHome();
  const target = options.target ?? (await resolveNatsUrl(homeDir, options.nats));
  const nc = await connectForNotify(target, identity, options.trust);
  try {
    const set = await resolveNotifySet(homeDir, options.set, options.cwd);
    const client = new NotifyClient({
      nc,
      set,
      signer: { peerId: device.peerId, sign: (b) => identity.sign(b) },
      name: await senderName(homeDir, device),
    });
    return await work(client, device);
  } finally {
    await nc.close().catch(() => {});
  }
}

async function senderName(homeDir: string, device: Device): Promise<string> {
  const fromEnv = process.env.EDGESYNC_NOTIFY_NAME;
  if (fromEnv) return fromEnv;
  const joined = await readJoined(homeDir);
  return (joined?.name ?? device.identity.comment) || hostname();
}

/** send and ask: the message flags. */
export abstract class NotifyComposeCommand extends NotifyCommand {
  project = Option.String("--project", {
    description: "Project the message is about (default: $EDGESYNC_NOTIFY_PROJECT)",
  });
  thread = Option.String("--thread", { description: "Thread within the project (default: general)" });
  priority = Option.String("--priority", {
    description: "info | action_required | urgent (default: info, or action_required with actions)",
  });
  actions = Option.Array("--action", { description: "A button, ID:LABEL (repeatable), e.g. --action yes:Merge" });
  media = Option.Array("--media", { description: "A link to show with the message (http/https URL, repeatable)" });
  body = Option.String({ name: "body" });

  async draft(): Promise<Draft> {
    const project = this.project ?? process.env.EDGESYNC_NOTIFY_PROJECT;
    if (!project) throw new NotifyInputError("missing project: pass --project NAME (or set EDGESYNC_NOTIFY_PROJECT)");
    const body = this.body === "-" ? await readStdin() : this.body;
    const media: NotifyMedia[] = (this.media ?? []).map((url) => ({ url }));
    return {
      project,
      thread: this.thread ?? "general",
      body,
      ...(this.priority !== undefined ? { priority: this.priority } : {}),
      actions: (this.actions ?? []).map(parseActionSpec),
      ...(media.length > 0 ? { media } : {}),
    };
  }
}

/** Stdin for a body of "-", bounded so a stray pipe cannot fill memory. */
async function readStdin(): Promise<string> {
  const limit = 1024 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit)
      throw new NotifyInputError("the body on stdin is larger than 1 MiB; a message holds at most 16 KiB");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8").replace(/\n$/, "");
}

/** "30s", "2m", "1h", "500ms" or plain seconds → ms. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new NotifyInputError(`${flag} ${JSON.stringify(text)} is not a duration: write e.g. 30s, 5m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"] as number;
  return Math.round(Number(match[1]) * unit);
}
