/**
 * Notify under NATS operator mode on a real nats-server 2.9.10: a real notify service runs as an
 * agent (a `full` signing key of the notify account); followNotifyDevices re-issues and pushes the
 * account whenever its device list changes. A phone pairs through a pairing-only user, then connects
 * with a JWT it issued itself; NATS, not only the service, keeps it to notify subjects, and an
 * unpairing drops its connection.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeUser } from "@nats-io/jwt";
import { createAccount, createUser } from "@nats-io/nkeys";
import { connect, jwtAuthenticator, errors, type NatsConnection, type Status } from "@nats-io/transport-node";
import { Identity } from "../agent/auth/identity.js";
import {
  createOperatorSetup,
  issueAccountUser,
  issueUserJwt,
  operatorModeConfig,
  pushAccountJwt,
  type OperatorSetup,
} from "../agent/auth/nats-jwt.js";
import { sshFingerprint } from "../agent/auth/openssh-format.js";
import { startTestNatsServer, type TestNatsServer } from "../test/helpers/test-nats-server.js";
import { silentLog } from "../agent/sync/ports.js";
import { deviceInboxPrefix } from "../agent/auth/accounts.js";
import {
  encodeNotifyAccount,
  followNotifyDevices,
  notifySigningKeys,
  notifyOnlySubjects,
  pairingSubjects,
  PAIRING_USER_LIMITS,
} from "./nats-auth.js";
import { startNotifyService, type NotifyService } from "./service.js";
import { NotifyClient } from "./client.js";
import { publicKeyFromPeerId } from "./encoding.js";
import { DEFAULT_SET, liveWildcard, syncPrefix } from "../agent/nats/notify-subjects.js";
import type { DeviceRecord } from "./devices.js";

const TIMEOUT_MS = 5_000;
const fingerprintOf = (peer: string) => sshFingerprint(publicKeyFromPeerId(peer) as Uint8Array);

/** The first server error a connection reports (permission violations arrive this way). */
async function nextServerError(nc: NatsConnection): Promise<Error> {
  for await (const s of nc.status() as AsyncIterable<Status>) if (s.type === "error") return s.error;
  throw new Error("status ended without an error");
}

async function refusedSubscription(nc: NatsConnection, subject: string): Promise<Error> {
  const errorSeen = nextServerError(nc);
  const closed = await nc.subscribe(subject).closed;
  return closed instanceof Error ? closed : errorSeen;
}

