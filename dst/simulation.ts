/**
 * One deterministic simulation run: a hub and 1–5 more nodes, each running the production
 * SyncEngine and vault model behind simulated ports, a random workload with faults, a heal phase,
 * and the invariants. Everything random comes from one seed; the run's trace is hashed so two runs
 * of one seed can be compared byte for byte.
 *
 * Invariants checked:
 *  - liveness: after the heal, every node holds identical heads and identical files;
 *  - no lost write: every change reported saved is in every node's history at the end;
 *  - no path outside the vault: every stored path is canonical (normaliseVaultPath accepts it as is);
 *  - removal: a device removed from authorized_keys is delivered nothing while removed;
 *  - duplicates: delivering an old message again changes no node's heads;
 *  - model: two devices editing different paragraphs of one file from the same base both keep
 *    their edit, unless a later write replaced the file.
 */
import * as A from "@automerge/automerge";
import { createHash } from "node:crypto";
import { SyncEngine } from "../agent/sync/engine.js";
import { setBuggifyDecider, plantedBugs } from "../agent/sync/buggify.js";
import { asPeerId, type Clock, type PeerId } from "../agent/sync/ports.js";
import { createVaultDoc, readEntry, fileHashes, listStored, type Doc, type FileOp } from "../agent/vault/model/vault-doc.js";
import { loadDoc } from "../agent/vault/model/load.js";
import { headsAt, restoreTo, setLabel } from "../agent/vault/model/history.js";
import { utf8Encode } from "../agent/vault/model/bytes.js";
import { normaliseVaultPath } from "../agent/vault/paths.js";
import { EventQueue } from "./event-queue.js";
import { Prng } from "./random.js";
import { SimBus, type NetworkFaults } from "./sim-bus.js";
import { SimStore } from "./sim-store.js";

export type FaultLevel = "none" | "adversarial" | "hostile";

export interface SimOptions {
  seed: number;
  faults: FaultLevel;
  /** Nodes including the hub (2–6); drawn from the seed when absent. */
  nodes?: number;
  /** Workload steps; drawn from the seed when absent. */
  steps?: number;
  /** Steps to skip (minimisation). */
  skip?: ReadonlySet<number>;
  /** Flip the planted bug (tests that the simulator catches it). */
  plantedBug?: boolean;
  /** Receives the full trace (for diffing two runs of one seed). */
  onTrace?: (lines: readonly string[]) => void;
}

export interface SimResult {
  seed: number;
  options: { nodes: number; steps: number; faults: FaultLevel };
  traceHash: string;
  violations: string[];
  stats: { events: number; delivered: number; dropped: number; duplicated: number; crashes: number; acked: number; merges: number };
}

const VAULT_ID = "5f0c2a4e-7a51-4c3a-9d2e-0d1e2f3a4b5c";
const TICK_MS = 500;
const WORKLOAD_MS = 30_000;
const HEAL_MS = 40_000;
const PATHS = ["a.md", "b.md", "notes/c.md", "notes/deep/d.md", "caf\u00e9.md", "e f.md", "authorized_keys", "x/y/z.md"];
const FAULTS: Record<FaultLevel, NetworkFaults> = {
  none: { dropPerMille: 0, duplicatePerMille: 0, delayMinMs: 1, delayMaxMs: 5 },
  adversarial: { dropPerMille: 50, duplicatePerMille: 50, delayMinMs: 1, delayMaxMs: 300 },
  hostile: { dropPerMille: 200, duplicatePerMille: 100, delayMinMs: 1, delayMaxMs: 2_000 },
};

interface SimNode {
  id: PeerId;
  skewMs: number;
  store: SimStore;
  engine: SyncEngine | undefined;
  actors: number;
}

interface Expectation {
  path: string;
  markers: string[];
  step: number;
}

