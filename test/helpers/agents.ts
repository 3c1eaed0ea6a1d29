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
    // agent.json is written in place (not atomically): a read can catch it half-written, or a killed
    // agent's stale copy; only a whole file naming this child counts.
    info = await readFile(join(home, "agent.json"), "utf8").then(parseInfo, () => undefined);
    return info !== undefined && info.pid === child.pid;
  }, 30_000, () => child.output());
  return Object.assign(child, { home, info: info as AgentInfo });
}

function parseInfo(text: string): AgentInfo | undefined {
  try {
    return JSON.parse(text) as AgentInfo;
  } catch {
    return undefined;
  }
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
