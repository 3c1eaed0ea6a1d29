/**
 * Content at the edges: files over the size limit, and bytes that are not UTF-8.
 */
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { vaultFolders, readText, readBytes, type Folders } from "../helpers/vault-pair.js";
import { readEntry } from "../../agent/vault/model/vault-doc.js";
import { waitFor } from "../helpers/wait.js";

let folders: Folders | undefined;
afterEach(async () => {
  await folders?.cleanup();
  folders = undefined;
});

describe("content at the edges", () => {
  it("never syncs a file over sync.file_bytes_max, never truncates either copy, and logs why", async () => {
    folders = await vaultFolders({ sync: { fileBytesMax: 64 * 1024 }, seed: { "grows.md": "small at first\n" } });
    const [a, b] = folders.dirs;
    const huge = randomBytes(100 * 1024).toString("base64");
    await writeFile(join(a, "huge.md"), huge);
    await writeFile(join(a, "grows.md"), `small at first\n${huge}`);
    await writeFile(join(a, "marker.md"), "written after\n");
    await waitFor(
      "the marker on the other device",
      async () => (await readText(join(b, "marker.md"))) === "written after\n",
    );
    await folders.vaults[0].binding.reconcile();
    await waitFor("the refusal to be logged", () =>
      folders!.logs[0].warnings.some((w) => w.fields.path === "huge.md" && /file_bytes_max/.test(w.message)),
    );
    assert.equal(await readText(join(b, "huge.md")), undefined);
    assert.equal(
      await readText(join(b, "grows.md")),
      "small at first\n",
      "the other device keeps the last version that fit",
    );
    assert.equal(await readText(join(a, "huge.md")), huge, "the local file is left alone");
    assert.equal(await readText(join(a, "grows.md")), `small at first\n${huge}`);
    await writeFile(join(a, "huge.md"), "fits now\n");
    await waitFor("the file once it fits", async () => (await readText(join(b, "huge.md"))) === "fits now\n");
  });

  it("keeps bytes that are not UTF-8 (or hold NUL) as binary, byte for byte", async () => {
    folders = await vaultFolders();
    const [a, b] = folders.dirs;
    const samples: Record<string, Buffer> = {
      "latin1.md": Buffer.from("caf\xe9 cr\xe8me\n", "latin1"),
      "truncated-utf8.md": Buffer.from([0x68, 0x69, 0xe2, 0x82]),
      "lone-surrogate.md": Buffer.from([0xed, 0xa0, 0x80, 0x0a]),
      "overlong.md": Buffer.from([0xc0, 0xaf]),
      "with-nul-byte.md": Buffer.from("text\0with a NUL\n"),
      "bom-and-crlf.md": Buffer.from("\ufeffline one\r\nline two\r\n"),
      "random.md": randomBytes(4096),
    };
    for (const [path, bytes] of Object.entries(samples)) await writeFile(join(a, path), bytes);
    await waitFor("every sample on the other device", async () => {
      for (const [path, bytes] of Object.entries(samples))
        if (!(await readBytes(join(b, path)))?.equals(bytes)) return false;
      return true;
    });
    // A BOM would be stripped by a UTF-8 decoder, so such a file is kept as binary too: bytes round-trip.
    for (const path of [
      "latin1.md",
      "truncated-utf8.md",
      "lone-surrogate.md",
      "overlong.md",
      "with-nul-byte.md",
      "random.md",
      "bom-and-crlf.md",
    ]) {
      assert.equal(readEntry(folders.vaults[1].engine.doc, path)?.kind, "binary", `${path} is stored as binary`);
    }
  });
});
