/** The device as commands need it: its key, its peer id and its authorized_keys line. */
import { defaultIdentityPath, type DeviceKey } from "../agent/auth/identity.js";
import { loadDeviceKey } from "../agent/auth/device-key.js";

export interface Device {
  /** The key file's key, or the ssh-agent's when --identity-agent / EDGESYNC_IDENTITY_AGENT is set. */
  identity: DeviceKey;
  peerId: string;
  sshLine: string;
  path: string;
}

export async function loadDevice(
  identityPath?: string,
  options: { createIfMissing?: boolean; agentSocket?: string } = {},
): Promise<Device> {
  const path = identityPath ?? defaultIdentityPath();
  const { key } = await loadDeviceKey({
    identityPath: path,
    agentSocket: options.agentSocket,
    create: options.createIfMissing ?? false,
  });
  return { identity: key, peerId: key.nkeyPublic, sshLine: key.sshPublicLine(), path };
}
