/**
 * Soak run (issue 8): a hub and two leaves — real agents, real nats-servers — under random edits,
 * creates, deletes and renames on both leaves while faults hit them (SIGKILL + restart of a leaf,
 * of the hub, link cuts and partitions through a TCP fault proxy). Once per round (a minute by
 * default) edits stop, faults heal, and the run waits for convergence, then checks that both
 * devices hold identical bytes and exactly the files the soak expects (every write not later
 * overwritten, deleted or renamed away; nothing deleted coming back). Writes a JSON report, prints
 * a summary, exits 1 on any violation.
 *
 *   npm run soak -- --minutes 3 [--seed S] [--report bench/soak.json] [--round-seconds 60]
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseSoakArgs, roundsFor, SoakUsageError, type SoakArgs } from "./soak/args.js";
import { SoakModel, differences, type SoakOp, type Device } from "./soak/model.js";
import { SoakCluster } from "./soak/cluster.js";
import { newReport, check, finish, summary, type SoakReport } from "./soak/report.js";
import { seeded, diskFiles, tempFiles } from "../test/helpers/trial.js";
import { assertBuilt } from "../test/helpers/cli.js";

const CONVERGE_DEADLINE_MS = 180_000;
const SEED_FILES = 30;

type Rng = ReturnType<typeof seeded>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function applyOp(cluster: SoakCluster, op: SoakOp): Promise<void> {
  const root = cluster.dirs[op.device];
  const at = join(root, op.path);
  if (op.kind === "create" || op.kind === "edit") {
    await mkdir(dirname(at), { recursive: true });
    await writeFile(at, op.text);
  } else if (op.kind === "delete") {
    await rm(at);
  } else {
    await mkdir(dirname(join(root, op.to)), { recursive: true });
    await rename(at, join(root, op.to));
  }
}

/** Edits until `until`, a few per second, on random devices (agents up or not). */
async function editPhase(
  cluster: SoakCluster,
  model: SoakModel,
  rng: Rng,
  report: SoakReport,
  until: number,
): Promise<void> {
  while (Date.now() < until) {
    const op = model.plan();
    await applyOp(cluster, op);
    report.edits[op.kind]++;
    report.edits.total++;
    await sleep(20 + rng.int(250));
  }
}

/** One fault at a time until `until`: inject, hold a few seconds, heal. */
async function faultPhase(cluster: SoakCluster, rng: Rng, report: SoakReport, until: number): Promise<void> {
  await sleep(1000 + rng.int(3000));
  while (Date.now() + 8000 < until) {
    const kind = rng.pick(["leafKill", "hubKill", "cut", "partition"] as const);
    const leaf: Device = rng.next() < 0.5 ? "a" : "b";
    report.faults[kind]++;
    report.faults.total++;
    if (kind === "leafKill") await cluster.kill(leaf);
    else if (kind === "hubKill") await cluster.kill("hub");
    else if (kind === "cut") cluster.proxies[leaf].cut();
    else cluster.proxies[leaf].partition();
    await sleep(1500 + rng.int(4000));
    cluster.proxies[leaf].heal();
    await cluster.restartAll();
    await sleep(1000 + rng.int(4000));
  }
}

/** Files `init` makes itself (.gitignore stays local by design) are not the soak's to compare. */
const VAULT_OWN_FILES = new Set([".gitignore", ".syncignore", "authorized_keys"]);
async function soakFiles(root: string): Promise<Map<string, Buffer>> {
  const files = await diskFiles(root);
  for (const path of VAULT_OWN_FILES) files.delete(path);
  return files;
}

const sameBytes = (x: Map<string, Buffer>, y: Map<string, Buffer>) =>
  x.size === y.size && [...x].every(([path, bytes]) => y.get(path)?.equals(bytes) === true);

