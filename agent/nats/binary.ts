/** Finding the nats-server binary, and what its version means for us. */
import { readFile, access, constants } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../errors.js";

export class NatsServerMissingError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsServerMissingError";
  }
}

export interface NatsBinary {
  /** Absolute path of the executable. */
  path: string;
  /** `major.minor.patch`, from `nats-server --version`. */
  version: string;
  /** Where it was found: `$EDGESYNC_NATS_SERVER`, `npm install`, `PATH`. */
  source: string;
}

export interface FindNatsServerOptions {
  /** Environment to read EDGESYNC_NATS_SERVER and PATH from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Records written by scripts/install-nats-server.mjs (default: this package's node_modules/.cache). */
  cacheFiles?: string[];
  /** Searched after PATH: Debian puts nats-server in /usr/sbin, which users' PATH often lacks. */
  systemDirs?: string[];
}

/** How to get a binary; every "not found" message ends with it. */
export const NATS_SERVER_FIX =
  "install it (`apt-get install nats-server` or `brew install nats-server`), or set EDGESYNC_NATS_SERVER=/path/to/nats-server, or use --nats-upstream to attach to a running server";

// From dist/agent/nats/ (built) and agent/nats/ (tsx), both resolving to the package's node_modules.
const DEFAULT_CACHE_FILES = [
  fileURLToPath(new URL("../../../node_modules/.cache/edgesync/nats-server.json", import.meta.url)),
  fileURLToPath(new URL("../../node_modules/.cache/edgesync/nats-server.json", import.meta.url)),
];
const DEFAULT_SYSTEM_DIRS = ["/usr/sbin", "/usr/local/bin"];
const VERSION_TIMEOUT_MS = 10_000;

const isExecutable = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/** Runs `path --version`; undefined when it does not answer like nats-server. */
export function natsVersion(path: string): string | undefined {
  const r = spawnSync(path, ["--version"], { encoding: "utf8", timeout: VERSION_TIMEOUT_MS });
  return r.status === 0 ? parseNatsVersion(`${r.stdout}${r.stderr}`) : undefined;
}

/** `nats-server: v2.9.10` → `2.9.10`. */
export function parseNatsVersion(text: string): string | undefined {
  return /\bv?(\d+\.\d+\.\d+)/.exec(text)?.[1];
}

/** The releases that fixed CVE-2023-47090 (GHSA-fr2g-9hjm-wr23), for messages. */
export const CVE_2023_47090_FIXED_IN = "2.9.23 and 2.10.2";

/**
 * CVE-2023-47090: `authorization{}` together with an `accounts` block holding only the system
 * account lets clients in without credentials. Affects 2.2.0–2.9.22 and 2.10.0–2.10.1.
 * Versions before 2.2 predate accounts and are far too old for edgesync anyway, so they count too.
 */
export function isCve2023_47090Affected(version: string): boolean {
  const [major, minor, patch] = version.split(".").map(Number);
  if (![major, minor, patch].every(Number.isInteger))
    throw new RangeError(`not a nats-server version: ${JSON.stringify(version)}`);
  if (major !== 2) return major < 2;
  if (minor < 9) return true;
  if (minor === 9) return patch < 23;
  if (minor === 10) return patch < 2;
  return false;
}

async function recorded(cacheFile: string): Promise<string | undefined> {
  const text = await readFile(cacheFile, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const json = JSON.parse(text) as { path?: unknown };
    return typeof json.path === "string" ? json.path : undefined;
  } catch {
    return undefined; // a damaged record only means "look elsewhere"
  }
}

/**
 * `$EDGESYNC_NATS_SERVER` (and nothing else when it is set: the user said which one), then the path
 * recorded by `npm install`, then PATH and the sbin folders.
 */
export async function findNatsServer(options: FindNatsServerOptions = {}): Promise<NatsBinary> {
  const env = options.env ?? process.env;
  const explicit = env.EDGESYNC_NATS_SERVER;
  if (explicit) {
    const version = (await isExecutable(explicit)) ? natsVersion(explicit) : undefined;
    if (version) return { path: explicit, version, source: "$EDGESYNC_NATS_SERVER" };
    throw new NatsServerMissingError(
      `EDGESYNC_NATS_SERVER=${explicit} is not an executable nats-server: point it at one, or unset it to search PATH`,
    );
  }
  const candidates: { path: string; source: string }[] = [];
  for (const cache of options.cacheFiles ?? DEFAULT_CACHE_FILES) {
    const path = await recorded(cache);
    if (path) candidates.push({ path, source: "npm install" });
  }
  const dirs = [...(env.PATH ?? "").split(delimiter), ...(options.systemDirs ?? DEFAULT_SYSTEM_DIRS)];
  for (const dir of dirs) if (dir) candidates.push({ path: join(dir, "nats-server"), source: "PATH" });
  for (const candidate of candidates) {
    if (!(await isExecutable(candidate.path))) continue;
    const version = natsVersion(candidate.path);
    if (version) return { ...candidate, version };
  }
  throw new NatsServerMissingError(`nats-server not found: ${NATS_SERVER_FIX}`);
}
