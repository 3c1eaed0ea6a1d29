/**
 * npm run dst -- [--seeds N] [--from N] [--seed 0x…] [--nodes N] [--hubs N] [--replicas N] [--ticks N] [--steps N]
 *                [--faults none|adversarial|hostile] [--minimise] [--once] [--trace] [--no-settle]
 * Every seed runs twice; a differing trace hash is a determinism failure. Without --faults the
 * levels rotate by seed. Exit 1 on any failure, 2 on bad arguments.
 */
import { runSeed, replayCommand, describeOptions, hex } from "./run-seeds.js";
import { minimise, testCase } from "./minimise.js";
import { simulate, HUBS_MAX, TICKS_MAX, TICKS_MIN, type FaultLevel } from "./simulation.js";

const LEVELS: FaultLevel[] = ["none", "adversarial", "hostile"];
const FLAGS = new Set(["seeds", "from", "seed", "nodes", "hubs", "replicas", "ticks", "steps", "faults"]);
// --no-settle: restarted hubs push before catching up with the cluster (shows what settling prevents).
const SWITCHES = new Set(["minimise", "once", "trace", "no-settle"]);

function fail(message: string): never {
  process.stderr.write(`dst: ${message}\n`);
  process.exit(2);
}

const args = new Map<string, string>();
const switches = new Set<string>();
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].replace(/^--/, "");
  if (!argv[i].startsWith("--")) fail(`unexpected argument ${JSON.stringify(argv[i])}; flags look like --seeds 500`);
  if (SWITCHES.has(name)) switches.add(name);
  else if (FLAGS.has(name)) {
    if (argv[i + 1] === undefined) fail(`--${name} needs a value`);
    args.set(name, argv[++i]);
  } else fail(`unknown flag --${name}; known: ${[...FLAGS, ...SWITCHES].map((f) => `--${f}`).join(" ")}`);
}

function number(name: string, lo: number, hi: number): number | undefined {
  const value = args.get(name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(value) || !Number.isSafeInteger(n) || n < lo || n > hi)
    fail(`--${name} must be an integer ${lo}..${hi} (hex with 0x allowed), got ${JSON.stringify(value)}`);
  return n;
}

const seeds = number("seeds", 1, 10_000_000) ?? 100;
const single = number("seed", 0, Number.MAX_SAFE_INTEGER);
const from = number("from", 0, Number.MAX_SAFE_INTEGER) ?? 1;
const nodes = number("nodes", 2, 7);
const hubs = number("hubs", 1, HUBS_MAX);
if (hubs !== undefined && nodes !== undefined && hubs > nodes - 1)
  fail(`--hubs must leave one node at least as a device: at most ${nodes - 1} with --nodes ${nodes}`);
const replicas = number("replicas", 1, HUBS_MAX);
if (replicas !== undefined && hubs === undefined)
  fail(`--replicas needs --hubs (the replicas are placed on the run's hubs): add --hubs ${Math.max(replicas, 2)}`);
if (replicas !== undefined && hubs !== undefined && replicas > hubs)
  fail(`--replicas must be at most --hubs (${hubs}), got ${replicas}`);
const ticks = number("ticks", TICKS_MIN, TICKS_MAX);
const steps = number("steps", 0, 10_000);
const faultsArg = args.get("faults");
if (faultsArg !== undefined && !LEVELS.includes(faultsArg as FaultLevel))
  fail(`--faults must be none, adversarial or hostile, got ${JSON.stringify(faultsArg)}`);
const twice = !switches.has("once");

const started = Date.now();
let failures = 0;
const list = single !== undefined ? [single] : Array.from({ length: seeds }, (_, i) => i + from);
for (const [done, seed] of list.entries()) {
  if (done > 0 && done % 500 === 0)
    process.stderr.write(
      `dst: ${done} of ${list.length} seeds, ${failures} failed, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
    );
  const faults = (faultsArg as FaultLevel | undefined) ?? LEVELS[seed % LEVELS.length];
  const options = { seed, faults, nodes, hubs, replicas, ticks, steps, noSettle: switches.has("no-settle") };
  const { result, deterministic, replayHash } = await runSeed(options, twice);
  const bad = result.violations.length > 0 || !deterministic;
  if (bad || single !== undefined) {
    console.log(`${bad ? "FAIL" : "ok"} seed ${hex(seed)} ${describeOptions(result)} trace sha256 ${result.traceHash}`);
    if (!deterministic) console.log(`  determinism: the replay's trace hash was ${replayHash}`);
    for (const v of result.violations) console.log(`  violation: ${v}`);
    console.log(`  replay: ${replayCommand(result)}`);
  }
  if (switches.has("trace") && single !== undefined)
    await simulate({ ...options, onTrace: (lines) => console.log(lines.join("\n")) });
  if (bad) {
    failures++;
    if (switches.has("minimise") && result.violations.length > 0) {
      const shrunk = await minimise(options);
      console.log(
        `  minimised to ${shrunk.keep.length} of ${result.options.steps} steps in ${shrunk.runs} runs; as a test case:`,
      );
      console.log(testCase(shrunk).replace(/^/gm, "    "));
    }
  }
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(
  `${list.length - failures} passed, ${failures} failed (${list.length} seeds from ${hex(list[0])}${twice ? ", each run twice" : ""}, ${seconds} s)`,
);
process.exit(failures > 0 ? 1 : 0);
