/**
 * The device key the agent and one-shot commands sign with: the key file, or — with an ssh-agent
 * socket (`--identity-agent`, EDGESYNC_IDENTITY_AGENT) — the agent's key matching the `.pub`
 * beside the key file (or its only ed25519 key), so the private key never has to be on disk.
 */
import { readFile } from "node:fs/promises";
import { loadOrCreateIdentity, defaultIdentityPath, type DeviceKey } from "./identity.js";
import { AgentIdentity } from "./ssh-agent.js";
import { parseSshPublicLine } from "./openssh-format.js";

export interface DeviceKeyOptions {
  identityPath?: string;
  agentSocket?: string;
  /** Make a key file when there is none (never with an agent). */
  create?: boolean;
}

export async function loadDeviceKey(options: DeviceKeyOptions = {}): Promise<{ key: DeviceKey; created: boolean }> {
  const path = options.identityPath ?? defaultIdentityPath();
  const socket = options.agentSocket ?? (process.env.EDGESYNC_IDENTITY_AGENT || undefined);
  if (socket) {
    const pub = await readFile(`${path}.pub`, "utf8").then(
      (line) => parseSshPublicLine(line.trim()).publicKey,
      () => undefined,
    );
    return { key: await AgentIdentity.open(socket, pub), created: false };
  }
  const { identity, created } = await loadOrCreateIdentity(path, options.create ?? false);
  return { key: identity, created };
}
