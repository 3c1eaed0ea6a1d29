/**
 * One deterministic simulation run: 1–3 hubs of one NATS cluster and devices (2–7 nodes in all),
 * each running the production SyncEngine and vault model behind simulated ports (the vault on R of
 * the hubs, each hub deciding from the hubs it hears, a replica on its own disk; every device linked
 * to one hub at a time: dst/sim-bus.ts has the topology, dst/sim-cluster.ts the cluster's faults,
 * dst/sim-placement.ts the placement), a random workload with faults, a heal phase, and the
 * invariants. Everything random comes from one seed; the run's trace is hashed so two runs
 * of one seed can be compared byte for byte.
 *
 * Invariants checked:
 *  - liveness: after the heal, every node (every placed hub's replica too) holds identical heads
 *    and files;
 *  - placement: after the heal and every grace, exactly the R hubs `placeVault` picks over all hubs
 *    run a replica, and each hub agrees; a replica that stopped left its disk holding all it held;
 *  - no lost write: every change reported saved is in every node's history at the end;
 *  - no path outside the vault: every stored path is canonical (normaliseVaultPath accepts it as is);
 *  - removal: a device removed from authorized_keys is delivered nothing while the hub it is linked
 *    to has applied its removal;
 *  - duplicates: delivering an old message again changes no node's heads;
 *  - model: two devices editing different paragraphs of one file from the same base both keep
 *    their edit, unless a later write replaced the file.
 */
import * as A from "@automerge/automerge";
import { SyncEngine } from "../agent/sync/engine.js";
import { setBuggifyDecider, plantedBugs } from "../agent/sync/buggify.js";
import { asPeerId, type DocStore, type PeerId } from "../agent/sync/ports.js";
import {
  applyFileOps,
  blobOf,
  createVaultDoc,
  isReady,
  readEntry,
  fileHashes,
  listStored,
  type Doc,
  type FileOp,
} from "../agent/vault/model/vault-doc.js";
import type { BlobStore } from "../agent/vault/store/blob-store.js";
import { loadDoc } from "../agent/vault/model/load.js";
import { headsAt, restoreTo, setLabel } from "../agent/vault/model/history.js";
import { decodeTextOrUndefined, sha256Hex, utf8Encode } from "../agent/vault/model/bytes.js";
import { checkReference, type WriteRecord } from "./reference.js";
import { editParagraph, newBinary, newText } from "./content.js";
import { normaliseVaultPath } from "../agent/vault/paths.js";
import { EventQueue } from "./event-queue.js";
import {
  AUTHORIZED_KEYS_PATH,
  editAuthorizedKeys,
  formatAuthorizedKeys,
  parseAuthorizedKeys,
} from "./authorized-keys.js";
import { Prng } from "./random.js";
import { SimBus, type NetworkFaults } from "./sim-bus.js";
import { SimCluster } from "./sim-cluster.js";
import { SimPlacement, HEARTBEAT_INTERVAL_MS } from "./sim-placement.js";
import { SimCatalogue, type CatalogueEntry } from "./sim-catalogue.js";
import { placeVault, rankHubs } from "../agent/hub/placement.js";
import { SimDisk, type DiskFaults } from "./sim-store.js";
import { SimClock } from "./sim-clock.js";
import { Trace } from "./trace.js";

export type FaultLevel = "none" | "adversarial" | "hostile";

export interface SimOptions {
  seed: number;
  faults: FaultLevel;
  /** Nodes, hubs included (2–7); drawn from the seed when absent. */
  nodes?: number;
  /** Hubs among the nodes (1..nodes-1, at most HUBS_MAX); drawn from the seed when absent. */
  hubs?: number;
  /** Replicas of the vault (1..hubs): how many hubs host it; drawn from the seed when absent. */
  replicas?: number;
  /** Workload steps; drawn from the seed when absent. */
  steps?: number;
  /** Workload ticks (TICK_MS each) before the heal; drawn from the seed when absent. */
  ticks?: number;
  /** Steps to skip (minimisation). */
  skip?: ReadonlySet<number>;
  /** Scripted hub crashes and probes of the placement, on top of the drawn run (tests). */
  script?: readonly ScriptStep[];
  /** Flip the planted bug (tests that the simulator catches it). */
  plantedBug?: boolean;
  /**
   * A restarted hub pushes its catalogue entry at once, without catching up with the cluster first
   * (the agent's settling switched off): shows what settling prevents.
   */
  noSettle?: boolean;
  /** Receives the full trace (for diffing two runs of one seed). */
  onTrace?: (lines: readonly string[]) => void;
}

/**
 * A scripted event, `atMs` after the run starts. Hubs are named by their rank for the run's vault
 * over all hubs (0 = the first of its placement), since the vault id is drawn from the seed.
 */
export type ScriptStep = { atMs: number; crashRank: number; downMs: number } | { atMs: number; probe: string };

/** What a probe saw: hubs by rank, the hubs running a replica, and acknowledged writes each lacks. */
export interface PlacementProbe {
  label: string;
  atMs: number;
  ranked: string[];
  loaded: string[];
  missing: { hub: string; by: string; ackedAtMs: number }[];
  /** Writes acknowledged so far (anywhere). */
  acked: number;
}

export interface SimResult {
  seed: number;
  options: { nodes: number; hubs: number; replicas: number; steps: number; ticks: number; faults: FaultLevel };
  traceHash: string;
  plantedBug: boolean;
  violations: string[];
  probes: PlacementProbe[];
  stats: {
    events: number;
    delivered: number;
    dropped: number;
    duplicated: number;
    crashes: number;
    acked: number;
    merges: number;
    /** Cluster faults: hubs crashed, routes cut, leaves that redialled another hub. */
    hubCrashes: number;
    routeCuts: number;
    failovers: number;
    /** A hub's routes all cut at once (it leaves the cluster, then rejoins). */
    isolations: number;
    /** A server re-admitted a device by a push from a copy of authorized_keys that lacked its acknowledged removal. */
    staleReadmissions: number;
    /** Catalogue entries a hub adopted from another by gossip. */
    adopted: number;
    /** Document changes a replica did not apply: its document lacked the heads of the entry in force. */
    skipped: number;
    /** Document changes applied without the entry's heads because the entry was older than HEADS_GUARD_MS. */
    appliedPastGuard: number;
    /** Catalogue catch-ups the bus or a drop lost (retried at the next heartbeat). */
    catchUpsLost: number;
    /** A hub crashed with nothing pending, yet its disk lacked changes its replica held. */
    storeGaps: number;
    /** Placement: hubs that entered the vault's placement (restarts included), left it, stopped a replica. */
    enters: number;
    leaves: number;
    stops: number;
  };
}

