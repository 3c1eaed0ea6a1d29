import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { NatsServerSupervisor } from "./supervisor.js";
import { connectPlainNats } from "./local-connect.js";
import { connectNats, NatsAuthRefusedError } from "./connect.js";
import {
  CREDENTIALS_ENV,
  createLocalCredentials,
  LocalCredentialsError,
  readLocalCredentials,
  removeLocalCredentials,
} from "../auth/local-credentials.js";
import { silentLog } from "../sync/ports.js";

const dirs: string[] = [];
const servers: NatsServerSupervisor[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function home(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "es-local-creds-"));
  dirs.push(dir);
  return join(dir, "home");
}

async function serverFor(publicKey: string): Promise<NatsServerSupervisor> {
  const stateDir = await mkdtemp(join(tmpdir(), "es-local-nats-"));
  dirs.push(stateDir);
  const server = new NatsServerSupervisor({
    role: "peer",
    stateDir,
    serverName: "local",
    client: { host: "127.0.0.1", port: -1 },
    clientNkeys: [publicKey],
  });
  servers.push(server);
  await server.start();
  return server;
}

describe("local credentials", () => {
  it("writes a fresh seed at each start, 0600 in a 0700 folder, even over a folder left open", async () => {
    const h = await home();
    const first = await createLocalCredentials(h, "leaf");
    await chmod(dirname(first.path), 0o755);
    const second = await createLocalCredentials(h, "leaf");
    assert.equal(second.path, first.path);
    assert.notEqual(second.publicKey, first.publicKey);
    assert.equal((await stat(second.path)).mode & 0o777, 0o600);
    assert.equal((await stat(dirname(second.path))).mode & 0o777, 0o700);
    assert.equal((await readLocalCredentials(second.path)).publicKey, second.publicKey);
    await removeLocalCredentials(first); // another start's seed is not ours to remove
    assert.equal((await readLocalCredentials(second.path)).publicKey, second.publicKey);
    await removeLocalCredentials(second);
    await assert.rejects(
      readLocalCredentials(second.path),
      (e: Error) => e instanceof LocalCredentialsError && /ENOENT.*is the agent running/.test(e.message),
    );
  });

  it("refuses a file that holds no user seed, without echoing it", async () => {
    const h = await home();
    const { path } = await createLocalCredentials(h, "peer");
    await writeFile(path, "SAAGNJOZTRPYYXG2NJX3ZNGXYUSDYX2BWO447W3SHG6XQ7U66RWHQ3JUXM\n"); // an account seed
    await assert.rejects(
      readLocalCredentials(path),
      (e: Error) =>
        e instanceof LocalCredentialsError && /not a NATS user seed/.test(e.message) && !e.message.includes("SAAG"),
    );
  });

  it("signs in to a server that admits only that user; without it, one line says how to get in", async () => {
    const credentials = await createLocalCredentials(await home(), "leaf");
    const server = await serverFor(credentials.publicKey);
    await assert.rejects(
      connectNats({ servers: server.clientUrl, name: "t", log: silentLog, timeoutMs: 2_000 }),
      NatsAuthRefusedError,
    );
    const nc = await connectPlainNats({
      servers: server.clientUrl,
      name: "t",
      log: silentLog,
      timeoutMs: 5_000,
      credentialsFile: credentials.path,
    });
    await nc.flush();
    await nc.close();
    const saved = process.env[CREDENTIALS_ENV];
    delete process.env[CREDENTIALS_ENV];
    try {
      await assert.rejects(
        connectPlainNats({ servers: server.clientUrl, name: "t", log: silentLog, timeoutMs: 2_000 }),
        (e: Error) =>
          e instanceof LocalCredentialsError && /wants credentials: .*EDGESYNC_NATS_CREDENTIALS/.test(e.message),
      );
      const other = await createLocalCredentials(await home(), "leaf");
      process.env[CREDENTIALS_ENV] = other.path;
      await assert.rejects(
        connectPlainNats({
          servers: server.clientUrl,
          name: "t",
          log: silentLog,
          timeoutMs: 2_000,
          credentialsFile: credentials.path,
        }),
        (e: Error) =>
          e instanceof LocalCredentialsError && e.message.includes(`refused the credentials in ${other.path}`),
      );
    } finally {
      if (saved === undefined) delete process.env[CREDENTIALS_ENV];
      else process.env[CREDENTIALS_ENV] = saved;
    }
  });
});
