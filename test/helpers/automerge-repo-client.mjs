// An unmodified automerge-repo client (Repo + BrowserWebSocketClientAdapter), run as its own Node
// process so that NODE_EXTRA_CA_CERTS makes it trust the bridge's certificate like any TLS client.
// Usage: node automerge-repo-client.mjs <ws-url> <automerge:docUrl> <read-write|expect-refused>
// Prints one JSON line per step on stdout; stays alive (syncing) until killed.
import { Repo, ImmutableString } from "@automerge/automerge-repo";
import { BrowserWebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { createHash } from "node:crypto";

const [url, docUrl, mode] = process.argv.slice(2);
const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const bucketOf = (path) => {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(path)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return (hash % 256).toString(16).padStart(2, "0");
};

// automerge-repo's adapter rethrows a refused upgrade (HTTP 401/403) from the socket's error event.
process.on("uncaughtException", (error) => {
  const status = /Unexpected server response: (\d+)/.exec(String(error))?.[1];
  say({ step: status ? "refused" : "crashed", status: Number(status), error: String(error) });
  process.exit(status && mode === "expect-refused" ? 0 : 1);
});

const repo = new Repo({ network: [new BrowserWebSocketClientAdapter(url, 1000)] });
let handle;
try {
  handle = await repo.find(docUrl);
} catch (error) {
  say({ step: "unavailable", error: String(error) });
  if (mode === "expect-refused") process.exit(0);
  process.exit(1);
}
const doc = handle.doc();
const files = Object.values(doc.files)
  .flatMap((bucket) => Object.keys(bucket))
  .sort();
const keep = doc.files[bucketOf("keep.md")]?.["keep.md"];
say({ step: "found", name: String(doc.meta.name), files, keep: keep?.text?.toString() });
if (mode !== "read-write") process.exit(0);
const text = "written by automerge-repo\n";
const bytes = new TextEncoder().encode(text);
handle.change((d) => {
  d.files[bucketOf("from-repo.md")]["from-repo.md"] = {
    text: new ImmutableString(text),
    sha256: new ImmutableString(createHash("sha256").update(bytes).digest("hex")),
    size: bytes.length,
    mtime: Date.now(),
    by: new ImmutableString("automerge-repo-client"),
  };
});
say({ step: "wrote" });
handle.on("change", ({ doc: d }) => {
  const rev = d.files[bucketOf("from-nats.md")]?.["from-nats.md"];
  if (rev) say({ step: "remote", text: rev.text.toString() });
});
setInterval(() => {}, 1000);
