/**
 * A throwaway nats-server for the auth tests: a config written to a temp dir (`port: -1` on
 * loopback plus whatever the test adds), readiness and the port read from the server's own log
 * lines, raced against an early exit. Not for production: agent/nats/supervisor.ts is.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findNatsServer } from "../../agent/nats/binary.js";

export interface TestNatsServer {
  port: number;
  url: string;
  /** Everything the server logged so far (bounded). */
  log(): string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const LOG_CHARS_MAX = 256 * 1024;

/** Starts nats-server with `config` (appended after `port: -1` / `host: 127.0.0.1`) from `dir`. */
export async function startTestNatsServer(dir: string, config: string, name = "test"): Promise<TestNatsServer> {
  const { path } = await findNatsServer();
  const configFile = join(dir, `${name}.conf`);
  await writeFile(
    configFile,
    `host: "127.0.0.1"\nport: -1\nserver_name: ${JSON.stringify(name)}\nports_file_dir: ${JSON.stringify(dir)}\n${config}\n`,
  );
  const child = spawn(path, ["-c", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString("utf8")).slice(-LOG_CHARS_MAX);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`nats-server did not become ready in ${START_TIMEOUT_MS} ms:\n${log}`)),
      START_TIMEOUT_MS,
    );
    const check = () => {
      const match = /Listening for client connections on [^\s]+:(\d+)/.exec(log);
      if (match && log.includes("Server is ready")) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stderr?.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code} before it was ready:\n${log}`));
    });
  }).catch(async (error: unknown) => {
    await stopNatsServer(child);
    throw error;
  });
  return { port, url: `nats://127.0.0.1:${port}`, log: () => log, stop: () => stopNatsServer(child) };
}

/** Stops a nats-server child: SIGINT, its clean shutdown (SIGTERM exits 1), then SIGKILL if it hangs. */
export async function stopNatsServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
