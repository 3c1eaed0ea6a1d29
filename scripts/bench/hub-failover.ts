/**
 * Failover: leaf F names every hub (`--hub` repeated). Each round SIGKILLs the hub(s) F's links are
 * up to — its nats-server keeps one leafnode remote per account, and each may be on a different hub
 * — then writes one new file on F at once, and times until that file is on the disk of every leaf
 * linked to a hub that survived. F's own log says when its link came up again. The killed hub is
 * then restarted on its old ports and the round ends when an edit reaches every leaf again.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { waitForBytes, waitUntil } from "./fixtures.js";
import { machineNow } from "./proc-probe.js";
import type { Agent } from "./edgesync.js";
import type { Hub, HubCluster } from "./hub-cluster.js";
import type { Receiver } from "./hub-fanout.js";

export interface FailoverRound {
  /** Hub numbers (1-based) killed this round. */
  killed: number[];
  /** Receivers on the hubs that survived. */
  receivers: number;
  /** Kill → F's leafnode link up on a surviving hub (F's log). */
  linkUpMs?: number;
  /** Kill → F's next edit on the first / on every leaf of a surviving hub. */
  firstArrivalMs: number;
  allArrivalsMs: number;
  /** Restart of the killed hub(s) → an edit on every leaf again, its own leaves included. */
  healMs?: number;
  machine: { loadavg: number[]; cores: number };
}

const LINK_TIMEOUT_MS = 60_000;
const HEAL_TIMEOUT_MS = 240_000;

interface LinkLine {
  time?: number;
  msg?: string;
  link?: string;
  remote?: string;
  id?: string | number;
}

function linkLines(output: string): LinkLine[] {
  const lines: LinkLine[] = [];
  for (const line of output.split("\n")) {
    if (!line.includes('"link up"') && !line.includes('"link down"')) continue;
    try {
      const parsed = JSON.parse(line) as LinkLine;
      if (parsed.link === "leafnode") lines.push(parsed);
    } catch {
      continue; // a line cut by the output buffer's start
    }
  }
  return lines;
}

/** Leafnode ports of the hubs F's links are up to now, from its link up/down lines. */
export function linkedPorts(output: string): Set<number> {
  const up = new Map<string, number>();
  for (const line of linkLines(output)) {
    const key = `${line.id} ${line.remote}`;
    if (line.msg === "link up") up.set(key, Number(line.remote?.split(":").pop()));
    else up.delete(key);
  }
  return new Set(up.values());
}

async function oneRound(
  cluster: HubCluster,
  f: Agent,
  fDir: string,
  receivers: Receiver[],
  round: number,
  onRound: (round: FailoverRound) => void,
): Promise<void> {
  let victims: Hub[] = [];
  await waitUntil(
    "leaf F to be linked to a hub",
    () => {
      const ports = linkedPorts(f.output());
      victims = cluster.hubs.filter((h) => ports.has(h.ports.leafnode));
      return victims.length > 0 && victims.length < cluster.hubs.length;
    },
    LINK_TIMEOUT_MS,
    () => f.output().slice(-3000),
  );
  const survivors = receivers.filter((r) => !victims.some((v) => v.index === r.hub.index));
  if (survivors.length === 0) throw new Error("no receiving leaf is on a hub that survives: give more --leaves");
  const rel = `failover/round-${round}.md`;
  const bytes = Buffer.from(`failover round ${round}\n`);
  const arrivals = survivors.map((r) => waitForBytes(join(r.dir, rel), bytes, HEAL_TIMEOUT_MS));
  arrivals.forEach((p) => p.catch(() => {})); // awaited below
  const killedAtEpoch = Date.now();
  const t0 = performance.now();
  await Promise.all(victims.map((h) => cluster.kill(h)));
  await writeFile(join(fDir, rel), bytes);
  const times = (await Promise.all(arrivals)).map((t) => t - t0);
  const relinked = linkLines(f.output()).find((l) => l.msg === "link up" && (l.time ?? 0) >= killedAtEpoch);
  const record: FailoverRound = {
    killed: victims.map((h) => h.index + 1),
    receivers: survivors.length,
    linkUpMs: relinked?.time !== undefined ? relinked.time - killedAtEpoch : undefined,
    firstArrivalMs: Math.round(Math.min(...times)),
    allArrivalsMs: Math.round(Math.max(...times)),
    machine: machineNow(),
  };
  onRound(record); // kept even if the restart below fails
  const healStart = performance.now();
  for (const victim of victims) await cluster.restart(victim);
  const healRel = `failover/heal-${round}.md`;
  const healBytes = Buffer.from(`healed after round ${round}\n`);
  const healed = receivers.map((r) => waitForBytes(join(r.dir, healRel), healBytes, HEAL_TIMEOUT_MS));
  healed.forEach((p) => p.catch(() => {}));
  await writeFile(join(fDir, healRel), healBytes);
  await Promise.all(healed);
  record.healMs = Math.round(performance.now() - healStart);
}

/** `rounds` kills in a row; each round's hub is restarted and the cluster whole again before the next. */
export async function measureFailover(
  cluster: HubCluster,
  f: Agent,
  fDir: string,
  receivers: Receiver[],
  rounds: number,
  onRound: (round: FailoverRound) => void,
): Promise<void> {
  for (let round = 1; round <= rounds; round++) await oneRound(cluster, f, fDir, receivers, round, onRound);
}
