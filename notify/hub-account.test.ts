/** The hub account with notify's devices in it: notify's signing keys beside the members' (agent/auth/accounts.ts). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decode, type Account, type SigningKey } from "@nats-io/jwt";
import { createOperator } from "@nats-io/nkeys";
import { Identity } from "../agent/auth/identity.js";
import { deviceInboxPrefix, encodeHubAccount } from "../agent/auth/accounts.js";
import { notifySigningKeys, notifyOnlySubjects } from "./nats-auth.js";

const VAULT_A = "0b7e8d1c-3c1f-4a53-9a1e-6f2d3b4c5d6e";

/** The scoped signing keys by account key (the pairing door's plain key left out). */
const scopedKeys = (claims: { nats: Partial<Account> }) =>
  new Map(
    (claims.nats.signing_keys as (SigningKey | string)[])
      .filter((k): k is SigningKey => typeof k !== "string")
      .map((k) => [k.key, k]),
  );

describe("the hub account with notify devices", () => {
  it("appends notify-only devices as signing keys, and a key that is also a member gets both rights", async () => {
    const operator = createOperator();
    const [hub, member, phone] = [Identity.generate("hub"), Identity.generate("member"), Identity.generate("phone")];
    const extra = notifySigningKeys("default", [
      { peer: phone.nkeyPublic, kind: "notify" },
      { peer: member.nkeyPublic, kind: "notify" },
    ]);
    const claims = decode<Account>(
      await encodeHubAccount(operator, hub, [{ publicKey: member.publicKey, notifySets: [VAULT_A] }], extra),
    );
    const keys = scopedKeys(claims);
    assert.equal(keys.size, 3);
    assert.deepEqual(keys.get(member.accountNkeyPublic)?.template.sub?.allow, [
      `es.v1.notify.${VAULT_A}.>`,
      `_INBOX.${member.nkeyPublic}.>`,
      "es.v1.notify.default.live.>",
    ]);
    assert.deepEqual(keys.get(phone.accountNkeyPublic)?.template.pub?.allow, notifyOnlySubjects("default").publish);
    assert.ok(
      !JSON.stringify(keys.get(phone.accountNkeyPublic)?.template).includes("es.v1.hub"),
      "a notify-only device cannot ask or register with the hub",
    );
  });

  it("lets each key hear only its own reply inboxes", async () => {
    const operator = createOperator();
    const [hub, member, phone] = [Identity.generate("hub"), Identity.generate("member"), Identity.generate("phone")];
    const extra = notifySigningKeys("default", [{ peer: phone.nkeyPublic, kind: "notify" }]);
    const claims = decode<Account>(
      await encodeHubAccount(operator, hub, [{ publicKey: member.publicKey, notifySets: [VAULT_A] }], extra),
    );
    for (const key of scopedKeys(claims).values()) {
      const owner = [hub, member, phone].find((k) => k.accountNkeyPublic === key.key) as Identity;
      const inboxes = (key.template.sub?.allow ?? []).filter((s) => s.startsWith("_INBOX"));
      assert.deepEqual(inboxes, [`${deviceInboxPrefix(owner.nkeyPublic)}.>`], key.role);
    }
  });
});