const VAULT_ID = "5f0c2a4e-7a51-4c3a-9d2e-0d1e2f3a4b5c";
export const TICK_MS = 500;
export const TICKS_MIN = 10;
export const TICKS_MAX = 2_000;
const HEAL_MS = 40_000;
const PATHS = ["a.md", "b.md", "notes/c.md", "notes/deep/d.md", "caf\u00e9.md", "e f.md", "x/y/z.md"];
/** Paths a device must refuse to write: they climb out, name our state folder or are not portable. */
const BAD_PATHS = [
  "../escape.md",
  "a/../../b.md",
  "/etc/passwd",
  ".edgesync/doc.bin",
  "x\\y.md",
  "con.md",
  "trailing. ",
  "",
];
/** Hubs drawn for a run: enough for a route cut to leave a third hub routed to both sides. */
export const HUBS_MAX = 3;
/** The actor of documents loaded only to be checked (never changed). */
const CHECK_ACTOR = "ff".repeat(16);
/**
 * Weights of R = 1, 2, 3 by hub count: fewer replicas than hubs two runs in three, so placement
 * moves; the agent's default (min(3, hubs)) the rest.
 */
const REPLICA_WEIGHTS: Record<number, number[]> = { 1: [1], 2: [2, 1], 3: [1, 2, 1] };
/** With two hubs or more, one workload step in this many also brings a cluster fault. */
const CLUSTER_FAULT_ONE_IN = 5;
const FAULTS: Record<FaultLevel, NetworkFaults> = {
  none: { dropPerMille: 0, duplicatePerMille: 0, delayMinMs: 1, delayMaxMs: 5 },
  adversarial: { dropPerMille: 50, duplicatePerMille: 50, delayMinMs: 1, delayMaxMs: 300 },
  hostile: { dropPerMille: 200, duplicatePerMille: 100, delayMinMs: 1, delayMaxMs: 2_000 },
};

const DISK: Record<FaultLevel, DiskFaults> = {
  none: { fsyncMaxMs: 3, appendOnCrash: [1, 0, 1], writeErrorPerMille: 0 },
  adversarial: { fsyncMaxMs: 20, appendOnCrash: [1, 1, 2], writeErrorPerMille: 0 },
  hostile: { fsyncMaxMs: 200, appendOnCrash: [1, 1, 1], writeErrorPerMille: 5 },
};

