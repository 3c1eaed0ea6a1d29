// An unmodified automerge-repo Repo using edgesync/automerge-repo's BridgeRepoAdapter, as a third
// party's Node script would, run as its own process so that an uncaught exception shows as its death.
// Usage: node automerge-repo-adapter-client.mjs <origin> <vaultId> <seed hex> <cert fingerprint hex>
// Prints one JSON line per event on stdout; reads JSON commands on stdin, one per line:
//   {"write": "<path>", "text": "<content>"}                          a well-formed revision
//   {"raw": "<path>", "bucket": "<bucket>", "entry": {...}, "plain": ["<field>", ...]}
//       a hand-made entry: every string field becomes an ImmutableString except those in `plain`
import { Repo, ImmutableString } from "@automerge/automerge-repo";
import { BridgeRepoAdapter, keyFromSeed, vaultAutomergeUrl } from "edgesync/automerge-repo";
import { nodeSocket } from "edgesync/client/node";
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";

const [origin, vaultId, seedHex, certFingerprint] = process.argv.slice(2);
const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

// What the tests assert never happens: automerge-repo's own adapter throws refusals from here.
process.on("uncaughtException", (error) => {
  say({ step: "crashed", error: String(error) });
  process.exit(1);
});
process.on("unhandledRejection", (error) => {
  say({ step: "crashed", error: `unhandled rejection: ${String(error)}` });
  process.exit(1);
});

const bucketOf = (path) => {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(path)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return (hash % 256).toString(16).padStart(2, "0");
};

const key = await keyFromSeed(Uint8Array.from(Buffer.from(seedHex, "hex")));
const adapter = new BridgeRepoAdapter({
  origin,
  vaultId,
  key,
  certFingerprint,
  socket: nodeSocket,
  backoff: { initialMs: 100, maxMs: 1_000 },
  onError: (error) => say({ step: "error", kind: error.kind, retry: error.retry, message: error.message }),
  onState: (state) => say({ step: "state", state }),
});
const repo = new Repo({ network: [adapter] });
let handle;
try {
  handle = await repo.find(vaultAutomergeUrl(vaultId));
} catch (error) {
  // The Repo's answer when no peer had the document (the adapter stopped, or never got through).
  say({ step: "unavailable", error: String(error) });
  setInterval(() => {}, 1000);
  await new Promise(() => {});
}
const texts = (doc) => {
  const out = {};
  for (const bucket of Object.values(doc.files ?? {}))
    for (const [path, rev] of Object.entries(bucket)) if (rev?.text !== undefined) out[path] = String(rev.text);
  return out;
};
say({ step: "found", name: String(handle.doc().meta.name), files: texts(handle.doc()) });
handle.on("change", ({ doc }) => say({ step: "files", files: texts(doc) }));

const immutable = (entry, plain) =>
  typeof entry === "string"
    ? new ImmutableString(entry)
    : Object.fromEntries(
        Object.entries(entry).map(([field, value]) => [
          field,
          typeof value === "string" && !plain.includes(field) ? new ImmutableString(value) : value,
        ]),
      );
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.write !== undefined) {
    const bytes = new TextEncoder().encode(command.text);
    handle.change((d) => {
      d.files[bucketOf(command.write)][command.write] = {
        text: new ImmutableString(command.text),
        sha256: new ImmutableString(createHash("sha256").update(bytes).digest("hex")),
        size: bytes.length,
        mtime: Date.now(),
        by: new ImmutableString("automerge-repo-adapter-client"),
      };
    });
  } else if (command.raw !== undefined) {
    handle.change((d) => {
      d.files[command.bucket ?? bucketOf(command.raw)][command.raw] = immutable(command.entry, command.plain ?? []);
    });
  }
  say({ step: "done", command: Object.keys(command)[0] });
}
