/**
 * How a device authenticates to an account on a hub: it issues its own user JWT, signed with its
 * device key acting as one of the account's scoped signing keys, for a fresh ephemeral user key
 * that signs the server's nonce. The device key never leaves the device (and may sit in an
 * ssh-agent, since the JWT is signed before connecting); a creds file holds only the ephemeral seed.
 * The JWT does not expire: access ends when the key leaves authorized_keys, which removes its
 * signing key from the account and drops every connection it signed.
 */
import { createUser } from "@nats-io/nkeys";
import { jwtAuthenticator, type Authenticator } from "@nats-io/transport-node";
import { issueUserJwt, formatCreds, type UserCredentials } from "./nats-jwt.js";
import type { DeviceKey } from "./identity.js";

export function issueAccountCredentials(device: DeviceKey, accountPublic: string, name?: string): Promise<UserCredentials> {
  return issueUserJwt(device, accountPublic, { subject: createUser(), lifetimeS: 0, ...(name ? { name } : {}) });
}

export async function accountAuthenticator(device: DeviceKey, accountPublic: string, name?: string): Promise<Authenticator> {
  const { jwt, seed } = await issueAccountCredentials(device, accountPublic, name);
  return jwtAuthenticator(jwt, seed);
}

/** Creds-file text (JWT + ephemeral seed) for a leafnode remote. Write it 0600. */
export async function accountCredsFile(device: DeviceKey, accountPublic: string, name?: string): Promise<string> {
  return formatCreds(await issueAccountCredentials(device, accountPublic, name));
}