interface SimNode {
  id: PeerId;
  clock: SimClock;
  disk: SimDisk;
  /** The running engine: a device's, or a hub's replica while the hub hosts the vault (or is in its grace). */
  engine: SyncEngine | undefined;
  /** A hub's replica that left the placement, saving before it stops: the next one opens after it. */
  stopping: Promise<void> | undefined;
  /** Bumped by every crash: what an older incarnation scheduled does nothing. */
  incarnation: number;
  actors: number;
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
  const drawnNodes = workloadRng.int(3, 7);
  const drawnSteps = workloadRng.int(10, 40);
  const optionsRng = root.fork("options");
  const jumpRng = root.fork("clock-jumps");
  const drawnTicks = optionsRng.int(40, 80);
  const clusterRng = root.fork("cluster");
  const clusterFaultRng = root.fork("cluster-faults");
  const placementRng = root.fork("placement");
  const heartbeatRng = root.fork("heartbeats");
  const catalogueRng = root.fork("catalogue");
  // One hub a quarter of the time (the cluster of one most installations run), else two or three.
  const drawnHubs = 1 + clusterRng.weighted([2, 3, 3]);
  // An explicit hub count with drawn nodes keeps one device at least (a replay pins both).
  const nodeCount = options.nodes ?? Math.max(drawnNodes, (options.hubs ?? 0) + 1);
  const steps = options.steps ?? drawnSteps;
  const ticks = options.ticks ?? drawnTicks;
  if (!Number.isSafeInteger(ticks) || ticks < TICKS_MIN || ticks > TICKS_MAX)
    throw new RangeError(`ticks must be ${TICKS_MIN}..${TICKS_MAX}, got ${ticks}`);
  if (!Number.isSafeInteger(nodeCount) || nodeCount < 2 || nodeCount > 7)
    throw new RangeError(`nodes must be 2..7, got ${nodeCount}`);
  // Drawn hubs leave two devices at least, so leaves on different hubs reach each other over a route.
  const hubCount = options.hubs ?? Math.min(drawnHubs, Math.max(1, nodeCount - 2));
  if (!Number.isSafeInteger(hubCount) || hubCount < 1 || hubCount > Math.min(HUBS_MAX, nodeCount - 1))
    throw new RangeError(
      `hubs must be 1..${Math.min(HUBS_MAX, nodeCount - 1)} (one node at least is a device), got ${hubCount}`,
    );
  const drawnReplicas = 1 + placementRng.weighted(REPLICA_WEIGHTS[hubCount]);
  const replicas = options.replicas ?? drawnReplicas;
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > hubCount)
    throw new RangeError(`replicas must be 1..${hubCount} (the hubs of the run), got ${replicas}`);
  // With several hubs the vault id is drawn, so every hub gets to rank first; one hub keeps the
  // fixed id the pinned regression seeds were found with.
  const drawnVaultId = uuidOf(placementRng.hex(16));
  const vaultId = hubCount > 1 ? drawnVaultId : VAULT_ID;
  const WORKLOAD_MS = ticks * TICK_MS;
  const level = options.faults;

  const trace = new Trace(options.onTrace !== undefined);
  const violations: string[] = [];
  let now = 1_700_000_000_000;
  const startedAt = now;
  const queue = new EventQueue();
  const idOf = (i: number) => asPeerId(i === 0 ? "hub" : i < hubCount ? `hub${i + 1}` : `n${i}`);
  const bus = new SimBus(
    queue,
    networkRng,
    () => now,
    (line) => trace.add(line),
    Array.from({ length: hubCount }, (_, i) => idOf(i)),
  );
  bus.faults = FAULTS[level];
  const stats = {
    events: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    crashes: 0,
    acked: 0,
    merges: 0,
    hubCrashes: 0,
    routeCuts: 0,
    failovers: 0,
    isolations: 0,
    staleReadmissions: 0,
    adopted: 0,
    skipped: 0,
    appliedPastGuard: 0,
    catchUpsLost: 0,
    storeGaps: 0,
    enters: 0,
    leaves: 0,
    stops: 0,
  };
  const acked: { node: PeerId; heads: A.Heads; step: number; at: number }[] = [];
  const probes: PlacementProbe[] = [];
  /** Acknowledged removals from authorized_keys: a push from a copy that lacks one is stale. */
  const removals: { device: PeerId; heads: A.Heads; tag: string }[] = [];
  const removalOf = new Map<WriteRecord, PeerId>();
  /** Every write the workload made, for the reference model. */
  const records: WriteRecord[] = [];
  /** Every binary content the workload wrote, by hash: what each blob must hold. */
  const binaries = new Map<string, Uint8Array>();
  let nextWriteId = 1;
  let lastMessage: { to: PeerId; from: PeerId; bytes: Uint8Array } | undefined;
  let healed = false;

  const previousBug = plantedBugs.noResyncOnReconnect;
  plantedBugs.noResyncOnReconnect = options.plantedBug ?? false;
  if (level === "hostile") setBuggifyDecider((site) => buggifyRng.chance(5, 100) && site.length > 0);
  else setBuggifyDecider(undefined);

  const nodes: SimNode[] = Array.from({ length: nodeCount }, (_, i) => ({
    id: idOf(i),
    clock: new SimClock(() => now, i === 0 ? 0 : clockRng.int(-2_000, 2_000)),
    disk: Object.assign(new SimDisk(queue, diskRng, () => now), { faults: DISK[level] }),
    engine: undefined,
    stopping: undefined,
    incarnation: 0,
    actors: 0,
  }));
  const hubs = nodes.slice(0, hubCount);
  const devices = nodes.slice(hubCount);
  const isHub = (node: SimNode) => bus.isHub(node.id);
  const cluster = new SimCluster({
    bus,
    queue,
    now: () => now,
    trace: (line) => trace.add(line),
    devices: devices.map((d) => d.id),
    homes: new Map(devices.map((d) => [d.id, hubs[clusterRng.int(0, hubCount - 1)].id])),
    onStaleReadmission: (line) => violations.push(`stale re-admission at ${now - 1_700_000_000_000} ms: ${line}`),
  });
  const nodeOf = (id: PeerId) => nodes.find((n) => n.id === id) as SimNode;
  const placement = new SimPlacement({
    queue,
    now: () => now,
    trace: (line) => trace.add(line),
    rng: heartbeatRng,
    hubs: hubs.map((h) => h.id),
    vaultId,
    replicas,
    isUp: (hub) => !bus.hubsDown.has(hub),
    canHear: (from, to) => bus.canPass(from, to),
    dropPerMille: () => bus.faults.dropPerMille,
    enter: (hub) => openReplica(nodeOf(hub)),
    stop: (hub) => stopReplica(nodeOf(hub)),
    heard: (from, to) => catalogue.heard(from, to),
  });
  const actorFor = (node: SimNode) =>
    `${(nodes.indexOf(node) + 1).toString(16).padStart(2, "0")}${(node.actors++).toString(16).padStart(6, "0")}${"0".repeat(24)}`;

  function boot(
    node: SimNode,
    doc: Doc,
    store: DocStore = node.disk.open(),
    blobs: BlobStore = node.disk.openBlobs(),
  ): void {
    const transport = bus.transport(node.id);
    node.engine = new SyncEngine({
      self: node.id,
      doc,
      store,
      storedHeads: A.getHeads(doc), // every boot loads its doc from this store, as the agent does
      blobs,
      transport,
      clock: node.clock,
      hub: isHub(node),
      blobChunkBytes: 32, // the workload's binaries (64-95 bytes) then travel as 2-3 chunks, lost, duplicated and reordered like any message
      announceIntervalMs: 2_000,
      peerTimeoutMs: 60_000,
      snapshotWhenQuietMs: isHub(node) ? 1_000 : undefined, // as the agent's hub does (replica.ts)
      // Defence in depth as the agent would wire it: this device's own copy of authorized_keys.
      // A device that holds no vault yet (a clone, or one that lost it) lets NATS be the only gate.
      // The hubs' replicas sign in with the cluster's key, which authorized_keys does not list.
      isPeerAllowed: (peer) =>
        bus.isHub(peer) || !node.engine || !isReady(node.engine.doc) || listedIn(node.engine.doc).has(peer),
      onChange: (event) => {
        stats.merges += event.merges.length;
        // As the agent's onVaultChange: every change of a hub's replica applies authorized_keys again
        // (a no-op when the text is the one in force), so a replica that skipped applies on catching up.
        if (isHub(node)) hubAuthorisedKeysChanged(node);
        for (const path of event.paths)
          if (normaliseVaultPath(path) !== path)
            violations.push(`non-canonical path ${JSON.stringify(path)} on ${node.id}`);
      },
    });
    const originalReceive = transport.start.bind(transport);
    transport.start = (handlers) =>
      originalReceive({
        ...handlers,
        onMessage: (from, message) => {
          if (bus.isRefused(node.id))
            violations.push(
              `${node.id} received ${message.length} bytes from ${from} while the hub it is linked to refuses it`,
            );
          lastMessage = { to: node.id, from, bytes: message.slice() };
          handlers.onMessage(from, message);
        },
      });
    void node.engine.start();
    if (isHub(node)) hubAuthorisedKeysChanged(node);
  }

  const listedIn = (doc: Doc) => {
    const entry = readEntry(doc, AUTHORIZED_KEYS_PATH);
    return parseAuthorizedKeys(entry ? new TextDecoder().decode(entry.bytes) : undefined);
  };

  /**
   * A hub's replica applies its document's authorized_keys to the hub's catalogue entry, which it
   * pushes (dst/sim-catalogue.ts); servers apply the push a moment later: unlisted devices are cut
   * off, re-listed ones reconnect (dst/sim-cluster.ts). During the heal the operator, on the first
   * hub that hosts the vault, re-adds every device an edit still in flight removed.
   */
  function hubAuthorisedKeysChanged(hubNode: SimNode): void {
    const hub = hubNode.engine;
    if (!hub || !isReady(hub.doc)) return;
    const operatorHub = hubs.find((h) => h.engine !== undefined && isReady(h.engine.doc));
    if (healed && hubNode === operatorHub && devices.some((n) => !listedIn(hub.doc).has(n.id))) {
      reAddAll(hubNode, hub);
      return;
    }
    const entry = readEntry(hub.doc, AUTHORIZED_KEYS_PATH);
    const doc = hub.doc;
    catalogue.applyFromDoc(
      hubNode.id,
      entry?.bytes === undefined ? undefined : new TextDecoder().decode(entry.bytes),
      { heads: A.getHeads(doc), hasHeads: (heads) => A.hasHeads(doc, heads) },
      () => removalsIn(doc),
    );
  }

  /** Tags of the removal writes `doc` holds, acknowledged or not yet. */
  function removalsIn(doc: Doc): Set<string> {
    const held = new Set<string>();
    for (const record of removalOf.keys()) {
      const removal = removals.find((r) => r.tag === record.tag);
      if (removal ? A.hasHeads(doc, removal.heads) : changeTagged(doc, record.tag) !== undefined) held.add(record.tag);
    }
    return held;
  }

  /**
   * `hub` pushes the account its catalogue entry makes. Devices it lists although the entry's text
   * was read from a document without an acknowledged removal of them are stale: a server that
   * applies the push re-admits them, a violation (counted before the heal only, which re-adds every
   * device on purpose).
   */
  function pushEntry(hub: PeerId, entry: CatalogueEntry): void {
    const stale = new Set(
      removals.filter((r) => !healed && entry.listed.has(r.device) && !entry.covers.has(r.tag)).map((r) => r.device),
    );
    cluster.pushAccount(hub, entry.listed, stale);
  }

  function reAddAll(hubNode: SimNode, hub: SyncEngine): void {
    const entry = readEntry(hub.doc, AUTHORIZED_KEYS_PATH);
    let text = entry ? new TextDecoder().decode(entry.bytes) : "";
    for (const node of devices)
      if (!parseAuthorizedKeys(text).has(node.id)) text = editAuthorizedKeys(text, node.id, true);
    trace.add("heal: hub re-adds every device to authorized_keys");
    write(hubNode, -1, "heal-auth", [
      { type: "put", path: AUTHORIZED_KEYS_PATH, bytes: utf8Encode(text), mtime: hubNode.clock.now() },
    ]);
  }

  // The cluster stands as it did before the run (every hub hears every other), so the vault is
  // placed on its R hubs. The first of them created it; every other node starts empty and clones by
  // sync. `edgesync init` writes authorized_keys with every device of the run in it.
  const hosting = new Set(placement.startSettled());
  const origin = hubs.find((h) => hosting.has(h.id)) as SimNode;
  const created = createVaultDoc({ vaultId, name: "sim", createdAt: now }, actorFor(origin));
  const initialKeys = utf8Encode(formatAuthorizedKeys(nodes.map((n) => n.id)));
  // The vault is on the hub's disk before its agent starts, as `edgesync init` leaves it.
  const initialDoc = applyFileOps(
    created,
    [{ type: "put", path: AUTHORIZED_KEYS_PATH, bytes: initialKeys, mtime: now }],
    { time: now, by: origin.id },
  );
  origin.disk.preload([A.save(initialDoc)]);
  // Every hub's catalogue holds the vault's entry as init made it (the others by hub import).
  const catalogue = new SimCatalogue(
    {
      queue,
      now: () => now,
      hubNow: (hub) => nodeOf(hub).clock.now(),
      trace: (line) => trace.add(line),
      rng: catalogueRng,
      hubs: hubs.map((h) => h.id),
      isUp: (hub) => !bus.hubsDown.has(hub),
      canHear: (from, to) => bus.canPass(from, to),
      dropPerMille: () => bus.faults.dropPerMille,
      push: pushEntry,
    },
    new TextDecoder().decode(initialKeys),
    A.getHeads(initialDoc),
    origin.clock.now(),
  );
  catalogue.holdUntilSettled = !(options.noSettle ?? false);
  // The other hubs hold the vault's registration (hub import) but no replica yet: those the vault
  // is placed on clone it over the routes. Every device's link is up to its home hub from the start.
  cluster.linkAll();
  for (const node of nodes) {
    if (isHub(node) && !hosting.has(node.id)) continue;
    if (node !== origin) boot(node, loadDoc([], actorFor(node)));
    else {
      const store = origin.disk.open();
      boot(origin, loadDoc(await store.load(), actorFor(origin)), store);
    }
  }

  const settle = async () => {
    // Lets every promise chain the last event started run to its next simulated wait.
    // eslint-disable-next-line no-restricted-globals -- the simulator's "drain microtasks" step, not a clock
    await new Promise((resolve) => setImmediate(resolve));
  };

  const textOf = (node: SimNode, path: string) => {
    const entry = node.engine ? readEntry(node.engine.doc, path) : undefined;
    return entry ? new TextDecoder().decode(entry.bytes) : undefined;
  };

  /**
   * Records a write for the reference model and hands it to the engine, tagged `w<id>` in its change
   * message; `baseHeads` makes it a change on that older state (an edit made offline from a base).
   */
  function write(
    node: SimNode,
    step: number,
    kind: string,
    ops: FileOp[],
    baseHeads?: A.Heads,
  ): WriteRecord | undefined {
    const engine = node.engine;
    if (!engine || !isReady(engine.doc)) return undefined;
    const id = nextWriteId++;
    const effects = new Map<string, Uint8Array | null>();
    for (const op of ops) {
      if (op.type === "put" && decodeTextOrUndefined(op.bytes) === undefined)
        binaries.set(sha256Hex(op.bytes), op.bytes);
      effects.set(
        op.path.normalize("NFC"),
        op.type === "put" ? op.bytes : op.type === "link" ? (binaries.get(op.blob) ?? null) : null,
      );
    }
    const record: WriteRecord = { id, tag: `w${id}`, node: node.id, step, kind, effects, acked: false, noop: false };
    records.push(record);
    trace.add(
      `write ${record.tag} ${kind} on ${node.id}: ${[...effects.keys()].join(", ")}${baseHeads ? " (on a shared base)" : ""}`,
    );
    const done = baseHeads ? engine.changeAt(baseHeads, ops, record.tag) : engine.change(ops, record.tag);
    done.then(
      (paths) => {
        if (paths.length === 0) record.noop = true;
        else if (node.engine === engine) acknowledge(node, engine, record);
      },
      (error: unknown) => trace.add(`write ${record.tag} failed: ${String(error)}`),
    );
    return record;
  }

  function acknowledge(node: SimNode, engine: SyncEngine, record: WriteRecord): void {
    record.acked = true;
    acked.push({ node: node.id, heads: A.getHeads(engine.doc), step: record.step, at: now });
    const removed = removalOf.get(record);
    const change = removed === undefined ? undefined : changeTagged(engine.doc, record.tag);
    if (removed !== undefined && change !== undefined)
      removals.push({ device: removed, heads: [change], tag: record.tag });
    stats.acked++;
  }

  /**
   * One workload step. Its draws come from its own stream (forked before the run), and it picks its
   * node by index whatever is running: leaving a step out (minimisation) changes no other step.
   */
  async function workloadStep(step: number, workloadRng: Prng, faultRng: Prng, clusterRng: Prng): Promise<void> {
    const node = nodes[workloadRng.int(0, nodes.length - 1)];
    const kind = workloadRng.int(0, 99);
    const path = workloadRng.pick(PATHS);
    const target = workloadRng.pick(PATHS);
    const paragraph = workloadRng.int(0, 7);
    trace.add(`step ${step} ${node.id} kind ${kind} ${path}`);
    if (options.skip?.has(step)) return;
    // A fault of the cluster comes on top of the step's own action, from the step's own stream.
    if (hubCount > 1 && level !== "none" && clusterRng.chance(1, CLUSTER_FAULT_ONE_IN))
      clusterFault(node, step, clusterRng);
    if (node.engine === undefined) return;
    const engine = node.engine;
    const doc = engine.doc;
    if (!isReady(doc)) return;
    const mtime = node.clock.now();
    if (kind < 30) {
      write(node, step, "create", [{ type: "put", path, bytes: utf8Encode(newText(nextWriteId, path)), mtime }]);
    } else if (kind < 45) {
      const current = textOf(node, path);
      const text =
        current === undefined ? newText(nextWriteId, path) : editParagraph(current, paragraph, nextWriteId, node.id);
      write(node, step, "edit", [{ type: "put", path, bytes: utf8Encode(text), mtime }]);
    } else if (kind < 48) {
      write(node, step, "create-binary", [
        { type: "put", path: `img/${path.replace(/\W/g, "_")}.bin`, bytes: newBinary(nextWriteId), mtime },
      ]);
    } else if (kind < 57) {
      if (readEntry(doc, path) === undefined) return;
      write(node, step, "delete", [{ type: "delete", path }]);
    } else if (kind < 63) {
      const entry = readEntry(doc, path);
      if (!entry || target === path) return;
      const moved: FileOp =
        entry.blob !== undefined
          ? { type: "link", path: target, blob: entry.blob, size: entry.size, mtime }
          : { type: "put", path: target, bytes: entry.bytes ?? new Uint8Array(), mtime };
      write(node, step, "rename", [{ type: "delete", path }, moved]);
    } else if (kind < 75) {
      concurrentEdit(step, path, workloadRng);
    } else if (kind < 79) {
      restore(node, step, workloadRng.int(0, 20_000));
    } else if (kind < 82) {
      // A failed save rejects (the label stays in the doc and is stored on a later tick): noted, not unhandled.
      engine
        .update((d, t) => setLabel(d, `label-${step}`, A.getHeads(d), { time: t, by: node.id }))
        .catch((error: unknown) => trace.add(`label-${step} on ${node.id} failed: ${String(error)}`));
    } else if (kind < 85) {
      // A path that climbs out of the vault or names our state folder: the model must refuse it.
      const bad = BAD_PATHS[paragraph % BAD_PATHS.length];
      engine.change([{ type: "put", path: bad, bytes: utf8Encode("must never be stored"), mtime }]).then(
        () => violations.push(`${node.id} accepted a write to ${JSON.stringify(bad)}`),
        () => trace.add(`refused ${JSON.stringify(bad)} on ${node.id}`),
      );
    } else if (kind < 91 && level !== "none") {
      crash(node, step, faultRng, clusterRng);
    } else if (kind < 95 && level !== "none") {
      // An authorized_keys edit on this device: remove or add one device (never a hub: hubs sign in
      // with the cluster's key, which the file does not list).
      const device = nodes[faultRng.int(1, nodes.length - 1)];
      const add = faultRng.chance(1, 2);
      if (isHub(device)) return;
      const text = textOf(node, AUTHORIZED_KEYS_PATH) ?? "";
      if (parseAuthorizedKeys(text).has(device.id) === add) return;
      const record = write(node, step, add ? "auth-add" : "auth-remove", [
        { type: "put", path: AUTHORIZED_KEYS_PATH, bytes: utf8Encode(editAuthorizedKeys(text, device.id, add)), mtime },
      ]);
      if (record && !add) removalOf.set(record, device.id);
    } else if (level !== "none") {
      networkFault(node, faultRng);
    }
  }

  /** Restores the vault to how it was `backMs` ago by the device's clock, recording what it rewrote. */
  function restore(node: SimNode, step: number, backMs: number): void {
    const engine = node.engine as SyncEngine;
    const id = nextWriteId++;
    const record: WriteRecord = {
      id,
      tag: `w${id}`,
      node: node.id,
      step,
      kind: "restore",
      effects: new Map(),
      acked: false,
      noop: false,
    };
    records.push(record);
    trace.add(`write ${record.tag} restore on ${node.id} to ${backMs} ms ago`);
    engine
      .update((d, time) => {
        const heads = headsAt(d, time - backMs);
        // Restoring to before the vault existed would empty it, authorized_keys included: the CLI refuses.
        if (heads.length === 0) return d;
        const result = restoreTo(d, heads, { time, by: node.id, message: record.tag });
        for (const path of result.changed) {
          const entry = readEntry(result.doc, path);
          record.effects.set(path, entry?.bytes ?? binaries.get(entry?.blob ?? "") ?? null);
        }
        return result.doc;
      })
      .then(
        () => {
          if (record.effects.size === 0) record.noop = true;
          else if (node.engine === engine) acknowledge(node, engine, record);
        },
        (error: unknown) => trace.add(`write ${record.tag} failed: ${String(error)}`),
      );
  }

  /**
   * Two or three devices that hold the file edit it at the same moment from the same base (devices
   * editing offline): different paragraphs must merge cleanly, the same paragraph keeps both sides.
   */
  function concurrentEdit(step: number, path: string, workloadRng: Prng): void {
    const count = workloadRng.chance(1, 4) ? 3 : 2;
    const picked = [...new Set(Array.from({ length: count }, () => nodes[workloadRng.int(0, nodes.length - 1)]))];
    const paragraphs = picked.map(() => workloadRng.int(0, 7));
    const writers = picked.filter((n) => textOf(n, path) !== undefined);
    if (writers.length < 2) return;
    const base = A.getHeads((writers[0].engine as SyncEngine).doc);
    for (const [k, writer] of writers.entries()) {
      const doc = (writer.engine as SyncEngine).doc;
      const shared = A.hasHeads(doc, base);
      const entry = readEntry(shared ? A.view(doc, base) : doc, path);
      const text = entry?.bytes ? decodeTextOrUndefined(entry.bytes) : undefined;
      if (text === undefined) continue;
      const edited = editParagraph(text, paragraphs[k], nextWriteId, writer.id);
      write(
        writer,
        step,
        "concurrent-edit",
        [{ type: "put", path, bytes: utf8Encode(edited), mtime: writer.clock.now() }],
        shared ? base : undefined,
      );
    }
  }

  /** A node's process dies (a hub's whether or not it hosts the vault: its server goes with it). */
  function crash(node: SimNode, step: number, faultRng: Prng, clusterRng: Prng, downMs?: number): void {
    if (isHub(node) ? bus.hubsDown.has(node.id) : node.engine === undefined) return;
    bus.detach(node.id);
    if (isHub(node)) {
      cluster.hubDown(node.id, clusterRng);
      placement.crashed(node.id);
      catalogue.crashed(node.id);
      noteStoreGap(node);
    }
    node.engine = undefined;
    node.stopping = undefined;
    node.incarnation++;
    const outcome = node.disk.crash();
    stats.crashes++;
    trace.add(`crash ${node.id} lost ${outcome.lost} torn ${outcome.torn} landed ${outcome.landed} at step ${step}`);
    queue.push(now + (downMs ?? faultRng.int(500, 10_000)), `restart ${node.id}`, async () => restart(node));
  }

  async function restart(node: SimNode): Promise<void> {
    if (isHub(node)) return restartHub(node);
    if (node.engine !== undefined) return;
    const opened = await loadFromDisk(node, "restart");
    // Booted in the same step as the link's resync below: an await between them would reorder the
    // engine's start and its resync, and with it every seed's run.
    boot(node, ...opened);
    // The device's own nats-server links to its hub again, and the hub's agent sees the link.
    const hub = bus.linkedTo(node.id);
    if (hub !== undefined) bus.reconnected(hub);
  }

  /** What the node's own disk holds, to boot its engine on (a restart, or a hub entering the placement). */
  async function loadFromDisk(node: SimNode, why: string): Promise<[Doc, DocStore, BlobStore]> {
    const store = node.disk.open();
    const blobs = node.disk.openBlobs();
    let doc: Doc;
    try {
      doc = loadDoc(await store.load(), actorFor(node));
    } catch (error) {
      violations.push(`${node.id} cannot load its own store at its ${why}: ${String(error).slice(0, 160)}`);
      doc = loadDoc([], actorFor(node));
    }
    trace.add(`${why} ${node.id} heads ${A.getHeads(doc).join(",").slice(0, 16)}`);
    return [doc, store, blobs];
  }

  /**
   * A hub's process is back. It has heard no other hub yet, so by its own view the vault is placed
   * on it: it opens the replica from its disk, then its server's routes and leaf links come up
   * (dst/sim-cluster.ts). The next heartbeats tell it whether it stays in the placement.
   */
  async function restartHub(node: SimNode): Promise<void> {
    if (!bus.hubsDown.has(node.id)) return;
    if (placement.restarted(node.id)) boot(node, ...(await loadFromDisk(node, "restart")));
    cluster.hubUp(node.id);
    catalogue.restarted(node.id);
  }

  /** A hub entered the placement: it opens its replica from its disk, after the one it stopped, if any. */
  function openReplica(node: SimNode): void {
    if (node.engine !== undefined) return; // still running in its grace
    const incarnation = node.incarnation;
    const wanted = () => node.incarnation === incarnation && node.engine === undefined && placement.hosting(node.id);
    void (node.stopping ?? Promise.resolve()).then(async () => {
      if (!wanted()) return;
      const opened = await loadFromDisk(node, "open replica");
      if (wanted()) boot(node, ...opened);
    });
  }

  /**
   * A hub's replica about to crash with no write pending: does its disk, loaded, hold all the
   * replica held? A gap is a violation: what the replica acknowledged must survive its crash. (It
   * was counted only, while snapshots' A.save moved the saveIncremental mark the engine saved by.)
   */
  function noteStoreGap(node: SimNode): void {
    if (node.engine === undefined || node.disk.pendingWrites > 0) return;
    const onDisk = loadDoc(node.disk.durableChunks(), CHECK_ACTOR);
    const missing = A.getMissingDeps(onDisk, []);
    if (A.hasHeads(onDisk, A.getHeads(node.engine.doc))) return;
    stats.storeGaps++;
    violations.push(`store gap: ${node.id}'s disk lacks changes its replica held, with nothing pending`);
    const first = missing.length > 0 ? A.inspectChange(node.engine.doc, missing[0]) : null;
    trace.add(
      `store gap: ${node.id}'s disk lacks changes its replica held, nothing pending` +
        (first ? `; the log waits on ${missing[0].slice(0, 8)} (${first.message ?? "no message"}), never stored` : ""),
    );
  }

  /** A hub's grace is over outside the placement: its replica saves and stops; its disk copy stays. */
  function stopReplica(node: SimNode): void {
    const engine = node.engine;
    if (engine === undefined) return;
    node.engine = undefined;
    trace.add(`stop replica ${node.id} heads ${A.getHeads(engine.doc).join(",").slice(0, 16)}`);
    const incarnation = node.incarnation;
    node.stopping = engine.stop().then(
      () => {
        // Its disk copy stays, and holds everything the replica held: a later entry opens from it.
        if (node.incarnation !== incarnation) return;
        let lacks: string | undefined;
        try {
          const onDisk = loadDoc(node.disk.durableChunks(), CHECK_ACTOR);
          if (!A.hasHeads(onDisk, A.getHeads(engine.doc))) lacks = "lacks changes the replica held";
        } catch (error) {
          lacks = `cannot be loaded: ${String(error).slice(0, 120)}`;
        }
        if (lacks) violations.push(`placement: ${node.id}'s replica stopped, and its disk copy ${lacks}`);
      },
      (error: unknown) => trace.add(`stop ${node.id} failed: ${String(error)}`),
    );
  }

  /**
   * A fault of the cluster itself (only with two hubs or more): a route cut (or all of one hub's, so
   * it leaves the cluster), a leaf's failover, a hub's crash.
   */
  function clusterFault(node: SimNode, step: number, clusterRng: Prng): void {
    const kind = clusterRng.int(0, 2);
    if (kind === 0 && clusterRng.chance(1, 3)) cluster.isolateHub(clusterRng);
    else if (kind === 0) cluster.cutRoute(clusterRng);
    else if (kind === 1) cluster.failover(isHub(node) ? clusterRng.pick(devices).id : node.id, clusterRng);
    else crash(clusterRng.pick(hubs), step, clusterRng, clusterRng);
  }

  function networkFault(node: SimNode, faultRng: Prng): void {
    if (level === "hostile" && jumpRng.chance(1, 5)) {
      // An NTP step or a laptop waking: the node's wall clock jumps (history times carry it).
      const delta = jumpRng.int(-30_000, 30_000);
      node.clock.jump(delta);
      trace.add(`clock ${node.id} jumps ${delta} ms`);
      return;
    }
    const other = faultRng.pick(nodes.filter((n) => n !== node));
    const kind = faultRng.int(0, 2);
    const until = now + faultRng.int(1_000, 10_000);
    if (kind === 0 && !isHub(node)) {
      bus.linkDown.add(node.id);
      trace.add(`link down ${node.id}`);
      queue.push(until, `link up ${node.id}`, () => {
        bus.linkDown.delete(node.id);
        bus.reconnected(node.id);
        const hub = bus.linkedTo(node.id);
        if (hub !== undefined) bus.reconnected(hub);
      });
    } else {
      const keys = kind === 1 ? [`${node.id}>${other.id}`, `${other.id}>${node.id}`] : [`${node.id}>${other.id}`];
      for (const k of keys) bus.blocked.add(k);
      trace.add(`partition ${keys.join(" ")}`);
      queue.push(until, `heal ${keys.join(" ")}`, () => {
        for (const k of keys) bus.blocked.delete(k);
      });
    }
  }

  // Schedule: ticks for every node, workload steps, the heal.
  for (let t = TICK_MS; t <= WORKLOAD_MS + HEAL_MS; t += TICK_MS) {
    for (const node of nodes)
      queue.push(now + t + (nodes.indexOf(node) % 7), `tick ${node.id}`, () => void node.engine?.tick());
  }
  // Hub agents' heartbeats (a lone hub hears nobody and always hosts its vaults).
  if (hubCount > 1)
    for (let t = HEARTBEAT_INTERVAL_MS; t <= WORKLOAD_MS + HEAL_MS; t += HEARTBEAT_INTERVAL_MS)
      queue.push(now + t + 3, "heartbeats", () => placement.heartbeat());
  const stepTimes = Array.from({ length: steps }, () => workloadRng.int(2_000, WORKLOAD_MS)).sort((a, b) => a - b);
  const stepStreams = stepTimes.map(
    (_, step) =>
      [workloadRng.fork(`step ${step}`), faultRng.fork(`step ${step}`), clusterFaultRng.fork(`step ${step}`)] as const,
  );
  stepTimes.forEach((t, step) => queue.push(now + t, `step ${step}`, () => workloadStep(step, ...stepStreams[step])));
  const ranked = rankHubs(
    vaultId,
    hubs.map((h) => h.id),
  );
  const scriptRng = root.fork("script");
  for (const scripted of options.script ?? []) {
    if ("probe" in scripted) queue.push(now + scripted.atMs, `probe ${scripted.probe}`, () => probe(scripted.probe));
    else {
      const hub = nodeOf(ranked[scripted.crashRank] as PeerId);
      queue.push(now + scripted.atMs, `scripted crash ${hub.id}`, () =>
        crash(hub, -1, scriptRng, scriptRng, scripted.downMs),
      );
    }
  }

  function probe(label: string): void {
    const loaded = hubs.filter((h) => h.engine !== undefined);
    const missing = loaded.flatMap((hub) =>
      acked
        .filter((ack) => !A.hasHeads((hub.engine as SyncEngine).doc, ack.heads))
        .map((ack) => ({ hub: hub.id as string, by: ack.node as string, ackedAtMs: ack.at - startedAt })),
    );
    probes.push({
      label,
      atMs: now - startedAt,
      ranked,
      loaded: loaded.map((h) => h.id),
      missing,
      acked: acked.length,
    });
  }
  const healAt = now + WORKLOAD_MS + 1;
  queue.push(healAt, "heal", async () => {
    trace.add("heal");
    bus.faults = FAULTS.none;
    setBuggifyDecider(undefined);
    bus.blocked.clear();
    bus.linkDown.clear();
    healed = true;
    for (const node of nodes) if (node.engine === undefined) await restart(node);
    cluster.heal();
    for (const hub of hubs) hubAuthorisedKeysChanged(hub);
    for (const node of nodes) bus.reconnected(node.id);
  });

  const end = now + WORKLOAD_MS + HEAL_MS;
  try {
    while (queue.size > 0 && (queue.peekTime() as number) <= end) {
      const event = queue.pop()!;
      now = event.time;
      stats.events++;
      trace.add(`${event.time - 1_700_000_000_000} ${event.label}`);
      await event.run();
      await settle();
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
      trace.add(`${event.time - 1_700_000_000_000} ${event.label}`);
      await event.run();
      await settle();
    }
  }

  function checkInvariants(): void {
    const placed = new Set(
      placeVault(
        vaultId,
        hubs.map((h) => h.id),
        replicas,
      ),
    );
    checkPlacement(placed);
    const referenceNode = nodes.find((n) => n.engine !== undefined && (!isHub(n) || placed.has(n.id)));
    if (referenceNode === undefined) {
      violations.push("no node is running after the heal");
      return;
    }
    const reference = referenceNode.engine as SyncEngine;
    const refHeads = [...A.getHeads(reference.doc)].sort().join(",");
    const refFiles = JSON.stringify([...fileHashes(reference.doc)].sort());
    for (const node of nodes) {
      const engine = node.engine;
      if (isHub(node) && !placed.has(node.id)) continue; // checkPlacement: it must run no replica
      if (!engine) {
        violations.push(`${node.id} is not running after the heal`);
        continue;
      }
      const heads = [...A.getHeads(engine.doc)].sort().join(",");
      if (heads !== refHeads)
        violations.push(
          `liveness: ${node.id} heads ${heads.slice(0, 16)} differ from ${referenceNode.id}'s ${refHeads.slice(0, 16)} ${HEAL_MS} ms after the heal`,
        );
      else if (JSON.stringify([...fileHashes(engine.doc)].sort()) !== refFiles) {
        const mine = fileHashes(engine.doc);
        const theirs = fileHashes(reference.doc);
        const differing = [...new Set([...mine.keys(), ...theirs.keys()])].filter((p) => mine.get(p) !== theirs.get(p));
        violations.push(`${node.id} has the same heads but different files: ${differing.join(", ")}`);
      }
      for (const path of listStored(engine.doc).keys())
        if (normaliseVaultPath(path) !== path) violations.push(`non-canonical path ${JSON.stringify(path)}`);
      // Identical bytes everywhere: every binary the converged files show is in this node's blob store.
      for (const [path, rev] of listStored(engine.doc)) {
        const hash = blobOf(rev);
        if (hash === undefined) continue;
        const held = node.disk.peekBlob(hash);
        if (held === undefined)
          violations.push(
            `liveness: ${node.id} lacks the blob of ${path} (${hash.slice(0, 8)}) ${HEAL_MS} ms after the heal`,
          );
        else if (sha256Hex(held) !== hash)
          violations.push(`${node.id} holds corrupt bytes for blob ${hash.slice(0, 8)} of ${path}`);
      }
    }
    for (const ack of acked) {
      for (const node of nodes) {
        if (node.engine && !A.hasHeads(node.engine.doc, ack.heads)) {
          const tookOver = placement.takeovers.find((t) => t.hub === node.id);
          violations.push(
            `lost write: change acknowledged by ${ack.node} at step ${ack.step} is missing on ${node.id}` +
              (tookOver ? ` (a replica that took the vault over, at ${tookOver.at - startedAt} ms)` : ""),
          );
          break;
        }
      }
    }
    // The reference model judges the converged files (only meaningful once the nodes agree).
    if (violations.length === 0)
      for (const v of checkReference(reference.doc, records, binaries)) violations.push(`reference: ${v}`);
    trace.add(`final ${refHeads}`);
  }

  /**
   * After the heal has settled and every grace has run out (the drain runs the grace timers, in
   * simulated time): every hub agrees on the placement over all hubs, and exactly the R placed hubs
   * run a replica.
   */
  function checkPlacement(placed: ReadonlySet<string>): void {
    const loaded = hubs
      .filter((h) => h.engine !== undefined)
      .map((h) => h.id)
      .sort();
    const deciding = hubs
      .filter((h) => placement.hosting(h.id))
      .map((h) => h.id)
      .sort();
    const expected = [...placed].sort().join(",");
    if (deciding.join(",") !== expected)
      violations.push(`placement: hubs deciding they host the vault are ${deciding.join(",")}, expected ${expected}`);
    if (loaded.join(",") !== expected)
      violations.push(
        `placement: replicas loaded after the heal and every grace on ${loaded.join(",") || "no hub"}, expected exactly ${replicas} on ${expected}`,
      );
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

  Object.assign(stats, {
    ...cluster.stats,
    ...placement.stats,
    ...catalogue.stats,
    delivered: bus.stats.delivered,
    dropped: bus.stats.dropped,
    duplicated: bus.stats.duplicated,
  });
  options.onTrace?.(trace.lines);
  const traceHash = trace.digest();
  return {
    seed: options.seed,
    options: { nodes: nodeCount, hubs: hubCount, replicas, steps, ticks, faults: level },
    traceHash,
    plantedBug: options.plantedBug ?? false,
    violations: [...new Set(violations)],
    probes,
    stats,
  };
}

/** A version-4-shaped UUID from 32 hex digits (a vault id as `edgesync init` makes one). */
function uuidOf(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The hash of the change whose message is `tag`, searched back from the heads (a recent change). */
function changeTagged(doc: Doc, tag: string, changesMax = 200): string | undefined {
  const queue = [...A.getHeads(doc)];
  const seen = new Set<string>();
  while (queue.length > 0 && seen.size < changesMax) {
    const hash = queue.shift() as string;
    if (seen.has(hash)) continue;
    seen.add(hash);
    const change = A.inspectChange(doc, hash);
    if (!change) continue;
    if (change.message === tag) return hash;
    queue.push(...change.deps);
  }
  return undefined;
}
