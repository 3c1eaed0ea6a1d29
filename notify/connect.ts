/**
 * How a notify command reaches NATS: `--nats URL`, else $EDGESYNC_NATS_URL, else the running
 * agent's local client URL (`<homeDir>/agent.json`), else the hub this device joined
 * (`<homeDir>/notify/joined.json`). Credentials come from a pluggable authenticator, so the auth
 * layer can add the device's self-signed user JWT without this file changing.
 */
import { readFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { ConnectionOptions, NatsConnection } from "@nats-io/transport-node";
import { connectNats, ConnectError } from "../agent/nats/connect.js";
import { silentLog } from "../agent/sync/ports.js";
import { writeFileAtomic } from "../agent/fs/atomic-write.js";

export interface JoinedHub {
  hub: string;
  set: string;
  name: string;
  creator: string;
  fp?: string;
  joinedAt: number;
}

export type AuthenticatorFactory = (url: string) => Promise<ConnectionOptions["authenticator"] | undefined>;

let authenticatorFactory: AuthenticatorFactory | undefined;

/** The auth layer plugs in here (e.g. a JWT authenticator signed with the device key). */
export function setNotifyAuthenticator(factory: AuthenticatorFactory | undefined): void {
  authenticatorFactory = factory;
}

export const joinedPath = (homeDir: string) => join(homeDir, "notify", "joined.json");

export async function readJoined(homeDir: string): Promise<JoinedHub | undefined> {
  const text = await readFile(joinedPath(homeDir), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as JoinedHub;
    return typeof parsed.hub === "string" ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export async function writeJoined(homeDir: string, joined: JoinedHub): Promise<void> {
  await mkdir(join(homeDir, "notify"), { recursive: true, mode: 0o700 });
  await writeFileAtomic(joinedPath(homeDir), `${JSON.stringify(joined, null, 2)}\n`, { mode: 0o600 });
}

export async function resolveNatsUrl(homeDir: string, flag?: string): Promise<string> {
  if (flag) return flag;
  if (process.env.EDGESYNC_NATS_URL) return process.env.EDGESYNC_NATS_URL;
  const agent = await readFile(join(homeDir, "agent.json"), "utf8").then((t) => JSON.parse(t) as { natsUrl?: unknown }).catch(() => undefined);
  if (typeof agent?.natsUrl === "string" && agent.natsUrl) return agent.natsUrl;
  const joined = await readJoined(homeDir);
  if (joined) return joined.hub;
  throw new ConnectError("no NATS to reach: start the agent (`edgesync sync start`) or pass --nats nats://HOST:PORT");
}

export async function connectForNotify(url: string, name = "edgesync-notify"): Promise<NatsConnection> {
  const authenticator = await authenticatorFactory?.(url);
  return connectNats({ servers: url, name, log: silentLog, timeoutMs: 5_000, ...(authenticator ? { authenticator } : {}) });
}
