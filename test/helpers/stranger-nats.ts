/**
 * An attacker's tools for the peer-mesh tests, written without the project's code: a stock
 * nats-server started from a hand-written config that routes into a mesh, a raw-protocol NATS
 * client that subscribes to everything, and a self-signed ed25519 certificate made by openssl.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { waitFor } from "./wait.js";
import { stopNatsServer } from "./test-nats-server.js";
import { readPortsFile } from "./ports-file.js";

export interface StrangerServer {
  clientPort: number;
  /** Everything the server printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface StrangerOptions {
  /** `nats-route://…` of the mesh member it dials. */
  routeTo: string;
  /** Its own certificate; without one it routes in plain text, as a stock config does. */
  tls?: { certFile: string; keyFile: string };
  /** Cluster name; the mesh's default is public knowledge. */
  clusterName?: string;
}

export function natsServerPath(): string {
  const found = spawnSync("sh", ["-c", "command -v nats-server || ls /usr/sbin/nats-server"], { encoding: "utf8" })
    .stdout.trim()
    .split("\n")[0];
  if (!found) throw new Error("nats-server is needed for this test: install it (apt-get install nats-server)");
  return found;
}

/** Starts `nats-server -c <hand-written config>` in `dir`, with ephemeral loopback ports. */
export async function startStrangerServer(dir: string, options: StrangerOptions): Promise<StrangerServer> {
  // `insecure`: a stranger does not care who answers; it only wants to be let in.
  const tls = options.tls
    ? `\n  tls { cert_file: "${options.tls.certFile}", key_file: "${options.tls.keyFile}", insecure: true, timeout: 5 }`
    : "";
  const config = `server_name: "stranger-${process.pid}-${Date.now()}"
host: "127.0.0.1"
port: -1
ports_file_dir: "${dir}"
cluster {
  name: "${options.clusterName ?? "edgesync"}"
  host: "127.0.0.1"
  port: -1
  routes: ["${options.routeTo}"]${tls}
}
`;
  await writeFile(join(dir, "stranger.conf"), config);
  const child: ChildProcess = spawn(natsServerPath(), ["-c", join(dir, "stranger.conf")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  for (const stream of [child.stdout, child.stderr])
    stream?.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-100_000)));
  let clientPort = 0;
  const stop = () => stopNatsServer(child);
  try {
    await waitFor(
      "the stranger's nats-server to be ready",
      async () => {
        if (child.exitCode !== null) throw new Error(`stranger nats-server exited ${child.exitCode}:\n${output}`);
        const ports = await readPortsFile(dir, (name) => name.endsWith(`_${child.pid}.ports`));
        clientPort = Number(/:(\d+)$/.exec(ports?.nats?.[0] ?? "")?.[1] ?? 0);
        return clientPort > 0;
      },
      15_000,
      () => output,
    );
  } catch (error) {
    // A server left running would keep the test process alive long after the failure is reported.
    await stop();
    throw error;
  }
  return {
    clientPort,
    output: () => output,
    stop,
  };
}

export interface RawSubscriber {
  /** Subjects of every MSG received so far, in order. */
  subjects: string[];
  /** Publishes through the same connection (to prove the subscription works). */
  publish(subject: string, payload: string): void;
  close(): void;
}

/** A raw NATS client on 127.0.0.1:`port` with `SUB >`; answers PING, records MSG subjects. */
export async function subscribeEverything(port: number): Promise<RawSubscriber> {
  const socket: Socket = connect(port, "127.0.0.1");
  const subjects: string[] = [];
  let buffer = Buffer.alloc(0);
  let ready: () => void = () => {};
  const pong = new Promise<void>((r) => (ready = r));
  socket.on("error", () => {});
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf("\r\n");
      if (end < 0) return;
      const line = buffer.subarray(0, end).toString();
      if (line.startsWith("MSG ")) {
        const parts = line.split(" ");
        const size = Number(parts[parts.length - 1]);
        if (buffer.length < end + 2 + size + 2) return;
        subjects.push(parts[1]);
        buffer = buffer.subarray(end + 2 + size + 2);
        continue;
      }
      buffer = buffer.subarray(end + 2);
      if (line === "PING") socket.write("PONG\r\n");
      else if (line === "PONG") ready();
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write('CONNECT {"verbose":false,"pedantic":false,"name":"stranger"}\r\nSUB > 1\r\nPING\r\n');
  await pong;
  return {
    subjects,
    publish: (subject, payload) => socket.write(`PUB ${subject} ${Buffer.byteLength(payload)}\r\n${payload}\r\n`),
    close: () => socket.destroy(),
  };
}

/** A self-signed ed25519 certificate from openssl, with the subject and issuer name given (`/CN=…`). */
export function opensslSelfSigned(dir: string, subject: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, "stranger.crt");
  const keyFile = join(dir, "stranger.key");
  const made = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ed25519",
      "-nodes",
      "-days",
      "2",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-subj",
      subject,
      "-addext",
      "extendedKeyUsage=serverAuth,clientAuth",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { encoding: "utf8" },
  );
  if (made.error || made.status !== 0)
    throw new Error(`openssl is needed for this test: ${made.error?.message ?? made.stderr}`);
  return { certFile, keyFile };
}
