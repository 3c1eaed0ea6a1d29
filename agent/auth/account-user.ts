/**
 * How a device authenticates to an account on a hub: it issues its own user JWT, signed with its
 * device key acting as one of the account's scoped signing keys, for a fresh ephemeral user key
 * that signs the server's nonce. The device key never leaves the device (and may sit in an
 * ssh-agent, since the JWT is signed before connecting); a creds file holds only the ephemeral seed.
 * The JWT does not expire: access ends when the key leaves authorized_keys, which removes its
 * signing key from the account and drops every connection it signed.
 */
import type { Authenticator } from "@nats-io/transport-node";
import { ephemeralUserKey, type EphemeralUserKey } from "./native-ed25519.js";
import { issueUserJwt, formatCreds, type UserCredentials } from "./nats-jwt.js";
import type { DeviceKey } from "./identity.js";

export function issueAccountCredentials(
  device: DeviceKey,
  accountPublic: string,
  name?: string,
  user: EphemeralUserKey = ephemeralUserKey(),
): Promise<UserCredentials> {
  return issueUserJwt(device, accountPublic, { subject: user, lifetimeS: 0, ...(name ? { name } : {}) });
}

/** What nats.js's jwtAuthenticator returns, with the nonce signed by OpenSSL (native-ed25519.ts). */
export async function accountAuthenticator(
  device: DeviceKey,
  accountPublic: string,
  name?: string,
): Promise<Authenticator> {
  const user = ephemeralUserKey();
  const { jwt } = await issueAccountCredentials(device, accountPublic, name, user);
  return (nonce?: string) => ({ jwt, nkey: user.getPublicKey(), sig: nonce ? user.signNonce(nonce) : "" });
}

/** Creds-file text (JWT + ephemeral seed) for a leafnode remote. Write it 0600. */
export async function accountCredsFile(device: DeviceKey, accountPublic: string, name?: string): Promise<string> {
  return formatCreds(await issueAccountCredentials(device, accountPublic, name));
}
