/**
 * One automerge-repo process of the bench (run transpiled, without tsx, so start-up is plain node):
 *
 *   server --store DIR                       websocket sync server (NodeWSServerAdapter) on 127.0.0.1:0
 *   client --url WS --dir DIR --store DIR (--create | --doc URL) [--clone]
 *
 * A client is a minimal folder sync on automerge-repo, built like edgesync's: ONE document per
 * vault, `{ files: { [path]: ImmutableString } }` (edgesync keeps a vault as one Automerge doc of
 * whole-file ImmutableStrings too, so both sides sync the same data model). It watches its folder
 * (recursive fs.watch, 15 ms debounce — edgesync's default) and writes remote changes temp + fsync
 * + rename, 16 files in flight (as edgesync). `--clone` writes every file once the document is found, then exits.
 * Events go to stdout as JSON lines: listening, ready, cloned, error.
 */
import { watch } from "node:fs";
import { mkdir, open, readFile, rename, unlink, readdir } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { WebSocketServer } from "ws";
import { Repo, ImmutableString, type DocHandle, type AutomergeUrl, type PeerId } from "@automerge/automerge-repo";
import { WebSocketClientAdapter, WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { FsStorageAdapter } from "./automerge-fs-storage.js";

interface VaultDoc {
  files: Record<string, ImmutableString>;
}

const DEBOUNCE_MS = 15; // keep equal to defaultSyncConfig().debounceMs: the comparison is of sync, not of waiting
const FILE_BYTES_MAX = 16 << 20;

const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
const arg = (flag: string) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const need = (flag: string) => arg(flag) ?? fail(`missing ${flag}`);
function fail(message: string): never {
  emit({ event: "error", message });
  process.exit(2);
}

async function server() {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  // A sync server: it stores and relays what clients share, and announces nothing itself.
  // ws resolves to one copy of @types/ws from here and another from the adapter's typings: same class.
  const adapter = new WebSocketServerAdapter(wss as unknown as ConstructorParameters<typeof WebSocketServerAdapter>[0]);
  new Repo({ network: [adapter], storage: new FsStorageAdapter(need("--store")), peerId: "sync-server" as PeerId, sharePolicy: async () => false });
  const address = wss.address();
  emit({ event: "listening", port: typeof address === "object" && address ? address.port : 0 });
}

async function listFiles(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true }).catch(() => [])) {
    if (entry.name.startsWith(".")) continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(root, rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** A remote path must stay inside the folder and never name a dot-file (our temps, stores). */
function safePath(path: string): boolean {
  return path.length > 0 && path.length < 1024 && !path.startsWith("/") && !path.split("/").some((p) => p === "" || p === "." || p === ".." || p.startsWith("."));
}

let tmpCounter = 0;
async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.am-tmp-${process.pid}-${tmpCounter++}`);
  const file = await open(tmp, "w");
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
}

/** Files written at once (edgesync's folder binding writes 16 at a time too). */
const WRITES_IN_FLIGHT = 16;

async function materialise(root: string, doc: VaultDoc, paths: Iterable<string>): Promise<void> {
  const list = [...paths];
  let next = 0;
  const worker = async () => {
    while (next < list.length) await materialiseOne(root, doc, list[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(WRITES_IN_FLIGHT, list.length) }, worker));
}

async function materialiseOne(root: string, doc: VaultDoc, path: string): Promise<void> {
  if (!safePath(path)) return;
  const value = doc.files[path];
  const abs = join(root, path);
  if (value === undefined) return void (await unlink(abs).catch(() => {}));
  const text = String(value);
  const current = await readFile(abs, "utf8").catch(() => undefined);
  if (current !== text) await writeAtomic(abs, text);
}

async function client() {
  const root = need("--dir");
  await mkdir(root, { recursive: true });
  const repo = new Repo({ network: [new WebSocketClientAdapter(need("--url"))], storage: new FsStorageAdapter(need("--store")) });
  let handle: DocHandle<VaultDoc>;
  if (process.argv.includes("--create")) {
    const files: Record<string, ImmutableString> = {};
    for (const path of await listFiles(root)) files[path] = new ImmutableString(await readFile(join(root, path), "utf8"));
    handle = repo.create<VaultDoc>({ files });
  } else {
    try {
      handle = await repo.find<VaultDoc>(need("--doc") as AutomergeUrl);
    } catch (error) {
      fail(`cannot find the document: ${error instanceof Error ? error.message : String(error)}`);
    }
    const doc = handle.doc();
    await materialise(root, doc, Object.keys(doc.files));
  }
  if (process.argv.includes("--clone")) {
    emit({ event: "cloned", files: Object.keys(handle.doc().files).length });
    await repo.flush();
    process.exit(0);
  }
  // Remote changes → disk, one write queue so writes of one path never interleave.
  let queue = Promise.resolve();
  handle.on("change", ({ doc, patches }) => {
    const paths = new Set<string>();
    for (const patch of patches) if (patch.path[0] === "files" && typeof patch.path[1] === "string") paths.add(patch.path[1]);
    queue = queue.then(() => materialise(root, doc, paths)).catch((error: unknown) => {
      emit({ event: "error", message: String(error) });
    });
  });
  // Local changes → document, debounced per path like edgesync's folder binding.
  const timers = new Map<string, NodeJS.Timeout>();
  watch(root, { recursive: true }, (_event, name) => {
    if (!name) return;
    const path = String(name).split(sep).join("/");
    if (!safePath(path)) return;
    clearTimeout(timers.get(path));
    timers.set(path, setTimeout(() => {
      timers.delete(path);
      void ingest(root, handle, path);
    }, DEBOUNCE_MS));
  });
  emit({ event: "ready", url: handle.url, files: Object.keys(handle.doc().files).length });
}

async function ingest(root: string, handle: DocHandle<VaultDoc>, path: string): Promise<void> {
  const abs = join(root, path);
  if (relative(root, abs).startsWith("..")) return;
  const text = await readFile(abs, "utf8").catch(() => undefined);
  if (text !== undefined && text.length > FILE_BYTES_MAX) return;
  const current = handle.doc().files[path];
  if (text === undefined ? current === undefined : current !== undefined && String(current) === text) return;
  handle.change((doc) => {
    if (text === undefined) delete doc.files[path];
    else doc.files[path] = new ImmutableString(text);
  });
}

const mode = process.argv[2];
if (mode === "server") await server();
else if (mode === "client") await client();
else fail(`unknown mode ${JSON.stringify(mode)}: use server or client`);
