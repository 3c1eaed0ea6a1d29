/**
 * Attackers for the notify security tests, written without the project's client code: a user JWT
 * made by hand with @nats-io/jwt (the attacker's device key signs as a scoped signing key of the hub
 * account, which is exactly what a stolen or a legitimately held key can do), a plain
 * @nats-io/transport-node connection, and a stock nats-server leaf from a hand-written config.
 *
 * `listen(subject)` subscribes and reports what the server did: refused (a permissions violation)
 * or accepted, and every message that reached the subscription.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { encodeUser, fmtCreds } from "@nats-io/jwt";
import { createUser, Prefix } from "@nats-io/nkeys";
import {
  connect,
  jwtAuthenticator,
  type ConnectionOptions,
  type NatsConnection,
  type Status,
} from "@nats-io/transport-node";
import type { Identity } from "../../agent/auth/identity.js";
import { waitFor } from "./wait.js";
import { stopNatsServer } from "./test-nats-server.js";
import { readPortsFile } from "./ports-file.js";

/** How long one PING/PONG round trip may take before the server is taken as not answering. */
const ROUND_TRIP_TIMEOUT_MS = 10_000;

/** The hub account's public key, derived as the hub derives it (a label hashed; nobody holds its seed). */
export { HUB_ACCOUNT_PUBLIC } from "../../agent/auth/accounts.js";

export interface Heard {
  subject: string;
  refused?: string;
  messages: { subject: string; text: string }[];
}

/** A user JWT for `account`, signed by `key` acting as one of the account's signing keys. */
export async function handMadeUser(
  key: Identity,
  account: string,
  name = "attacker",
): Promise<{ jwt: string; seed: Uint8Array; creds: string }> {
  const user = createUser();
  const jwt = await encodeUser(name, user, account, {}, { signer: key.natsKeyPair(Prefix.Account), scopedUser: true });
  return { jwt, seed: user.getSeed(), creds: new TextDecoder().decode(fmtCreds(jwt, user)) };
}

export class RawClient {
  readonly #errors: string[] = [];
  private constructor(readonly nc: NatsConnection) {
    void (async () => {
      for await (const s of nc.status() as AsyncIterable<Status>)
        if (s.type === "error") this.#errors.push(String(s.error?.message ?? s.error));
    })();
  }

  static async hub(url: string, tls: ConnectionOptions["tls"], key: Identity, account: string): Promise<RawClient> {
    const { jwt, seed } = await handMadeUser(key, account);
    return new RawClient(
      await connect({
        servers: url,
        tls,
        authenticator: jwtAuthenticator(jwt, seed),
        reconnect: false,
        timeout: 5_000,
      }),
    );
  }

  static async plain(url: string): Promise<RawClient> {
    return new RawClient(await connect({ servers: url, reconnect: false, timeout: 5_000 }));
  }

  /** Server errors seen so far (permission violations on publish arrive only this way). */
  get errors(): string[] {
    return [...this.#errors];
  }

  /** Subscribes; after a round trip says whether the server refused it. Messages keep arriving into the result. */
  async listen(subject: string): Promise<Heard> {
    const heard: Heard = { subject, messages: [] };
    const sub = this.nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) heard.refused = String(error.message);
        else heard.messages.push({ subject: msg.subject, text: new TextDecoder().decode(msg.data) });
      },
    });
    void sub.closed.then((r) => {
      if (r instanceof Error) heard.refused = r.message;
    });
    // The violation is sent after the server processed SUB; a second round trip has seen it.
    for (let i = 0; i < 2 && heard.refused === undefined; i++) {
      const outcome = await this.#roundTrip();
      if (outcome !== "answered") heard.refused ??= outcome;
    }
    return heard;
  }

  /**
   * One PING/PONG, bounded: the server may close the connection meanwhile (a key just removed),
   * and a flush pending on a closed connection is not always settled.
   */
  async #roundTrip(): Promise<"answered" | string> {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.nc.flush().then(
        () => "answered",
        (error: unknown) => `round trip failed: ${String(error)}`,
      ),
      this.nc.closed().then((error) => `connection closed by the server${error ? `: ${error.message}` : ""}`),
      new Promise<string>((r) => (timer = setTimeout(r, ROUND_TRIP_TIMEOUT_MS, "no answer to PING"))),
    ]);
    clearTimeout(timer);
    return outcome;
  }

  close(): Promise<void> {
    return this.nc.close().catch(() => {});
  }
}

/** A stock nats-server whose only leafnode remote logs into `account` on the hub with a hand-made JWT. */
export async function stockLeaf(
  dir: string,
  hubLeafUrl: string,
  hubCaFile: string,
  key: Identity,
  account: string,
): Promise<{ url: string; process: ChildProcess; log(): string; stop(): Promise<void> }> {
  const { creds } = await handMadeUser(key, account, "stock-leaf");
  await writeFile(join(dir, "leaf.creds"), creds, { mode: 0o600 });
  const url = hubLeafUrl.replace(/^nats-leaf:/, "tls:");
  await writeFile(
    join(dir, "leaf.conf"),
    [
      "host: 127.0.0.1",
      "port: -1",
      `ports_file_dir: ${JSON.stringify(dir)}`,
      `leafnodes { reconnect: 1, remotes: [ { url: ${JSON.stringify(url)}, credentials: ${JSON.stringify(join(dir, "leaf.creds"))}, tls { ca_file: ${JSON.stringify(hubCaFile)} } } ] }`,
    ].join("\n"),
  );
  const child = spawn("/usr/sbin/nats-server", ["-c", join(dir, "leaf.conf")], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (c: Buffer) => (log += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
  let clientUrl = "";
  const stop = () => stopNatsServer(child);
  try {
    await waitFor(
      "the stock leaf to listen and link to the hub",
      async () => {
        clientUrl = (await readPortsFile(dir, () => true))?.nats?.[0] ?? "";
        return clientUrl !== "" && /Leafnode connection created/.test(log);
      },
      20_000,
      () => log,
    );
  } catch (error) {
    // A server left running would keep the test process alive long after the failure is reported.
    await stop();
    throw error;
  }
  return {
    url: clientUrl,
    process: child,
    log: () => log,
    stop,
  };
}
