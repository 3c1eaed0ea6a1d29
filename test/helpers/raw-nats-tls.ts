/**
 * An attacker's NATS client, written by hand: a TCP socket that reads the server's INFO, upgrades
 * to TLS (nats-server 2.9 sends INFO before TLS), sends CONNECT with whatever JWT and nonce
 * signature it was given, and then speaks raw protocol lines. It keeps every `-ERR` line and every
 * message it is delivered, so a test can assert on exactly what the server let through. It shares
 * no code with the project's own NATS client.
 */
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";

export interface RawMessage {
  subject: string;
  sid: string;
  reply?: string;
  data: string;
}

export interface RawConnectOptions {
  host: string;
  port: number;
  /** The hub's certificate (PEM): the only one trusted. */
  caPem: string;
  /** Builds the CONNECT fields from the server's nonce (jwt, sig, user, pass …). */
  auth: (nonce: string) => Record<string, unknown>;
  /** Connect as a leafnode (`LS+`, `LMSG`) instead of a client. */
  leaf?: boolean;
  timeoutMs?: number;
}

const CRLF = "\r\n";

export class RawNatsClient {
  readonly errors: string[] = [];
  readonly messages: RawMessage[] = [];
  readonly info: Record<string, unknown>;
  #buffer: Buffer = Buffer.alloc(0);
  #pongs = 0;
  #closed = false;
  readonly #socket: TLSSocket;

  private constructor(socket: TLSSocket, info: Record<string, unknown>) {
    this.#socket = socket;
    this.info = info;
    socket.on("data", (chunk: Buffer) => this.#read(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#closed = true;
    });
  }

  static async connect(options: RawConnectOptions): Promise<RawNatsClient> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const tcp = tcpConnect(options.port, options.host);
    const infoLine = await firstLine(tcp, timeoutMs);
    const info = JSON.parse(infoLine.replace(/^INFO /, "")) as Record<string, unknown>;
    tcp.removeAllListeners("data");
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: tcp, ca: options.caPem, checkServerIdentity: () => undefined }, () => resolve(s));
      s.once("error", reject);
    });
    const client = new RawNatsClient(socket, info);
    // A leafnode's CONNECT carries no "lang": that is how the server tells a client on the wrong port.
    const identity = options.leaf ? { hub: false } : { lang: "raw", version: "0.0.0", protocol: 1 };
    const fields = {
      verbose: false,
      pedantic: false,
      tls_required: true,
      name: "raw-attacker",
      headers: true,
      ...identity,
      ...options.auth(String(info.nonce ?? "")),
    };
    client.write(`CONNECT ${JSON.stringify(fields)}`);
    await client.ping(timeoutMs);
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(line: string): void {
    if (!this.#closed) this.#socket.write(line + CRLF);
  }

  sub(subject: string, sid: string): void {
    this.write(`SUB ${subject} ${sid}`);
  }

  pub(subject: string, data: Uint8Array | string, reply?: string): void {
    const bytes = Buffer.from(data);
    this.#socket.write(`PUB ${subject}${reply ? ` ${reply}` : ""} ${bytes.length}${CRLF}`);
    this.#socket.write(Buffer.concat([bytes, Buffer.from(CRLF)]));
  }

  /** Resolves once the server answered a PING sent now: everything before it has been processed. */
  async ping(timeoutMs = 5_000): Promise<void> {
    const want = this.#pongs + 1;
    this.write("PING");
    const deadline = Date.now() + timeoutMs;
    while (this.#pongs < want) {
      if (this.#closed)
        throw new Error(`the server closed the connection: ${this.errors.join(" | ") || "no error line"}`);
      if (Date.now() > deadline) throw new Error("no PONG from the server");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.#socket.destroy();
  }

  #read(chunk: Buffer): void {
    if (process.env.RAW_NATS_DEBUG)
      process.stderr.write(`raw<< ${JSON.stringify(chunk.toString("utf8").slice(0, 400))}\n`);
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const end = this.#buffer.indexOf(CRLF);
      if (end < 0) return;
      const line = this.#buffer.subarray(0, end).toString("utf8");
      const [op, ...args] = line.split(" ");
      if (op === "MSG" || op === "LMSG" || op === "HMSG") {
        // Payload sizes count bytes (sync traffic is binary): the buffer stays bytes until a frame is whole.
        const size = Number(args[args.length - 1]);
        if (this.#buffer.length < end + 2 + size + 2) return;
        const body = this.#buffer.subarray(end + 2, end + 2 + size);
        const headerBytes = op === "HMSG" ? Number(args[args.length - 2]) : 0;
        const lead = op === "HMSG" ? args.slice(0, -2) : args.slice(0, -1);
        const [subject, sid, reply] = op === "LMSG" ? [lead[0], "", lead[1]] : lead;
        this.messages.push({
          subject,
          sid,
          ...(reply ? { reply } : {}),
          data: body.subarray(headerBytes).toString("utf8"),
        });
        this.#buffer = this.#buffer.subarray(end + 2 + size + 2);
        continue;
      }
      this.#buffer = this.#buffer.subarray(end + 2);
      if (op === "PING") this.write("PONG");
      else if (op === "PONG") this.#pongs++;
      else if (op === "-ERR") this.errors.push(line);
    }
  }
}

function firstLine(socket: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error("no INFO from the server")), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const end = text.indexOf(CRLF);
      if (end >= 0) {
        clearTimeout(timer);
        resolve(text.slice(0, end));
      }
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
