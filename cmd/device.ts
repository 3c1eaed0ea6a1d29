/** The device as commands need it: its key, its peer id and its authorized_keys line. */
import { loadOrCreateIdentity, defaultIdentityPath, type Identity } from "../agent/auth/identity.js";

export interface Device {
  identity: Identity;
  peerId: string;
  sshLine: string;
  path: string;
}

export async function loadDevice(identityPath?: string, options: { createIfMissing?: boolean } = {}): Promise<Device> {
  const path = identityPath ?? defaultIdentityPath();
  const { identity } = await loadOrCreateIdentity(path, options.createIfMissing ?? false);
  return { identity, peerId: identity.nkeyPublic, sshLine: identity.sshPublicLine(), path };
}