describe("followNotifyDevices", () => {
  const device = (name: string): DeviceRecord => ({
    v: 1,
    peer: Identity.generate(name).nkeyPublic,
    name,
    kind: "notify",
    addedAt: 1,
    addedBy: "U",
  });

  /** A device list whose changes the test fires by hand. */
  function fakeSource() {
    let devices: DeviceRecord[] = [];
    const listeners = new Set<(d: DeviceRecord[]) => void>();
    return {
      devices: () => devices,
      onDevicesChanged(listener: (d: DeviceRecord[]) => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      set(next: DeviceRecord[]) {
        devices = next;
        for (const l of listeners) l(next);
      },
    };
  }

  it("publishes at start, then once more with the newest list however many changes came during a publish", async () => {
    const source = fakeSource();
    const seen: string[][] = [];
    let release: () => void = () => {};
    const follow = followNotifyDevices(
      source,
      async (devices) => {
        seen.push(devices.map((d) => d.name));
        if (seen.length === 2) await new Promise<void>((r) => (release = r));
      },
      silentLog,
    );
    await follow.idle();
    source.set([device("a")]);
    source.set([device("a"), device("b")]);
    source.set([device("a"), device("b"), device("c")]);
    release();
    await follow.idle();
    assert.deepEqual(seen, [[], ["a"], ["a", "b", "c"]]);
    follow.stop();
    source.set([]);
    await follow.idle();
    assert.equal(seen.length, 3, "nothing after stop()");
  });

  it("logs a failed publish and tries again on the next change", async () => {
    const source = fakeSource();
    const warnings: string[] = [];
    let calls = 0;
    const follow = followNotifyDevices(
      source,
      async () => {
        calls += 1;
        if (calls === 1) throw new Error("push refused");
      },
      { debug() {}, info() {}, warn: (fields) => warnings.push(String((fields as { error?: unknown }).error)) },
    );
    await follow.idle();
    assert.deepEqual(warnings, ["Error: push refused"]);
    source.set([device("a")]);
    await follow.idle();
    assert.equal(calls, 2);
    follow.stop();
  });
});

describe("notify-only rights enforced by NATS (operator mode, real nats-server)", () => {
  const agent = Identity.generate("agent");
  const phone = Identity.generate("phone");
  const account = createAccount();
  let dir: string;
  let setup: OperatorSetup;
  let server: TestNatsServer;
  let system: NatsConnection;
  let agentNc: NatsConnection;
  let service: NotifyService;
  let follow: ReturnType<typeof followNotifyDevices>;
  const pushes: DeviceRecord[][] = [];
  const open: NatsConnection[] = [];

  const connectAs = async (device: Identity) => {
    const { jwt, seed } = await issueUserJwt(device, account.getPublicKey());
    // Each device hears only its own inboxes (deviceInboxPrefix), so its requests must be answered there.
    const nc = await connect({
      servers: server.url,
      authenticator: jwtAuthenticator(jwt, seed),
      reconnect: false,
      timeout: TIMEOUT_MS,
      inboxPrefix: deviceInboxPrefix(device.nkeyPublic),
    });
    open.push(nc);
    return nc;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "es-notify-auth-"));
    setup = await createOperatorSetup("edgesync-notify-test");
    const genesis = await encodeNotifyAccount({
      set: DEFAULT_SET,
      account,
      operator: setup.operator,
      devices: [{ peer: agent.nkeyPublic, kind: "full" }],
    });
    const preload = { [setup.system.getPublicKey()]: setup.systemAccountJwt, [account.getPublicKey()]: genesis };
    server = await startTestNatsServer(
      dir,
      operatorModeConfig({
        operatorJwt: setup.operatorJwt,
        systemAccount: setup.system.getPublicKey(),
        dir: join(dir, "jwt"),
        preload,
      }),
      "notify-operator",
    );
    const sys = await issueAccountUser(setup.system, "sys");
    system = await connect({
      servers: server.url,
      authenticator: jwtAuthenticator(sys.jwt, sys.seed),
      timeout: TIMEOUT_MS,
    });
    agentNc = await connectAs(agent);
    service = await startNotifyService({
      nc: agentNc,
      device: { peerId: agent.nkeyPublic, publicKey: agent.publicKey, sign: (b) => agent.sign(b), name: "agent" },
      homeDir: join(dir, "agent-home"),
      log: silentLog,
    });
    follow = followNotifyDevices(
      service,
      async (devices) => {
        pushes.push(devices);
        await pushAccountJwt(
          system,
          await encodeNotifyAccount({ set: DEFAULT_SET, account, operator: setup.operator, devices }),
          setup.operator.getPublicKey(),
        );
      },
      silentLog,
    );
    await follow.idle();
  });

  after(async () => {
    follow?.stop();
    await service?.stop();
    await Promise.all([...open, system].filter(Boolean).map((nc) => nc.close().catch(() => {})));
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("gives each active device a scoped signing key with its kind's template, none to a revoked one", () => {
    const keys = notifySigningKeys(DEFAULT_SET, [
      { peer: agent.nkeyPublic, kind: "full" },
      { peer: phone.nkeyPublic, kind: "notify" },
      { peer: Identity.generate("gone").nkeyPublic, kind: "notify", revokedAt: 1 },
    ]);
    const byKey = new Map(keys.map((k) => [k.key, k]));
    assert.equal(keys.length, 2);
    assert.deepEqual(byKey.get(phone.accountNkeyPublic)?.template.pub?.allow, notifyOnlySubjects(DEFAULT_SET).publish);
    assert.deepEqual(byKey.get(phone.accountNkeyPublic)?.template.sub?.allow, [
      `es.v1.notify.${DEFAULT_SET}.live.>`,
      `_INBOX.${phone.nkeyPublic}.>`,
    ]);
    assert.deepEqual(byKey.get(agent.accountNkeyPublic)?.template.sub?.allow, [
      `es.v1.notify.${DEFAULT_SET}.>`,
      `_INBOX.${agent.nkeyPublic}.>`,
    ]);
  });

  it("refuses the phone before pairing, pairs it through a pairing-only user, and lets it use notify", async () => {
    await assert.rejects(
      connectAs(phone),
      (e: Error) => e instanceof errors.AuthorizationError,
      "not a signing key yet",
    );
    const issued = await new NotifyClient({
      nc: agentNc,
      signer: { peerId: agent.nkeyPublic, sign: (b) => agent.sign(b) },
      name: "agent",
    }).pair("phone");

    const allowed = pairingSubjects(DEFAULT_SET);
    const pairingUser = createUser();
    const pairingJwt = await encodeUser("pairing", pairingUser, account, {
      pub: { allow: allowed.publish },
      sub: { allow: allowed.subscribe },
      ...PAIRING_USER_LIMITS,
    });
    const pairingNc = await connect({
      servers: server.url,
      authenticator: jwtAuthenticator(pairingJwt, pairingUser.getSeed()),
      reconnect: false,
      timeout: TIMEOUT_MS,
    });
    open.push(pairingNc);
    const phoneSigner = { peerId: phone.nkeyPublic, sign: (b: Uint8Array) => phone.sign(b) };
    const answer = await new NotifyClient({ nc: pairingNc, signer: phoneSigner, name: "phone" }).join(
      issued.token,
      fingerprintOf,
      issued.fp,
    );
    assert.equal(answer.device.kind, "notify");
    const snooping = await refusedSubscription(pairingNc, liveWildcard(DEFAULT_SET));
    assert.ok(snooping instanceof errors.PermissionViolationError, `${snooping}`);

    await follow.idle();
    assert.deepEqual(
      service.notifyKeys().map((k) => k.name),
      ["phone"],
    );
    assert.ok(
      pushes.at(-1)?.some((d) => d.peer === phone.nkeyPublic),
      "the account was re-issued with the phone",
    );
    const phoneNc = await connectAs(phone);
    const client = new NotifyClient({ nc: phoneNc, signer: phoneSigner, name: "phone" });
    const sent = await client.send({ project: "repo", thread: "phone", body: "hello under operator mode" });
    assert.equal(service.store.get(sent.id)?.body, "hello under operator mode");
    assert.equal((await client.log({ project: "repo", thread: "phone" })).length, 1);
  });

  it("keeps the paired phone off vault subjects and off the notify store's sync", async () => {
    const vault = await refusedSubscription(await connectAs(phone), "es.v1.vault.>");
    assert.ok(vault instanceof errors.PermissionViolationError, `${vault}`);
    const sync = await refusedSubscription(await connectAs(phone), `${syncPrefix(DEFAULT_SET)}.>`);
    assert.ok(sync instanceof errors.PermissionViolationError, `${sync}`);
    const nc = await connectAs(phone);
    const errorSeen = nextServerError(nc);
    nc.publish(`es.v1.vault.${"0".repeat(32)}.announce.${phone.nkeyPublic}`, "forged");
    const published = await errorSeen;
    assert.ok(
      published instanceof errors.PermissionViolationError && published.operation === "publish",
      `${published}`,
    );
  });

  it("drops the phone's connection when it is unpaired, and refuses it afterwards", async () => {
    const phoneNc = await connectAs(phone);
    const closed = phoneNc.closed();
    await new NotifyClient({
      nc: agentNc,
      signer: { peerId: agent.nkeyPublic, sign: (b) => agent.sign(b) },
      name: "agent",
    }).unpair("phone");
    await follow.idle();
    assert.deepEqual(service.notifyKeys(), []);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      closed.then(() => "closed"),
      new Promise<string>((r) => (timer = setTimeout(r, 15_000, "still open"))),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, "closed");
    await assert.rejects(connectAs(phone), (e: Error) => e instanceof errors.AuthorizationError);
  });
});
