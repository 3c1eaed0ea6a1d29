/**
 * A hand-written WebSocket attacker over raw TLS (or TCP) sockets: the upgrade request and the
 * frames are written byte by byte, so it can send what no well-behaved client library would —
 * unmasked, truncated, oversized or reserved-opcode frames, garbage instead of HTTP.
 */
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { connect as netConnect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";

export interface RawTarget {
  host: string;
  port: number;
  tls: boolean;
  /** The local address to connect from (any 127.x.y.z works on Linux loopback). */
  localAddress?: string;
}

export function openRaw(target: RawTarget): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const options = { host: target.host, port: target.port, localAddress: target.localAddress };
    const socket = target.tls
      ? tlsConnect({ ...options, rejectUnauthorized: false }, () => resolve(socket))
      : netConnect(options, () => resolve(socket));
    socket.once("error", reject);
  });
}

export const upgradeRequest = (path: string, extraHeaders = "") =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`;

export interface FrameOptions {
  fin?: boolean;
  /** Clients must mask; an unmasked frame is a protocol error the server must survive. */
  mask?: boolean;
  /** Announce this many payload bytes whatever `payload` holds (truncated or lying frames). */
  declaredLength?: number;
}

/** One WebSocket frame: opcode 1 text, 2 binary, 8 close, 3-7 and 11-15 reserved. */
export function frame(opcode: number, payload: Buffer, options: FrameOptions = {}): Buffer {
  const mask = options.mask ?? true;
  const length = options.declaredLength ?? payload.length;
  const head: number[] = [((options.fin ?? true) ? 0x80 : 0) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else if (length < 65536) head.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    head.push(maskBit | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    head.push(...big);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i % 4];
  return Buffer.concat([Buffer.from(head), key, body]);
}

/**
 * Writes `before` (an upgrade request, garbage…), waits for the end of the server's response
 * headers (or its close), writes each of `after`, and resolves with everything the server sent
 * once it closes (or after `waitMs`, then destroys the socket).
 */
export async function attack(
  target: RawTarget,
  before: Buffer | string,
  after: Buffer[] = [],
  waitMs = 3_000,
): Promise<string> {
  let socket: Socket | TLSSocket;
  try {
    socket = await openRaw(target);
  } catch (error) {
    return `connect failed: ${(error as Error).message}`;
  }
  let received = Buffer.alloc(0);
  let closed = false;
  const ended = new Promise<void>((resolve) => socket.once("close", () => ((closed = true), resolve())));
  socket.on("error", () => {});
  socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  socket.write(before);
  if (after.length > 0) {
    const deadline = Date.now() + waitMs;
    while (!closed && !received.includes("\r\n\r\n") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    for (const bytes of after) if (!closed) socket.write(bytes);
  }
  const timer = new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref());
  await Promise.race([ended, timer]);
  socket.destroy();
  return received.toString("latin1");
}
