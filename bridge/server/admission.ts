/**
 * Who may hold a socket on the bridge before proving a key. Every TCP connection counts as
 * unauthenticated from accept until its peer has proved an authorised key; those are limited per
 * source address and in total, and cut after a short timeout. Authenticated peers are counted
 * apart (BridgeLimits.connectionsMax), so no number of strangers can take a member's place: when
 * the unauthenticated pool is full, a newcomer evicts the oldest socket of the address holding
 * the most, and a member's single handshake is the last thing to go.
 */
import type { Socket } from "node:net";

/**
 * A household or office behind one NAT opens a few tabs and scripts at once, and a handshake
 * lasts well under a second: more unauthenticated sockets than this from one address is a flood.
 */
export const PRE_AUTH_PER_ADDRESS_MAX = 8;
/** All unauthenticated sockets together, so a flood from many addresses cannot exhaust file descriptors. */
export const PRE_AUTH_SOCKETS_MAX = 128;
/**
 * From TCP accept to a proven key: a TLS handshake, two round trips, two signatures and a NATS
 * connect fit in this many times over on a slow phone link, or on a busy two-core hub under a
 * flood; a socket that has not made it is idle. The per-address and total limits, not this
 * timeout, are what keep a flood from crowding members out, so it can afford to be generous.
 */
export const PRE_AUTH_TIMEOUT_MS = 10_000;

export interface AdmissionLimits {
  preAuthPerAddressMax: number;
  preAuthSocketsMax: number;
  preAuthTimeoutMs: number;
}

interface Entry {
  socket: Socket;
  address: string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The source a limit applies to: an IPv4 address, or an IPv6 /64 — one host is routinely handed a
 * whole /64, so counting its addresses one by one would give it 2^64 shares.
 */
export function sourceOf(address: string | undefined): string {
  if (address === undefined) return "?";
  if (!address.includes(":") || /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address)) return address.replace(/^::ffff:/i, "");
  const [head, tail = ""] = address.split("%")[0].split("::");
  const left = head ? head.split(":") : [];
  const right = address.includes("::") && tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || "0", 16).toString(16))
    .join(":")}::/64`;
}

type Remote = { remoteAddress?: string; remotePort?: number };

/** A socket's identity that survives TLS wrapping: the TLS socket an upgrade hands over shares it. */
const keyOf = (socket: Remote) => `${socket.remoteAddress ?? "?"}|${socket.remotePort ?? 0}`;

export class Admission {
  readonly #limits: AdmissionLimits;
  /** Unauthenticated sockets by source address, oldest first. */
  readonly #byAddress = new Map<string, Map<string, Entry>>();
  readonly #entries = new Map<string, Entry>();
  readonly #onShed: (reason: string, address: string) => void;

  constructor(limits: AdmissionLimits, onShed: (reason: string, address: string) => void = () => {}) {
    this.#limits = limits;
    this.#onShed = onShed;
  }

  /** A new TCP connection. Destroys it (and returns false) when its address already holds its share. */
  accept(socket: Socket): boolean {
    const address = sourceOf(socket.remoteAddress);
    const mine = this.#byAddress.get(address);
    if (mine !== undefined && mine.size >= this.#limits.preAuthPerAddressMax) {
      this.#onShed("too many unauthenticated connections from one address", address);
      socket.destroy();
      return false;
    }
    if (this.#entries.size >= this.#limits.preAuthSocketsMax) this.#evictFromLargest();
    const key = keyOf(socket);
    const entry: Entry = { socket, address, timer: undefined };
    entry.timer = setTimeout(() => {
      this.#onShed("no authenticated session within the pre-auth timeout", address);
      socket.destroy();
    }, this.#limits.preAuthTimeoutMs);
    entry.timer.unref?.();
    this.#entries.set(key, entry);
    (mine ?? this.#byAddress.set(address, new Map()).get(address)!).set(key, entry);
    socket.once("close", () => this.#forget(key));
    return true;
  }

  /** The socket became a WebSocket session: its own handshake timer takes over from ours. */
  upgraded(socket: Remote): void {
    const entry = this.#entries.get(keyOf(socket));
    if (entry) clearTimeout(entry.timer);
  }

  /** The socket's peer proved an authorised key: it no longer counts here. */
  authenticated(socket: Remote): void {
    this.#forget(keyOf(socket));
  }

  unauthenticated(): number {
    return this.#entries.size;
  }

  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(key);
    const mine = this.#byAddress.get(entry.address);
    mine?.delete(key);
    if (mine?.size === 0) this.#byAddress.delete(entry.address);
  }

  #evictFromLargest(): void {
    let largest: Map<string, Entry> | undefined;
    for (const sockets of this.#byAddress.values()) if (!largest || sockets.size > largest.size) largest = sockets;
    const oldest = largest?.entries().next().value;
    if (!oldest) return;
    const [key, entry] = oldest;
    this.#onShed("the unauthenticated pool is full: evicted the oldest socket of the busiest address", entry.address);
    this.#forget(key);
    entry.socket.destroy();
  }
}
