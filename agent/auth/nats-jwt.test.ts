import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, type Account } from "@nats-io/jwt";
import { createAccount, type KeyPair } from "@nats-io/nkeys";
import {
  connect,
  credsAuthenticator,
  jwtAuthenticator,
  errors,
  type NatsConnection,
  type Status,
} from "@nats-io/transport-node";
import { Identity, type DeviceKey } from "./identity.js";
import {
  ACCOUNT_JWT_BYTES_MAX,
  CLAIMS_UPDATE_SUBJECT,
  createOperatorSetup,
  formatCreds,
  pushAccountJwt,
  encodeVaultAccount,
  issueAccountUser,
  issueUserJwt,
  operatorModeConfig,
  parseClaimsUpdateReply,
  JwtError,
  type OperatorSetup,
  type TemplateMode,
} from "./nats-jwt.js";
import { startTestNatsServer, type TestNatsServer } from "../../test/helpers/test-nats-server.js";
import {
  vaultAnnounceSubject,
  vaultAnnounceWildcard,
  vaultInboxWildcard,
  vaultPeerSubject,
  vaultSubjects,
} from "../nats/subjects.js";

const TIMEOUT_MS = 5_000;
const REVOCATION_TRIALS = 10;
const utf8 = (s: string) => new TextEncoder().encode(s);

interface Vault {
  id: string;
  account: KeyPair;
  mode: TemplateMode;
}

