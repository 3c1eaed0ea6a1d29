/**
 * npm run dst -- --seeds 500 [--from N] [--seed 0x…] [--nodes N] [--steps N] [--faults none|adversarial|hostile] [--minimise] [--once]
 * Every seed runs twice; a differing trace hash is a determinism failure. Exit 1 on any failure.
 */
import { runSeed, replayCommand, minimise } from "./run-seeds.js";
import type { FaultLevel } from "./simulation.js";

const LEVELS: FaultLevel[] = ["none", "adversarial", "hostile"];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fail(message: string): never {
  process.stderr.write(`dst: ${message}\n`);
  process.exit(2);
}

const parseNumber = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) fail(`--${name} must be a non-negative integer (hex with 0x allowed)`);
  return n;
};

const seeds = parseNumber("seeds", arg("seeds")) ?? 100;
const single = parseNumber("seed", arg("seed"));
const from = parseNumber("from", arg("from")) ?? 1;
const nodes = parseNumber("nodes", arg("nodes"));
const steps = parseNumber("steps", arg("steps"));
if (nodes !== undefined && (nodes < 2 || nodes > 6)) fail("--nodes must be 2..6");
const faultsArg = arg("faults");
if (faultsArg !== undefined && !LEVELS.includes(faultsArg as FaultLevel)) fail("--faults must be none, adversarial or hostile");
const twice = !process.argv.includes("--once");

const started = Date.now();
let failures = 0;
const list = single !== undefined ? [single] : Array.from({ length: seeds }, (_, i) => i + from);
for (const [i, seed] of list.entries()) {
  const faults = (faultsArg as FaultLevel | undefined) ?? LEVELS[i % LEVELS.length];
  const { result, deterministic } = await runSeed(seed, faults, nodes, steps, false, twice);
  const bad = result.violations.length > 0 || !deterministic;
  if (bad || single !== undefined) {
    console.log(`${bad ? "FAIL" : "ok"} seed 0x${seed.toString(16)} ${JSON.stringify(result.options)} trace ${result.traceHash}`);
    if (!deterministic) console.log("  determinism: the replay produced a different trace hash");
    for (const v of result.violations) console.log(`  ${v}`);
    if (bad) console.log(`  replay: ${replayCommand(result)}`);
  }
  if (bad) {
    failures++;
    if (process.argv.includes("--minimise")) {
      const shrunk = await minimise(seed, result.options.faults, result.options.nodes, result.options.steps);
      console.log(`  minimised: skip steps [${shrunk.skip.join(",")}] → ${result.options.steps - shrunk.skip.length} steps`);
      console.log(`  test case: simulate({ seed: 0x${seed.toString(16)}, faults: "${result.options.faults}", nodes: ${result.options.nodes}, steps: ${result.options.steps}, skip: new Set([${shrunk.skip.join(",")}]) })`);
    }
  }
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`${list.length - failures} passed, ${failures} failed (${list.length} seeds${twice ? ", each run twice" : ""}, ${seconds} s)`);
process.exit(failures > 0 ? 1 : 0);
