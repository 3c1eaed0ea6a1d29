import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decode, type User } from "@nats-io/jwt";
import { createOperator } from "@nats-io/nkeys";
import { HUB_ACCOUNT_PUBLIC, pairingDoorKey } from "./accounts.js";
import { DOOR_USER_LIFETIME_MS, doorConnection, doorUserKey, issueDoorUser } from "./pairing-door.js";

describe("pairing-door users", () => {
  it("carry their own limits: one redeem subject, their own inbox, a plain client only, gone with the token", async () => {
    const operator = createOperator();
    const now = Date.UTC(2026, 11, 7);
    const { jwt, expiresAt } = await issueDoorUser(operator, "default", now);
    const claims = decode<User>(jwt);
    assert.equal(claims.iss, pairingDoorKey(operator).getPublicKey());
    assert.equal(claims.nats.issuer_account, HUB_ACCOUNT_PUBLIC);
    assert.deepEqual(claims.nats.pub?.allow, ["es.v1.hub.pair.default"]);
    assert.deepEqual(claims.nats.sub?.allow, [`_INBOX.${claims.sub}.>`]);
    assert.deepEqual(claims.nats.allowed_connection_types, ["STANDARD"]);
    assert.equal(claims.nats.bearer_token, true);
    assert.equal(expiresAt, now + DOOR_USER_LIFETIME_MS);
    assert.equal(claims.exp, Math.floor(expiresAt / 1000));
    assert.equal(doorUserKey(jwt), claims.sub);
    assert.equal(doorConnection(jwt)?.inboxPrefix, `_INBOX.${claims.sub}`);
  });

  it("derives a different door key for every operator, and the same one on every start", () => {
    const [a, b] = [createOperator(), createOperator()];
    assert.equal(pairingDoorKey(a).getPublicKey(), pairingDoorKey(a).getPublicKey());
    assert.notEqual(pairingDoorKey(a).getPublicKey(), pairingDoorKey(b).getPublicKey());
  });

  it("reads no user key out of something that is not a JWT", () => {
    assert.equal(doorUserKey("not a jwt"), undefined);
    assert.equal(doorConnection("a.b.c"), undefined);
  });
});
