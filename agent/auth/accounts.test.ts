import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decode, type Account, type SigningKey } from "@nats-io/jwt";
import { createOperator } from "@nats-io/nkeys";
import { Identity } from "./identity.js";
import { deviceInboxPrefix, encodeHubAccount, hubAccountTemplate, pairingDoorKey } from "./accounts.js";
import { notifySigningKeys, notifyOnlySubjects } from "../../notify/nats-auth.js";

describe("the hub account", () => {
  it("appends notify-only devices as signing keys, and a key that is also a member keeps the member's template", async () => {
    const operator = createOperator();
    const [hub, member, phone] = [Identity.generate("hub"), Identity.generate("member"), Identity.generate("phone")];
    const extra = notifySigningKeys("default", [{ peer: phone.nkeyPublic, kind: "notify" }, { peer: member.nkeyPublic, kind: "notify" }]);
    const claims = decode<Account>(await encodeHubAccount(operator, hub, [member], extra));
    const scoped = (claims.nats.signing_keys as (SigningKey | string)[]).filter((k): k is SigningKey => typeof k !== "string");
    const keys = new Map(scoped.map((k) => [k.key, k]));
    assert.equal(keys.size, 3);
    assert.deepEqual((claims.nats.signing_keys as (SigningKey | string)[]).filter((k) => typeof k === "string"), [pairingDoorKey(operator).getPublicKey()], "the pairing door's key, unscoped: its users carry their own limits");
    assert.deepEqual(keys.get(hub.accountNkeyPublic)?.template, hubAccountTemplate(hub.nkeyPublic, true));
    assert.deepEqual(keys.get(member.accountNkeyPublic)?.template, hubAccountTemplate(member.nkeyPublic, false));
    assert.deepEqual(keys.get(phone.accountNkeyPublic)?.template.pub?.allow, notifyOnlySubjects("default").publish);
    assert.ok(!JSON.stringify(keys.get(phone.accountNkeyPublic)?.template).includes("es.v1.hub"), "a notify-only device cannot ask or register with the hub");
  });

  it("lets each key hear only its own reply inboxes", async () => {
    const operator = createOperator();
    const [hub, member, phone] = [Identity.generate("hub"), Identity.generate("member"), Identity.generate("phone")];
    const extra = notifySigningKeys("default", [{ peer: phone.nkeyPublic, kind: "notify" }]);
    const claims = decode<Account>(await encodeHubAccount(operator, hub, [member], extra));
    for (const key of (claims.nats.signing_keys as (SigningKey | string)[]).filter((k): k is SigningKey => typeof k !== "string")) {
      const owner = [hub, member, phone].find((k) => k.accountNkeyPublic === key.key) as Identity;
      const inboxes = (key.template.sub?.allow ?? []).filter((s) => s.startsWith("_INBOX"));
      assert.deepEqual(inboxes, [`${deviceInboxPrefix(owner.nkeyPublic)}.>`], key.role);
    }
  });
});
