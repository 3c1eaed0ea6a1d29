/**
 * Connecting to a server that is not an edgesync hub: this device's own agent (a leaf's or a peer's
 * loopback server, which admits only the nkey user in its credentials file), or a plain server such
 * as attach mode's. The credentials come from $EDGESYNC_NATS_CREDENTIALS, else the file the caller
 * names, else the running agent's when `servers` is its URL (`<home>/agent.json`).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats, NatsAuthRefusedError, type ConnectConfig } from "./connect.js";
import {
  CREDENTIALS_ENV,
  LOCAL_CREDENTIALS_DIR,
  LocalCredentialsError,
  readLocalCredentials,
} from "../auth/local-credentials.js";

export interface PlainConnectConfig extends ConnectConfig {
  /** The seed file to sign with (the running agent's `natsCredentials`). */
  credentialsFile?: string;
  /** Home whose agent.json is consulted when no file is named. */
  home?: string;
}

/** The running agent's credentials file, when `url` is that agent's own server. */
export async function agentCredentialsFor(home: string, url: string): Promise<string | undefined> {
  const text = await readFile(join(home, "agent.json"), "utf8").catch(() => undefined); // no agent running here
  if (text === undefined) return undefined;
  try {
    const agent = JSON.parse(text) as { natsUrl?: unknown; natsCredentials?: unknown };
    return agent.natsUrl === url && typeof agent.natsCredentials === "string" ? agent.natsCredentials : undefined;
  } catch {
    return undefined; // half-written while the agent starts: treated as no agent, as before it existed
  }
}

export async function connectPlainNats(config: PlainConnectConfig): Promise<NatsConnection> {
  const file =
    process.env[CREDENTIALS_ENV] ||
    config.credentialsFile ||
    (config.home ? await agentCredentialsFor(config.home, String(config.servers)) : undefined);
  const credentials = file ? await readLocalCredentials(file) : undefined;
  try {
    return await connectNats({ ...config, ...(credentials ? { authenticator: credentials.authenticator } : {}) });
  } catch (error) {
    if (!(error instanceof NatsAuthRefusedError)) throw error;
    const why = credentials
      ? `refused the credentials in ${credentials.path} (was the agent restarted? it writes new ones at every start)`
      : "wants credentials";
    throw new LocalCredentialsError(
      `NATS at ${String(config.servers)} ${why}: an agent's own server admits only its user — run this as that user with its EDGESYNC_HOME, or set ${CREDENTIALS_ENV} to its <home>/${LOCAL_CREDENTIALS_DIR}/<role>.nk`,
      { cause: error },
    );
  }
}
