/** Finding the nats-server binary, and what its version means for us. */
import { readFile, access, constants } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

export class NatsServerMissingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsServerMissingError";
  }
}

export interface NatsBinary {
  path: string;
  version: string;
  source: string;
}

const CACHE = fileURLToPath(new URL("../../../node_modules/.cache/edgesync/nats-server.json", import.meta.url));
const CACHE_FROM_SOURCE = fileURLToPath(new URL("../../node_modules/.cache/edgesync/nats-server.json", import.meta.url));

const isExecutable = (path: string) => access(path, constants.X_OK).then(() => true, () => false);

export function natsVersion(path: string): string | undefined {
  const r = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000 });
  return r.status === 0 ? parseNatsVersion(`${r.stdout}${r.stderr}`) : undefined;
}

export function parseNatsVersion(text: string): string | undefined {
  return /v?(\d+\.\d+\.\d+)/.exec(text)?.[1];
}

/** CVE-2023-47090 (authorization{} with a system account lets anyone in): fixed in 2.9.23 and 2.10.4. */
export function isCve2023_47090Affected(version: string): boolean {
  const [major, minor, patch] = version.split(".").map(Number);
  if (major !== 2) return major < 2;
  if (minor < 9) return true;
  if (minor === 9) return patch < 23;
  if (minor === 10) return patch < 4;
  return false;
}

/** $EDGESYNC_NATS_SERVER, the path recorded by `npm install`, then PATH (and the sbin folders). */
export async function findNatsServer(): Promise<NatsBinary> {
  const candidates: { path: string; source: string }[] = [];
  if (process.env.EDGESYNC_NATS_SERVER) candidates.push({ path: process.env.EDGESYNC_NATS_SERVER, source: "$EDGESYNC_NATS_SERVER" });
  for (const cache of [CACHE, CACHE_FROM_SOURCE]) {
    const recorded = await readFile(cache, "utf8").then((t) => JSON.parse(t) as { path?: string }, () => undefined);
    if (recorded?.path) candidates.push({ path: recorded.path, source: "npm install" });
  }
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin"]) {
    if (dir) candidates.push({ path: join(dir, "nats-server"), source: "PATH" });
  }
  for (const candidate of candidates) {
    if (!(await isExecutable(candidate.path))) continue;
    const version = natsVersion(candidate.path);
    if (version) return { ...candidate, version };
  }
  throw new NatsServerMissingError(
    "nats-server not found: install it (`apt-get install nats-server` or `brew install nats-server`), or set EDGESYNC_NATS_SERVER=/path/to/nats-server, or use --nats-upstream to attach to a running server",
  );
}