describe("NATS operator mode: authorized keys as scoped signing keys (real nats-server)", () => {
  let setup: OperatorSetup;
  let server: TestNatsServer;
  let system: NatsConnection;
  const open: NatsConnection[] = [];
  const alice = Identity.generate("alice");
  const carol = Identity.generate("carol");
  const bob = Identity.generate("bob");
  const mallory = Identity.generate("mallory");
  const vaultA: Vault = { id: randomUUID(), account: createAccount(), mode: "device" };
  const vaultB: Vault = { id: randomUUID(), account: createAccount(), mode: "device" };
  const vaultT: Vault = { id: randomUUID(), account: createAccount(), mode: "subject" };

  const accountJwt = (vault: Vault, keys: { publicKey: Uint8Array }[]) =>
    encodeVaultAccount({
      vaultId: vault.id,
      name: `vault ${vault.id.slice(0, 8)}`,
      account: vault.account,
      operator: setup.operator,
      keys,
      templateMode: vault.mode,
    });

  async function connectAs(device: DeviceKey, vault: Vault): Promise<NatsConnection> {
    const { jwt, seed } = await issueUserJwt(device, vault.account.getPublicKey());
    const nc = await connect({
      servers: server.url,
      authenticator: jwtAuthenticator(jwt, seed),
      reconnect: false,
      timeout: TIMEOUT_MS,
    });
    open.push(nc);
    return nc;
  }

  async function push(jwt: string): Promise<void> {
    await pushAccountJwt(system, jwt, setup.operator.getPublicKey());
  }

  /** The first server error a connection reports (permission violations arrive this way). */
  async function nextServerError(nc: NatsConnection): Promise<Error> {
    for await (const s of nc.status() as AsyncIterable<Status>) if (s.type === "error") return s.error;
    throw new Error("status ended without an error");
  }

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "es-jwt-"));
    setup = await createOperatorSetup("edgesync-test");
    const preload = {
      [setup.system.getPublicKey()]: setup.systemAccountJwt,
      [vaultA.account.getPublicKey()]: await accountJwt(vaultA, [alice, carol]),
      [vaultB.account.getPublicKey()]: await accountJwt(vaultB, [bob]),
      [vaultT.account.getPublicKey()]: await accountJwt(vaultT, [alice, carol]),
    };
    server = await startTestNatsServer(
      dir,
      operatorModeConfig({
        operatorJwt: setup.operatorJwt,
        systemAccount: setup.system.getPublicKey(),
        dir: join(dir, "jwt"),
        preload,
      }),
      "operator",
    );
    const sys = await issueAccountUser(setup.system, "sys");
    system = await connect({
      servers: server.url,
      authenticator: jwtAuthenticator(sys.jwt, sys.seed),
      timeout: TIMEOUT_MS,
    });
  });

  after(async () => {
    await Promise.all([...open, system].filter(Boolean).map((nc) => nc.close().catch(() => {})));
    await server?.stop();
  });

  it("issues a user JWT that carries no permissions, names the vault account and is signed by the device", async () => {
    const { jwt, subject } = await issueUserJwt(alice, vaultA.account.getPublicKey(), {
      nowMs: 1_700_000_000_000,
      lifetimeS: 60,
    });
    const claims = decode<Record<string, unknown>>(jwt);
    assert.equal(claims.iss, alice.accountNkeyPublic);
    assert.equal(claims.sub, alice.nkeyPublic);
    assert.equal(subject, alice.nkeyPublic);
    assert.equal(claims.exp, 1_700_000_060);
    assert.deepEqual(claims.nats, { issuer_account: vaultA.account.getPublicKey(), type: "user", version: 2 });
    const account = decode<Account>(await accountJwt(vaultA, [alice]));
    assert.deepEqual(account.nats.limits, {
      subs: -1,
      data: -1,
      payload: -1,
      imports: -1,
      exports: -1,
      wildcards: true,
      conn: -1,
      leaf: -1,
    });
  });

  it("lets authorised devices talk on their vault's subjects with self-issued JWTs", async () => {
    const a = await connectAs(alice, vaultA);
    const c = await connectAs(carol, vaultA);
    const inbox = a.subscribe(vaultInboxWildcard(vaultA.id, alice.nkeyPublic), { max: 1 });
    const announces = a.subscribe(vaultAnnounceWildcard(vaultA.id), { max: 1 });
    await a.flush();
    c.publish(vaultPeerSubject(vaultA.id, alice.nkeyPublic, carol.nkeyPublic), "sync");
    c.publish(vaultAnnounceSubject(vaultA.id, carol.nkeyPublic), "heads");
    for await (const m of inbox) assert.equal(m.string(), "sync");
    for await (const m of announces) assert.equal(m.string(), "heads");
  });

  it("refuses a key that is not a signing key of the account with an authorization error", async () => {
    await assert.rejects(
      connectAs(mallory, vaultA),
      (e: Error) => e instanceof errors.AuthorizationError,
      "an unknown key",
    );
    await assert.rejects(
      connectAs(bob, vaultA),
      (e: Error) => e instanceof errors.AuthorizationError,
      "a key authorised on another vault",
    );
  });

  it("refuses a device's subscription to another vault's subjects (permission violation)", async () => {
    const a = await connectAs(alice, vaultA);
    const errorSeen = nextServerError(a);
    const sub = a.subscribe(vaultSubjects(vaultB.id));
    const closed = await sub.closed;
    const error = closed instanceof Error ? closed : await errorSeen;
    assert.ok(error instanceof errors.PermissionViolationError, `${error}`);
    assert.equal(error.operation, "subscription");
  });

  it("refuses a device's publish as another device (the sender token is pinned to its key)", async () => {
    const a = await connectAs(alice, vaultA);
    const errorSeen = nextServerError(a);
    a.publish(vaultPeerSubject(vaultA.id, carol.nkeyPublic, bob.nkeyPublic), "forged");
    const error = await errorSeen;
    assert.ok(error instanceof errors.PermissionViolationError, `${error}`);
    assert.equal(error.operation, "publish");
  });

  it("applies {{subject()}} templates on this nats-server (the alternative template mode)", async () => {
    const a = await connectAs(alice, vaultT);
    const c = await connectAs(carol, vaultT);
    const inbox = a.subscribe(vaultInboxWildcard(vaultT.id, alice.nkeyPublic), { max: 1 });
    await a.flush();
    c.publish(vaultPeerSubject(vaultT.id, alice.nkeyPublic, carol.nkeyPublic), "templated");
    for await (const m of inbox) assert.equal(m.string(), "templated");
    const errorSeen = nextServerError(c);
    c.publish(vaultPeerSubject(vaultT.id, alice.nkeyPublic, bob.nkeyPublic), "forged");
    assert.ok((await errorSeen) instanceof errors.PermissionViolationError);
  });

  it("accepts a JWT signed asynchronously (as through an ssh-agent) for an ephemeral user key", async () => {
    const viaAgent: DeviceKey = {
      publicKey: alice.publicKey,
      comment: alice.comment,
      fingerprint: alice.fingerprint,
      nkeyPublic: alice.nkeyPublic,
      accountNkeyPublic: alice.accountNkeyPublic,
      sshPublicLine: (c) => alice.sshPublicLine(c),
      verify: (s, m) => alice.verify(s, m),
      sign: async (m) => alice.sign(m),
    };
    const { jwt, seed, subject } = await issueUserJwt(viaAgent, vaultA.account.getPublicKey());
    assert.notEqual(subject, alice.nkeyPublic, "the nonce is signed by an ephemeral key, not the device key");
    const a = await connect({
      servers: server.url,
      authenticator: jwtAuthenticator(jwt, seed),
      reconnect: false,
      timeout: TIMEOUT_MS,
    });
    open.push(a);
    // The permissions still follow the device key that signed: its own inbox, as alice.
    const c = await connectAs(carol, vaultA);
    const inbox = a.subscribe(vaultInboxWildcard(vaultA.id, alice.nkeyPublic), { max: 1 });
    await a.flush();
    c.publish(vaultPeerSubject(vaultA.id, alice.nkeyPublic, carol.nkeyPublic), "to the agent-held key");
    for await (const m of inbox) assert.equal(m.string(), "to the agent-held key");
  });

  it("writes creds files a nats client (or a leafnode remote) authenticates with", async () => {
    const creds = formatCreds(await issueUserJwt(carol, vaultA.account.getPublicKey()));
    const nc = await connect({
      servers: server.url,
      authenticator: credsAuthenticator(utf8(creds)),
      reconnect: false,
      timeout: TIMEOUT_MS,
    });
    open.push(nc);
    await nc.flush();
  });

  it("never pushes an account JWT signed by another operator (2.9.10 answers 'updated' and locks the account)", async () => {
    const rogue = await createOperatorSetup("rogue");
    const forged = await encodeVaultAccount({
      vaultId: vaultB.id,
      name: "forged",
      account: vaultB.account,
      operator: rogue.operator,
      keys: [mallory],
    });
    await assert.rejects(
      push(forged),
      (e: Error) => e instanceof JwtError && /signed by O[A-Z2-7]+, not by this hub's operator/.test(e.message),
    );
    await assert.rejects(pushAccountJwt(system, "not.a.jwt", setup.operator.getPublicKey()), JwtError);
    // What the guard prevents, shown on this server: the reply claims success, the intruder gets
    // nothing, but the account's own devices are locked out until a good JWT is pushed again.
    const reply = await system.request(CLAIMS_UPDATE_SUBJECT, utf8(forged), { timeout: TIMEOUT_MS });
    assert.equal(parseClaimsUpdateReply(reply.string()).message, "jwt updated");
    await assert.rejects(connectAs(mallory, vaultB), (e: Error) => e instanceof errors.AuthorizationError);
    await assert.rejects(connectAs(bob, vaultB), (e: Error) => e instanceof errors.AuthorizationError);
    await push(await accountJwt(vaultB, [bob]));
    await (await connectAs(bob, vaultB)).flush();
  });

  it("reads the server's refusal of a claims update as a typed error", () => {
    assert.throws(
      () => parseClaimsUpdateReply(JSON.stringify({ error: { code: 500, description: "jwt validation failed" } })),
      /refused the account update: jwt validation failed/,
    );
    assert.throws(() => parseClaimsUpdateReply("<html>"), /not JSON/);
    assert.deepEqual(
      parseClaimsUpdateReply(JSON.stringify({ data: { account: "A", code: 200, message: "jwt updated" } })),
      { account: "A", message: "jwt updated" },
    );
  });

  it("drops a device whose key is removed, within milliseconds of the pushed account JWT; others stay", async (t) => {
    const c = await connectAs(carol, vaultA);
    const times: number[] = [];
    const replies: number[] = [];
    for (let trial = 0; trial < REVOCATION_TRIALS; trial++) {
      const a = await connectAs(alice, vaultA);
      const closed = a.closed();
      const without = await accountJwt(vaultA, [carol]);
      const started = performance.now();
      await push(without);
      replies.push(performance.now() - started);
      const reason = await closed;
      times.push(performance.now() - started);
      if (trial === 0)
        t.diagnostic(
          `the dropped client was told: ${reason instanceof Error ? `${reason.name}: ${reason.message}` : "nothing"}`,
        );
      await assert.rejects(
        connectAs(alice, vaultA),
        (e: Error) => e instanceof errors.AuthorizationError,
        "cannot reconnect",
      );
      await push(await accountJwt(vaultA, [alice, carol]));
    }
    assert.equal(c.isClosed(), false, "carol, still authorised, keeps her connection");
    await c.flush();
    await (await connectAs(alice, vaultA)).flush();
    const stats = (xs: number[]) => {
      const sorted = [...xs].sort((x, y) => x - y);
      return { p50: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
    };
    const { p50, max } = stats(times);
    t.diagnostic(
      `revocation (push → connection closed) over ${REVOCATION_TRIALS} trials: p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms; ` +
        `the server's reply to the push alone: p50 ${stats(replies).p50.toFixed(1)} ms, max ${stats(replies).max.toFixed(1)} ms`,
    );
    assert.ok(max < 5_000, `revocation took ${max} ms`);
  });

  it("refuses an account JWT that would not fit in one NATS message, saying how many keys it held", async (t) => {
    const keys = (n: number) => Array.from({ length: n }, () => ({ publicKey: new Uint8Array(randomBytes(32)) }));
    const one = (await accountJwt(vaultA, keys(1))).length;
    const hundred = (await accountJwt(vaultA, keys(101))).length;
    const perKey = (hundred - one) / 100;
    const fits = Math.floor((ACCOUNT_JWT_BYTES_MAX - one) / perKey);
    t.diagnostic(
      `account JWT: ${one} bytes with one key, ${perKey.toFixed(0)} bytes per key: about ${fits} devices fit in ${ACCOUNT_JWT_BYTES_MAX} bytes`,
    );
    await assert.rejects(
      accountJwt(vaultA, keys(fits + 50)),
      (e: Error) => e instanceof JwtError && /over the 1048576-byte limit/.test(e.message),
    );
  });
});
