/**
 * Pairing-door users: what a device that holds no admitted key yet uses to redeem a notify pairing
 * token at a hub. The hub issues one per pairing link (`issueDoorUser`), signed by its door key
 * (accounts.ts pairingDoorKey); the link carries the JWT, and the joining device connects with it
 * (`doorConnection`). Everything the user may do is in its own JWT, which only the hub can sign:
 *
 *  - publish only `es.v1.hub.pair.<set>` (the hub's door service, agent/hub/pairing-door.ts);
 *  - subscribe only `_INBOX.<its user key>.>`, at most two subscriptions, small messages;
 *  - a plain client connection only (never a leafnode: a hub does not check what a leafnode publishes);
 *  - a bearer JWT (the link is the secret, like the token in it) that expires with the token.
 */
import { encodeUser } from "@nats-io/jwt";
import { createUser, fromPublic, type KeyPair } from "@nats-io/nkeys";
import { jwtAuthenticator, type Authenticator } from "@nats-io/transport-node";
import { HUB_ACCOUNT_PUBLIC, pairingDoorKey, pairingDoorSubject } from "./accounts.js";

/** A pairing token lives this long (notify/pairing.ts PAIRING_TTL_MS); its door credentials no longer. */
export const DOOR_USER_LIFETIME_MS = 10 * 60_000;
/** A pairing request and its signed answer are well under a kilobyte. */
export const DOOR_USER_LIMITS = { subs: 2, payloadBytes: 4 * 1024, dataBytes: 16 * 1024 };

export interface DoorUser {
  jwt: string;
  expiresAt: number;
}

export async function issueDoorUser(operator: KeyPair, set: string, nowMs = Date.now()): Promise<DoorUser> {
  const user = createUser();
  const expiresAt = nowMs + DOOR_USER_LIFETIME_MS;
  const jwt = await encodeUser(
    "edgesync pairing door",
    user,
    fromPublic(HUB_ACCOUNT_PUBLIC),
    {
      pub: { allow: [pairingDoorSubject(set)] },
      sub: { allow: [`_INBOX.${user.getPublicKey()}.>`] },
      subs: DOOR_USER_LIMITS.subs,
      payload: DOOR_USER_LIMITS.payloadBytes,
      data: DOOR_USER_LIMITS.dataBytes,
      bearer_token: true,
      allowed_connection_types: ["STANDARD"],
    },
    { signer: pairingDoorKey(operator), exp: Math.floor(expiresAt / 1000) },
  );
  return { jwt, expiresAt };
}

/** The user key a door JWT is about (its inboxes are `_INBOX.<key>`), or undefined if it is not a JWT. */
export function doorUserKey(jwt: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub?: unknown };
    return typeof claims.sub === "string" && /^U[A-Z2-7]{55}$/.test(claims.sub) ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

export function doorConnection(jwt: string): { authenticator: Authenticator; inboxPrefix: string } | undefined {
  const key = doorUserKey(jwt);
  return key ? { authenticator: jwtAuthenticator(jwt), inboxPrefix: `_INBOX.${key}` } : undefined;
}
