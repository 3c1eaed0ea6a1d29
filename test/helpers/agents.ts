/** Starting real agents (each with its own nats-server child) for e2e tests. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { start, waitFor, run, type Sandbox } from "./cli.js";
import type { ChildProcess } from "node:child_process";

export interface AgentInfo {
  pid: number;
  natsPid?: number;
  natsUrl: string;
  ports?: { client: number; leafnode?: number; cluster?: number };
}

export type RunningAgent = ChildProcess & { output: () => string; home: string; info: AgentInfo };

export function deviceEnv(box: Sandbox, name: string): NodeJS.ProcessEnv {
  return { ...box.env, EDGESYNC_HOME: join(box.dir, `${name}-home`), HOME: join(box.dir, `${name}-home`) };
}

/** Starts `edgesync sync start …` and waits until its agent.json says it runs. */
export async function startAgent(box: Sandbox, name: string, args: string[]): Promise<RunningAgent> {
  const env = deviceEnv(box, name);
  const home = env.EDGESYNC_HOME as string;
  const child = start(["sync", "start", ...args], { env });
  let info: AgentInfo | undefined;
  await waitFor(`agent ${name} to start`, async () => {
    if (child.exitCode !== null) throw new Error(`agent ${name} exited ${child.exitCode}:\n${child.output()}`);
    // A half-written file (an older agent writing it in place) reads as "not yet".
    info = await readFile(join(home, "agent.json"), "utf8").then((t) => JSON.parse(t) as AgentInfo).catch(() => undefined);
    return info !== undefined && info.pid === child.pid;
  }, 30_000, () => child.output());
  return Object.assign(child, { home, info: info as AgentInfo });
}

export function cli(box: Sandbox, name: string, args: string[]) {
  return run(args, { env: deviceEnv(box, name) });
}

export const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
