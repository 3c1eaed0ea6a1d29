/**
 * Ports a killed hub can take again. A hub restarts on the ports its leaves and routes dial, but an
 * ephemeral port freed by a SIGKILL is soon handed to another process on the machine (the bench's
 * own 30-odd nats-servers all listen on `-1`). Ports below the kernel's ephemeral range are never
 * handed out that way.
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { randomInt } from "node:crypto";

/** Where the search starts: above the well-known and most registered service ports. */
const STABLE_PORT_MIN = 20_000;
const ATTEMPTS_MAX = 200;
const taken = new Set<number>();

async function ephemeralLow(): Promise<number> {
  const range = await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8").catch(() => "32768 60999");
  const low = Number(range.trim().split(/\s+/)[0]);
  return Number.isInteger(low) && low > STABLE_PORT_MIN + 1000 ? low : 32_768;
}

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/** A free loopback port below the ephemeral range, not handed out before by this process. */
export async function stablePort(): Promise<number> {
  const low = await ephemeralLow();
  for (let i = 0; i < ATTEMPTS_MAX; i++) {
    const port = randomInt(STABLE_PORT_MIN, low);
    if (taken.has(port) || !(await bindable(port))) continue;
    taken.add(port);
    return port;
  }
  throw new Error(`no free loopback port from ${STABLE_PORT_MIN} to ${low} after ${ATTEMPTS_MAX} tries`);
}