/** Waits until both leaves hold exactly the model's files; records the checks. Returns false if it never did. */
async function converge(cluster: SoakCluster, model: SoakModel, report: SoakReport, round: number): Promise<boolean> {
  const started = Date.now();
  let last = { a: [] as string[], b: [] as string[], identical: false, temps: [] as string[] };
  while (Date.now() - started < CONVERGE_DEADLINE_MS) {
    const [da, db] = await Promise.all([soakFiles(cluster.dirs.a), soakFiles(cluster.dirs.b)]);
    const temps = [...(await tempFiles(cluster.dirs.a)), ...(await tempFiles(cluster.dirs.b))];
    last = { a: differences(model.files, da), b: differences(model.files, db), identical: sameBytes(da, db), temps };
    if (last.a.length === 0 && last.b.length === 0 && temps.length === 0) break;
    await sleep(100);
  }
  const ms = Date.now() - started;
  const ok = last.a.length === 0 && last.b.length === 0 && last.temps.length === 0;
  if (ok) report.convergenceMs.samples.push(ms);
  check(
    report,
    round,
    "both leaves hold identical bytes",
    last.identical,
    last.identical ? undefined : `after ${ms} ms`,
  );
  check(
    report,
    round,
    "leaf a holds every expected write and nothing deleted",
    last.a.length === 0,
    last.a.join("; ") || undefined,
  );
  check(
    report,
    round,
    "leaf b holds every expected write and nothing deleted",
    last.b.length === 0,
    last.b.join("; ") || undefined,
  );
  check(report, round, "no temp file left behind", last.temps.length === 0, last.temps.join(", ") || undefined);
  const crashes = cluster.crashes.splice(0);
  check(report, round, "no agent exited by itself", crashes.length === 0, crashes.join("; ") || undefined);
  return ok || last.identical;
}

async function soak(args: SoakArgs): Promise<SoakReport> {
  const startedMs = Date.now();
  const rng = seeded(args.seed);
  const model = new SoakModel(rng);
  const report = newReport(args.seed, args.minutes, args.roundSeconds);
  for (let i = 0; i < SEED_FILES; i++) model.plan(); // creates only: the vault starts below filesMin
  const cluster = await SoakCluster.start(model.files);
  try {
    if (!(await converge(cluster, model, report, 0)))
      throw new Error(`the seeded vault never converged: ${report.violations.join("; ")}\n${cluster.detail()}`);
    const rounds = roundsFor(args);
    for (let round = 1; round <= rounds; round++) {
      model.nextRound();
      const until = Date.now() + args.roundSeconds * 750;
      await Promise.all([editPhase(cluster, model, rng, report, until), faultPhase(cluster, rng, report, until)]);
      for (const proxy of Object.values(cluster.proxies)) proxy.heal();
      await cluster.restartAll();
      report.rounds = round;
      if (!(await converge(cluster, model, report, round))) {
        report.violations.push(
          `round ${round}: the leaves disagree; the soak stops (the model no longer describes either)`,
        );
        break;
      }
      if (report.violations.length) {
        // Both leaves agree but not with the model: keep soaking from what they hold.
        const held = await soakFiles(cluster.dirs.a);
        model.reset(new Map([...held].map(([p, b]) => [p, b.toString()])));
      }
      console.log(
        `round ${round}/${rounds}: ${report.edits.total} edits, ${report.faults.total} faults so far, converged in ${report.convergenceMs.samples.at(-1) ?? "—"} ms`,
      );
    }
    report.filesAtEnd = model.files.size;
  } finally {
    await cluster.close();
  }
  return finish(report, startedMs, Date.now());
}

async function main(): Promise<void> {
  let args: SoakArgs;
  try {
    args = parseSoakArgs(process.argv.slice(2), Date.now() % 1_000_000);
  } catch (error) {
    if (error instanceof SoakUsageError) {
      console.error(`soak: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  assertBuilt();
  const report = await soak(args);
  await mkdir(dirname(args.report), { recursive: true });
  await writeFile(args.report, `${JSON.stringify(report, null, 2)}\n`);
  console.log(summary(report, args.report));
  process.exit(report.violations.length ? 1 : 0);
}

await main();
