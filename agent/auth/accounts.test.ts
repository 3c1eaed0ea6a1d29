import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decode, type Account, type SigningKey } from "@nats-io/jwt";
import { createOperator } from "@nats-io/nkeys";
import { Identity } from "./identity.js";
import {
  ANY_HUB,
  assertUnwidenable,
  clusterHubVaultTemplate,
  encodeHubAccount,
  encodeVaultAccountJwt,
  hubAccountTemplate,
  pairingDoorKey,
} from "./accounts.js";

const VAULT_A = "0b7e8d1c-3c1f-4a53-9a1e-6f2d3b4c5d6e";
const VAULT_B = "1c8f9e2d-4d20-4b64-8b2f-7a3e4c5d6e7f";

/** The scoped signing keys by account key (the pairing door's plain key left out). */
const scopedKeys = (claims: { nats: Partial<Account> }) =>
  new Map(
    (claims.nats.signing_keys as (SigningKey | string)[])
      .filter((k): k is SigningKey => typeof k !== "string")
      .map((k) => [k.key, k]),
  );

describe("the hub account", () => {
  it("gives each member the notify sets of its own vaults only, one signing key per key however often it is listed", async () => {
    const operator = createOperator();
    const [hub, member, other] = [Identity.generate("hub"), Identity.generate("member"), Identity.generate("other")];
    const claims = decode<Account>(
      await encodeHubAccount(operator, hub, [
        { publicKey: member.publicKey, notifySets: [VAULT_A] },
        { publicKey: other.publicKey, notifySets: [VAULT_B] },
        { publicKey: member.publicKey, notifySets: ["default"] },
      ]),
    );
    const keys = scopedKeys(claims);
    assert.equal(keys.size, 3);
    assert.deepEqual(
      (claims.nats.signing_keys as (SigningKey | string)[]).filter((k) => typeof k === "string"),
      [pairingDoorKey(operator).getPublicKey()],
      "the pairing door's key, unscoped: its users carry their own limits",
    );
    assert.deepEqual(keys.get(hub.accountNkeyPublic)?.template, hubAccountTemplate(hub.nkeyPublic, true));
    assert.deepEqual(keys.get(member.accountNkeyPublic)?.template.sub?.allow, [
      `es.v1.notify.${VAULT_A}.>`,
      "es.v1.notify.default.>",
      `_INBOX.${member.nkeyPublic}.>`,
    ]);
    assert.deepEqual(keys.get(other.accountNkeyPublic)?.template.sub?.allow, [
      `es.v1.notify.${VAULT_B}.>`,
      `_INBOX.${other.nkeyPublic}.>`,
    ]);
    assert.ok(
      !JSON.stringify(keys.get(member.accountNkeyPublic)?.template).includes("es.v1.notify.>"),
      "no member reaches every set",
    );
  });

  it("refuses a subscribe permission that ends in *, which a subscriber could widen with a literal >", () => {
    const member = Identity.generate("member");
    assert.throws(() => assertUnwidenable(["es.v1.notify.default.live.*.*"]), /ends in \*/);
    assert.throws(() => hubAccountTemplate(member.nkeyPublic, false, ["a.b"]), RangeError);
    assert.deepEqual(assertUnwidenable(["es.v1.notify.default.live.>", "_INBOX.>"]), [
      "es.v1.notify.default.live.>",
      "_INBOX.>",
    ]);
  });
});

describe("a cluster's hub key", () => {
  it("is listed once in a vault account with the vault's whole subject space, so every hub's replica may use it under its own peer id", async () => {
    const operator = createOperator();
    const [cluster, member] = [Identity.generate("cluster"), Identity.generate("member")];
    const claims = decode<Account>(
      await encodeVaultAccountJwt(operator, VAULT_A, { publicKey: cluster.publicKey, cluster: true }, [
        member,
        cluster,
      ]),
    );
    const keys = scopedKeys(claims);
    assert.equal(keys.size, 2);
    assert.deepEqual(keys.get(cluster.accountNkeyPublic)?.template, clusterHubVaultTemplate(VAULT_A));
    assert.deepEqual(keys.get(cluster.accountNkeyPublic)?.template.pub?.allow, [
      `es.v1.vault.${VAULT_A}.>`,
      "_INBOX.>",
    ]);
    assert.deepEqual(keys.get(member.accountNkeyPublic)?.template.pub?.allow, [
      `es.v1.vault.${VAULT_A}.p.*.${member.nkeyPublic}`,
      `es.v1.vault.${VAULT_A}.announce.${member.nkeyPublic}`,
    ]);
  });

  it("hears every hub's reply inboxes in the hub account, since each hub keeps its own inbox prefix", async () => {
    const cluster = Identity.generate("cluster");
    const claims = decode<Account>(
      await encodeHubAccount(createOperator(), { publicKey: cluster.publicKey, cluster: true }, []),
    );
    assert.deepEqual(scopedKeys(claims).get(cluster.accountNkeyPublic)?.template, hubAccountTemplate(ANY_HUB, true));
    assert.ok(hubAccountTemplate(ANY_HUB, true).sub?.allow?.includes("_INBOX.>"));
  });
});