export async function simulate(options: SimOptions): Promise<SimResult> {
  const root = new Prng(options.seed);
  const workloadRng = root.fork("workload");
  const networkRng = root.fork("network");
  const diskRng = root.fork("disk");
  const clockRng = root.fork("clock");
  const faultRng = root.fork("faults");
  const buggifyRng = root.fork("buggify");
  // Always draw, then override: an explicit --nodes/--steps must not shift the stream, or a printed
  // replay command would run a different simulation.
  const drawnNodes = workloadRng.int(2, 6);
  const drawnSteps = workloadRng.int(10, 40);
  const nodeCount = options.nodes ?? drawnNodes;
  const steps = options.steps ?? drawnSteps;
  const level = options.faults;

  const trace: string[] = [];
  const violations: string[] = [];
  let now = 1_700_000_000_000;
  const queue = new EventQueue();
  const bus = new SimBus(queue, networkRng, () => now, (line) => trace.push(line));
  bus.faults = FAULTS[level];
  const stats = { events: 0, delivered: 0, dropped: 0, duplicated: 0, crashes: 0, acked: 0, merges: 0 };
  const acked: { node: PeerId; heads: A.Heads; step: number }[] = [];
  const expectations: Expectation[] = [];
  let lastMessage: { to: PeerId; from: PeerId; bytes: Uint8Array } | undefined;

  const previousBug = plantedBugs.noResyncOnReconnect;
  plantedBugs.noResyncOnReconnect = options.plantedBug ?? false;
  if (level === "hostile") setBuggifyDecider((site) => buggifyRng.chance(5, 100) && site.length > 0);
  else setBuggifyDecider(undefined);

  const nodes: SimNode[] = Array.from({ length: nodeCount }, (_, i) => ({
    id: asPeerId(i === 0 ? "hub" : `n${i}`),
    skewMs: i === 0 ? 0 : clockRng.int(-2_000, 2_000),
    store: new SimStore(queue, diskRng, () => now),
    engine: undefined,
    actors: 0,
  }));
  const actorFor = (node: SimNode) => `${(nodes.indexOf(node) + 1).toString(16).padStart(2, "0")}${(node.actors++).toString(16).padStart(6, "0")}${"0".repeat(24)}`;
  const clockFor = (node: SimNode): Clock => ({ now: () => now + node.skewMs });

  function boot(node: SimNode, doc: Doc): void {
    const transport = bus.transport(node.id);
    node.engine = new SyncEngine({
      self: node.id, doc, store: node.store, transport, clock: clockFor(node),
      announceIntervalMs: 2_000, peerTimeoutMs: 60_000,
      isPeerAllowed: (peer) => !bus.unauthorised.has(peer),
      onChange: (event) => {
        stats.merges += event.merges.length;
        for (const path of event.paths) if (normaliseVaultPath(path) !== path) violations.push(`non-canonical path ${JSON.stringify(path)} on ${node.id}`);
      },
    });
    const originalReceive = transport.start.bind(transport);
    transport.start = (handlers) => originalReceive({
      ...handlers,
      onMessage: (from, message) => {
        lastMessage = { to: node.id, from, bytes: message.slice() };
        handlers.onMessage(from, message);
      },
    });
    void node.engine.start();
  }

  // The hub creates the vault; every other node starts empty and clones by sync.
  boot(nodes[0], createVaultDoc({ vaultId: VAULT_ID, name: "sim", createdAt: now }, actorFor(nodes[0])));
  for (const node of nodes.slice(1)) boot(node, loadDoc([], actorFor(node)));

  const settle = async () => {
    // Lets every promise chain the last event started run to its next simulated wait.
    // eslint-disable-next-line no-restricted-globals -- the simulator's "drain microtasks" step, not a clock
    await new Promise((resolve) => setImmediate(resolve));
  };

  const live = () => nodes.filter((n) => n.engine !== undefined);
  const textOf = (node: SimNode, path: string) => {
    const entry = node.engine ? readEntry(node.engine.doc, path) : undefined;
    return entry ? new TextDecoder().decode(entry.bytes) : undefined;
  };
  const invalidate = (path: string, step: number) => {
    for (const e of expectations) if (e.path === path && e.step < step) e.step = Number.POSITIVE_INFINITY;
  };

  async function localChange(node: SimNode, ops: FileOp[], step: number, invalidates = true): Promise<void> {
    const engine = node.engine;
    if (!engine || !A.getHeads(engine.doc).length || engine.doc.files === undefined) return;
    if (invalidates) for (const op of ops) invalidate(op.path, step);
    const done = engine.change(ops);
    void done.then(() => {
      if (node.engine === engine) {
        acked.push({ node: node.id, heads: A.getHeads(engine.doc), step });
        stats.acked++;
      }
    });
  }

  const paragraph = (step: number, tag: string) => `paragraph ${tag} written at step ${step}`;

  async function workloadStep(step: number): Promise<void> {
    const node = workloadRng.pick(live().length > 0 ? live() : nodes);
    const kind = workloadRng.int(0, 99);
    const path = workloadRng.pick(PATHS);
    trace.push(`step ${step} ${node.id} kind ${kind} ${path}`);
    if (options.skip?.has(step) || node.engine === undefined) return;
    const doc = node.engine.doc;
    if (doc.files === undefined) return;
    if (kind < 35) {
      const body = `# ${path}\n\n${paragraph(step, "one")}\n\n${paragraph(step, "two")}\n\n${paragraph(step, "three")}\n`;
      await localChange(node, [{ type: "put", path, bytes: utf8Encode(body), mtime: now }], step);
    } else if (kind < 50) {
      const current = textOf(node, path);
      if (current === undefined) return;
      await localChange(node, [{ type: "put", path, bytes: utf8Encode(current.replace(/paragraph one[^\n]*/, paragraph(step, "one-edited"))), mtime: now }], step);
    } else if (kind < 60) {
      if (readEntry(doc, path) === undefined || path === "authorized_keys") return;
      await localChange(node, [{ type: "delete", path }], step);
    } else if (kind < 67) {
      const target = workloadRng.pick(PATHS);
      const entry = readEntry(doc, path);
      if (!entry || target === path || path === "authorized_keys") return;
      await localChange(node, [{ type: "delete", path }, { type: "put", path: target, bytes: entry.bytes, mtime: now }], step);
    } else if (kind < 77) {
      concurrentEdit(step, path);
    } else if (kind < 81) {
      const engine = node.engine;
      const back = now - workloadRng.int(0, 20_000);
      invalidateAll(step);
      void engine.update((d, t) => restoreTo(d, headsAt(d, back), { time: t, by: node.id }).doc);
    } else if (kind < 85) {
      const engine = node.engine;
      void engine.update((d, t) => setLabel(d, `label-${step}`, A.getHeads(d), { time: t, by: node.id }));
    } else if (kind < 92 && level !== "none") {
      crash(node, step);
    } else if (kind < 96 && level !== "none" && node.id !== "hub") {
      // authorized_keys edit removing the device; it is added back later.
      bus.unauthorised.add(node.id);
      trace.push(`remove ${node.id}`);
      queue.push(now + faultRng.int(1_000, 8_000), `re-add ${node.id}`, () => {
        bus.unauthorised.delete(node.id);
        bus.reconnected(node.id);
      });
    } else if (level !== "none") {
      networkFault(node);
    }
  }

  function invalidateAll(step: number) {
    for (const e of expectations) if (e.step < step) e.step = Number.POSITIVE_INFINITY;
  }

  /** Two nodes with the same version of a file edit different paragraphs at the same time. */
  function concurrentEdit(step: number, path: string): void {
    const holders = live().filter((n) => textOf(n, path)?.includes("paragraph three"));
    if (holders.length < 2 || path === "authorized_keys") return;
    const [x, y] = [workloadRng.pick(holders), workloadRng.pick(holders)];
    if (x === y || textOf(x, path) !== textOf(y, path)) return;
    const base = textOf(x, path) as string;
    const markers = [`edited by ${x.id} at ${step}`, `edited by ${y.id} at ${step}`];
    invalidate(path, step);
    expectations.push({ path, markers, step });
    void localChange(x, [{ type: "put", path, bytes: utf8Encode(base.replace(/paragraph one[^\n]*/, markers[0])), mtime: now }], step, false);
    void localChange(y, [{ type: "put", path, bytes: utf8Encode(base.replace(/paragraph three[^\n]*/, markers[1])), mtime: now }], step, false);
  }

  function crash(node: SimNode, step: number): void {
    if (node.engine === undefined) return;
    bus.detach(node.id);
    node.engine = undefined;
    const outcome = node.store.crash();
    stats.crashes++;
    trace.push(`crash ${node.id} lost ${outcome.lost} landed ${outcome.landed} at step ${step}`);
    queue.push(now + faultRng.int(500, 10_000), `restart ${node.id}`, async () => restart(node));
  }

  async function restart(node: SimNode): Promise<void> {
    if (node.engine !== undefined) return;
    const doc = loadDoc(await node.store.load(), actorFor(node));
    trace.push(`restart ${node.id} heads ${A.getHeads(doc).join(",").slice(0, 16)}`);
    boot(node, doc);
  }

  function networkFault(node: SimNode): void {
    const other = faultRng.pick(nodes.filter((n) => n !== node));
    const kind = faultRng.int(0, 2);
    const until = now + faultRng.int(1_000, 10_000);
    if (kind === 0 && node.id !== "hub") {
      bus.linkDown.add(node.id);
      trace.push(`link down ${node.id}`);
      queue.push(until, `link up ${node.id}`, () => {
        bus.linkDown.delete(node.id);
        bus.reconnected(node.id);
      });
    } else {
      const keys = kind === 1 ? [`${node.id}>${other.id}`, `${other.id}>${node.id}`] : [`${node.id}>${other.id}`];
      for (const k of keys) bus.blocked.add(k);
      trace.push(`partition ${keys.join(" ")}`);
      queue.push(until, `heal ${keys.join(" ")}`, () => {
        for (const k of keys) bus.blocked.delete(k);
      });
    }
  }

  // Schedule: ticks for every node, workload steps, the heal.
  for (let t = TICK_MS; t <= WORKLOAD_MS + HEAL_MS; t += TICK_MS) {
    for (const node of nodes) queue.push(now + t + (nodes.indexOf(node) % 7), `tick ${node.id}`, () => void node.engine?.tick());
  }
  const stepTimes = Array.from({ length: steps }, () => workloadRng.int(2_000, WORKLOAD_MS)).sort((a, b) => a - b);
  stepTimes.forEach((t, step) => queue.push(now + t, `step ${step}`, () => workloadStep(step)));
  const healAt = now + WORKLOAD_MS + 1;
  queue.push(healAt, "heal", async () => {
    trace.push("heal");
    bus.faults = FAULTS.none;
    setBuggifyDecider(undefined);
    bus.blocked.clear();
    bus.linkDown.clear();
    bus.unauthorised.clear();
    for (const node of nodes) if (node.engine === undefined) await restart(node);
    for (const node of nodes) bus.reconnected(node.id);
  });

  const end = now + WORKLOAD_MS + HEAL_MS;
  try {
    while (queue.size > 0 && (queue.peekTime() as number) <= end) {
      const event = queue.pop()!;
      now = event.time;
      stats.events++;
      trace.push(`${event.time - 1_700_000_000_000} ${event.label}`);
      await event.run();
      await settle();
      if (bus.stats.deliveredToUnauthorised > 0) violations.push(`a removed device was delivered ${bus.stats.deliveredToUnauthorised} message(s)`);
    }
    await drain();
    checkInvariants();
    await duplicateChangesNothing();
  } finally {
    plantedBugs.noResyncOnReconnect = previousBug;
    setBuggifyDecider(undefined);
  }

  /**
   * After the last tick only deliveries, fsyncs and restarts remain; run them all (bounded), so
   * nothing the engines wait on is left pending. Engine promises are never awaited inside events:
   * they may wait on a simulated fsync, which only the event loop here can complete.
   */
  async function drain(): Promise<void> {
    for (let i = 0; i < 100_000 && queue.size > 0; i++) {
      const event = queue.pop()!;
      now = Math.max(now, event.time);
      trace.push(`${event.time - 1_700_000_000_000} ${event.label}`);
      await event.run();
      await settle();
    }
  }

  function checkInvariants(): void {
    const reference = nodes[0].engine!;
    const refHeads = [...A.getHeads(reference.doc)].sort().join(",");
    const refFiles = JSON.stringify([...fileHashes(reference.doc)].sort());
    for (const node of nodes) {
      const engine = node.engine;
      if (!engine) {
        violations.push(`${node.id} is not running after the heal`);
        continue;
      }
      const heads = [...A.getHeads(engine.doc)].sort().join(",");
      if (heads !== refHeads) violations.push(`liveness: ${node.id} heads ${heads.slice(0, 16)} differ from hub ${refHeads.slice(0, 16)} ${HEAL_MS} ms after the heal`);
      else if (JSON.stringify([...fileHashes(engine.doc)].sort()) !== refFiles) {
        const mine = fileHashes(engine.doc);
        const theirs = fileHashes(reference.doc);
        const differing = [...new Set([...mine.keys(), ...theirs.keys()])].filter((p) => mine.get(p) !== theirs.get(p));
        violations.push(`${node.id} has the same heads but different files: ${differing.join(", ")}`);
      }
      for (const path of listStored(engine.doc).keys()) if (normaliseVaultPath(path) !== path) violations.push(`non-canonical path ${JSON.stringify(path)}`);
    }
    for (const ack of acked) {
      for (const node of nodes) {
        if (node.engine && !A.hasHeads(node.engine.doc, ack.heads)) {
          violations.push(`lost write: change acknowledged by ${ack.node} at step ${ack.step} is missing on ${node.id}`);
          break;
        }
      }
    }
    for (const e of expectations) {
      if (!Number.isFinite(e.step)) continue;
      const text = textOf(nodes[0], e.path) ?? "";
      for (const marker of e.markers) if (!text.includes(marker)) violations.push(`merge lost "${marker}" in ${e.path}`);
    }
    trace.push(`final ${refHeads}`);
  }

  async function duplicateChangesNothing(): Promise<void> {
    if (!lastMessage) return;
    const node = nodes.find((n) => n.id === lastMessage!.to);
    if (!node?.engine) return;
    const before = A.getHeads(node.engine.doc).join(",");
    // Re-deliver the last message the node received, as a duplicate would arrive.
    void node.engine.receive(lastMessage.from, lastMessage.bytes);
    await settle();
    await drain();
    if (A.getHeads(node.engine.doc).join(",") !== before) violations.push("a duplicate message changed the document");
  }

  Object.assign(stats, { delivered: bus.stats.delivered, dropped: bus.stats.dropped, duplicated: bus.stats.duplicated });
  options.onTrace?.(trace);
  const traceHash = createHash("sha256").update(trace.join("\n")).digest("hex");
  return { seed: options.seed, options: { nodes: nodeCount, steps, faults: level }, traceHash, violations: [...new Set(violations)], stats };
}
