import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runSeed, replayCommand } from "./run-seeds.js";
import { simulate, type FaultLevel } from "./simulation.js";
import { Prng } from "./random.js";
import { EventQueue } from "./event-queue.js";
import { SimBus } from "./sim-bus.js";
import { runTransportContract } from "../agent/sync/transport-contract.js";
import { asPeerId } from "../agent/sync/ports.js";

const LEVELS: FaultLevel[] = ["none", "adversarial", "hostile"];
const SEEDS = 201;

describe("dst", () => {
  it(`runs ${SEEDS} seeds across the three fault levels and 1–3 hubs without a violation, each replay with an equal trace hash`, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const faults = LEVELS[seed % 3];
      const { result, deterministic } = await runSeed({ seed, faults });
      if (!deterministic) failures.push(`seed ${seed} ${faults}: replay hash differs`);
      for (const v of result.violations) failures.push(`seed ${seed} ${faults}: ${v} — ${replayCommand(result)}`);
    }
    assert.deepEqual(failures, []);
  });

  it("keeps every file of Automerge's backend in its view through a concurrent put and delete (seed 0x13a6)", async () => {
    const result = await simulate({ seed: 0x13a6, faults: "hostile", hubs: 1 });
    assert.deepEqual(result.violations, []);
  });

  it("converges when three devices resolve one overlap pairwise in different orders (seed 0x3)", async () => {
    const result = await simulate({ seed: 0x3, faults: "none", nodes: 7, hubs: 1, ticks: 41, steps: 38 });
    assert.deepEqual(result.violations, []);
  });

  it("loads its own store after a failed disk write: no later chunk depends on the lost one (seed 0x2, hostile)", async () => {
    const result = await simulate({ seed: 0x2, faults: "hostile", nodes: 4, hubs: 1, ticks: 44, steps: 40 });
    assert.deepEqual(result.violations, []);
  });

  it("takes later sync messages after a failed blob write on a local change (seed 0x2369, hostile)", async () => {
    const result = await simulate({ seed: 0x2369, faults: "hostile", nodes: 5, hubs: 1, ticks: 64, steps: 10 });
    assert.deepEqual(result.violations, []);
  });

  it("keeps its invariants on three hubs through hub crashes, route cuts and leaf failovers (seed 0x2, hostile)", async () => {
    const result = await simulate({ seed: 0x2, faults: "hostile", nodes: 4, hubs: 3, ticks: 44, steps: 40 });
    assert.deepEqual(result.violations, []);
    assert.ok(
      result.stats.hubCrashes > 0 && result.stats.routeCuts > 0 && result.stats.failovers > 0,
      JSON.stringify(result.stats),
    );
  });

  it("gives two different seeds different traces", async () => {
    const [a, b] = await Promise.all([
      simulate({ seed: 1, faults: "hostile" }),
      simulate({ seed: 2, faults: "hostile" }),
    ]);
    assert.notEqual(a.traceHash, b.traceHash);
  });
});

describe("Prng", () => {
  it("repeats its sequence for one seed and forks independent streams by label", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    assert.deepEqual([a.u32(), a.u32(), a.int(0, 9)], [b.u32(), b.u32(), b.int(0, 9)]);
    assert.notEqual(new Prng(42).fork("network").u32(), new Prng(42).fork("disk").u32());
  });
});

runTransportContract("SimBus", async () => {
  let now = 0;
  const queue = new EventQueue();
  const bus = new SimBus(
    queue,
    new Prng(7),
    () => now,
    () => {},
  );
  const [a, b, c] = ["a", "b", "c"].map((id) => bus.transport(asPeerId(id)));
  return {
    a,
    b,
    c,
    settle: async () => {
      for (let event = queue.pop(); event; event = queue.pop()) {
        now = event.time;
        await event.run();
      }
    },
    teardown: async () => {},
  };
});
