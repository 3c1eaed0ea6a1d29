import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Identity, PublicDeviceKey } from "./auth/identity.js";
import { routeKeyPin } from "./auth/route-tls.js";
import { PeerMeshError, PeerRoutes, ROUTE_REFUSAL_LOG_INTERVAL_MS, routeRefusal } from "./peer-routes.js";
import type { RouteTls } from "./nats/server-config.js";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

interface Logged {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

function recorder() {
  const lines: Logged[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) =>
    lines.push({ level, fields, message });
  return { lines, log: { debug: at("debug"), info: at("info"), warn: at("warn") } };
}

async function vault(name: string, keys: Identity[]): Promise<{ id: string; root: string }> {
  const root = await mkdtemp(join(tmpdir(), `es-peer-routes-${name}-`));
  dirs.push(root);
  await writeFile(join(root, "authorized_keys"), keys.map((k) => `${k.sshPublicLine()}\n`).join(""));
  return { id: `vault-${name}`, root };
}

async function setup(device: Identity, vaults: { id: string; root: string }[]) {
  const stateDir = await mkdtemp(join(tmpdir(), "es-peer-routes-state-"));
  dirs.push(stateDir);
  const reloads: RouteTls[] = [];
  const { lines, log } = recorder();
  const routes = new PeerRoutes({ stateDir, device, vaults, reload: async (tls) => void reloads.push(tls), log });
  return { routes, reloads, lines, tls: await routes.prepare() };
}

const pins = (...devices: Identity[]) => devices.map((d) => routeKeyPin(d.publicKey)).sort();

describe("peer routes", () => {
  it("trusts its own key and every key of the vault's authorized_keys", async () => {
    const [self, other] = [Identity.generate("self"), Identity.generate("other")];
    const { tls } = await setup(self, [await vault("a", [self, other])]);
    assert.deepEqual([...tls.pins].sort(), pins(self, other));
    assert.equal((await readFile(tls.caFile, "utf8")).match(/BEGIN CERTIFICATE/g)?.length, 2);
  });

  it("routes only with keys that every synced vault authorizes, and says which it left out", async () => {
    const [self, both, onlyA] = [Identity.generate("self"), Identity.generate("both"), Identity.generate("only-a")];
    const { tls, lines } = await setup(self, [await vault("a", [self, both, onlyA]), await vault("b", [both])]);
    assert.deepEqual([...tls.pins].sort(), pins(self, both));
    assert.ok(
      lines.some(
        (l) => l.level === "warn" && l.fields.key === onlyA.fingerprint && /not in every vault/.test(l.message),
      ),
    );
  });

  it("reloads the server when a key is removed and not when the text says the same keys", async () => {
    const [self, other] = [Identity.generate("self"), Identity.generate("other")];
    const a = await vault("a", [self, other]);
    const { routes, reloads, lines } = await setup(self, [a]);
    await routes.update(a.id, `${self.sshPublicLine()}\n${other.sshPublicLine()}\n# same keys, new comment line\n`);
    assert.equal(reloads.length, 0);
    await routes.update(a.id, `${self.sshPublicLine()}\n`);
    assert.equal(reloads.length, 1);
    assert.deepEqual(reloads[0].pins, pins(self));
    assert.ok(lines.some((l) => l.fields.removed === 1));
    await routes.update("another-vault", "");
    assert.equal(reloads.length, 1, "a vault this peer does not sync changes nothing");
  });

  it("refuses a device key held by an ssh-agent, saying what to do", async () => {
    class AgentHeld extends PublicDeviceKey {
      sign(): Uint8Array {
        throw new Error("not used");
      }
    }
    const stateDir = join(await mkdtemp(join(tmpdir(), "es-peer-routes-agent-")), "state");
    dirs.push(stateDir);
    await mkdir(stateDir);
    const device = new AgentHeld(Identity.generate("x").publicKey, "agent");
    assert.throws(
      () => new PeerRoutes({ stateDir, device, vaults: [], reload: async () => {}, log: recorder().log }),
      (error: Error) => error instanceof PeerMeshError && /--identity-agent/.test(error.message),
    );
  });
});

describe("refused routes in the server log", () => {
  const lines = {
    noCertificate:
      "[1] 2026/12/07 03:11:58.088322 [ERR] 127.0.0.1:52066 - rid:6 - TLS route handshake error: tls: client didn't provide a certificate",
    plainText:
      "[1] 2026/12/07 03:11:58.088322 [ERR] 10.0.0.9:52066 - rid:7 - TLS route handshake error: tls: first record does not look like a TLS handshake",
    nameMismatch:
      "[1] 2026/12/07 03:19:22.515443 [ERR] 127.0.0.2:16220 - rid:4 - TLS route handshake error: x509: certificate is valid for 127.0.0.1, ::1, not 127.0.0.2",
    refusedByOther:
      "[1] 2026/12/07 03:19:22.514900 [ERR] 127.0.0.1:47982 - rid:4 - TLS route handshake error: remote error: tls: bad certificate",
    unrelated:
      "[1] 2026/12/07 03:19:22.515798 [INF] 127.0.0.2:16220 - rid:4 - Router connection closed: TLS Handshake Failure",
  };

  it("tells who refused whom", () => {
    assert.equal(routeRefusal(lines.noCertificate)?.reason, "untrusted");
    assert.equal(routeRefusal(lines.plainText)?.reason, "untrusted");
    assert.equal(routeRefusal(lines.nameMismatch)?.reason, "name-mismatch");
    assert.equal(routeRefusal(lines.refusedByOther)?.reason, "refused-by-other");
    assert.equal(routeRefusal(lines.unrelated), undefined);
    assert.equal(routeRefusal(lines.plainText)?.remote, "10.0.0.9:52066");
  });

  it("explains a refusal once per address and interval, naming the upgrade", async () => {
    const self = Identity.generate("self");
    const { routes, lines: logged } = await setup(self, [await vault("a", [self])]);
    const before = logged.length;
    routes.explain(lines.plainText, 1_000);
    routes.explain(lines.plainText.replace(":52066", ":52070"), 2_000);
    routes.explain(lines.noCertificate, 2_000);
    routes.explain(lines.plainText, 1_000 + ROUTE_REFUSAL_LOG_INTERVAL_MS);
    const warnings = logged.slice(before);
    assert.deepEqual(
      warnings.map((w) => w.fields.remote),
      ["10.0.0.9:52066", "127.0.0.1:52066", "10.0.0.9:52066"],
    );
    assert.match(warnings[0].message, /route refused.*upgrade every peer/);
    routes.explain(lines.nameMismatch, 0);
    assert.match(logged.at(-1)?.message ?? "", /--tls-hostname/);
  });
});
