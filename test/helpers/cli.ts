/**
 * E2E helpers: run the built `edgesync` binary in temp folders with its own EDGESYNC_HOME. Waiting
 * for a condition is wait.ts.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, readFile, readdir, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const BIN = resolve("dist/cmd/edgesync.js");

export function assertBuilt(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does it first)`);
}

export interface Sandbox {
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

/** A temp folder with its own EDGESYNC_HOME (so each device has its own key). */
export async function sandbox(label = "e2e"): Promise<Sandbox> {
  assertBuilt();
  const dir = await mkdtemp(join(tmpdir(), `es-${label}-`));
  const home = join(dir, "home");
  const env = {
    ...process.env,
    EDGESYNC_HOME: home,
    HOME: home,
    NO_COLOR: "1",
    EDGESYNC_LOG_LEVEL: process.env.EDGESYNC_LOG_LEVEL ?? "info",
  };
  return { dir, home, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number },
): RunResult {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    env: options.env,
    cwd: options.cwd,
    input: options.input ?? "",
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Starts a long-running edgesync process; its stderr is kept for failure messages. `prefix` is a
 * command that execs the rest (e.g. setpriv), so the child's pid is still edgesync's.
 */
export function start(
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; prefix?: string[] },
): ChildProcess & { output: () => string } {
  const [command, ...commandArgs] = [...(options.prefix ?? []), process.execPath, BIN, ...args];
  const child = spawn(command, commandArgs, { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-200_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return Object.assign(child, { output: () => output });
}

/**
 * `run` without blocking this process: for commands that talk to something the test itself
 * serves (a relay, a fake server), which spawnSync would freeze.
 */
export async function runAsync(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<RunResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: options.env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number>((resolve) => child.once("close", (c) => resolve(c ?? 1)));
  return { code, stdout, stderr };
}

export async function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export const readText = (path: string) => readFile(path, "utf8").catch(() => undefined);
export const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Every file under `dir` (relative, sorted), skipping .edgesync. */
export async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (rel === ".edgesync") continue;
    if (entry.isDirectory()) out.push(...(await listTree(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}
