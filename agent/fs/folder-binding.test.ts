import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  mkdtemp,
  writeFile,
  readFile,
  rm,
  unlink,
  symlink,
  mkdir,
  readdir,
  access,
  stat,
  utimes,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { initVault } from "../vault/init.js";
import { openLocalVault, type LocalVault } from "../local-vault/local-vault.js";
import { MemoryBus } from "../sync/memory-bus.js";
import { asPeerId } from "../sync/ports.js";
import { DiskStore } from "../vault/store/disk-store.js";
import { saveVaultConfig, loadVaultConfig } from "../vault/config.js";
import { listStored, readEntry } from "../vault/model/vault-doc.js";
import { waitFor } from "../../test/helpers/wait.js";
import { DISK_INDEX_FILES } from "./disk-index.js";

const KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHQ7Y2F0c3RhbmRpbmd0ZXN0a2V5MDAwMDAwMDAwMDAw test@device";
const open: LocalVault[] = [];
const dirs: string[] = [];

const readEntryText = (vault: LocalVault, path: string) => {
  const bytes = readEntry(vault.engine.doc, path)?.bytes;
  return bytes ? new TextDecoder().decode(bytes) : undefined;
};
const read = (path: string) => readFile(path, "utf8").catch(() => undefined);

/** The disk index as saved now (its snapshot and journal), to put back as a crash would leave it. */
const savedIndex = (stateDir: string) => Promise.all(DISK_INDEX_FILES.map((name) => read(join(stateDir, name))));
async function restoreIndex(stateDir: string, saved: (string | undefined)[]): Promise<void> {
  for (const [i, name] of DISK_INDEX_FILES.entries()) {
    const content = saved[i];
    if (content === undefined) await rm(join(stateDir, name), { force: true });
    else await writeFile(join(stateDir, name), content);
  }
}

/** Two vault folders (creator + clone) whose engines talk over an in-process bus. */
async function twoFolders() {
  const a = await mkdtemp(join(tmpdir(), "es-bind-a-"));
  const b = await mkdtemp(join(tmpdir(), "es-bind-b-"));
  dirs.push(a, b);
  await writeFile(join(a, "existing.md"), "was here before init\n");
  const { config } = await initVault({ root: a, authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
  // The clone: same config, empty store; it receives everything by sync.
  await mkdir(join(b, ".edgesync"), { recursive: true });
  await saveVaultConfig(b, config);
  const bus = new MemoryBus();
  const va = await openLocalVault({
    root: a,
    peerId: "UA",
    holder: "test",
    watch: true,
    transport: bus.transport(asPeerId("UA")),
  });
  let bindingStarted = false;
  const vb = await openLocalVault({
    root: b,
    peerId: "UB",
    holder: "test",
    watch: true,
    transport: bus.transport(asPeerId("UB")),
    // Started once, on the first sync, as the agent does (vault-host.ts): every start walks the
    // folder, sweeps temp files and adds a watcher.
    onChange: () => {
      if (bindingStarted || A.getHeads(vb.engine.doc).length === 0 || listStored(vb.engine.doc).size === 0) return;
      bindingStarted = true;
      void vb.binding.start().catch(() => {});
    },
  });
  open.push(va, vb);
  await va.start();
  await vb.start();
  await waitFor(
    "the clone to receive the vault",
    async () => (await read(join(b, "existing.md"))) === "was here before init\n",
  );
  return { a, b, va, vb };
}

afterEach(async () => {
  for (const v of open.splice(0)) await v.close().catch(() => {});
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("FolderBinding", () => {
  it("imports the creator's existing files and brings them to a clone byte for byte", async () => {
    const { b } = await twoFolders();
    assert.equal(await read(join(b, "existing.md")), "was here before init\n");
    assert.match((await read(join(b, "authorized_keys"))) ?? "", /ssh-ed25519/);
  });

  it("writes a burst of remote files together, byte for byte, merging the one the user already had", async () => {
    const a = await mkdtemp(join(tmpdir(), "es-bind-a-"));
    const b = await mkdtemp(join(tmpdir(), "es-bind-b-"));
    dirs.push(a, b);
    await mkdir(join(a, "burst"));
    const note = (i: number) => `# note ${i}\n${"text ".repeat(i)}\n`;
    for (let i = 0; i < 120; i++) await writeFile(join(a, "burst", `n${i}.md`), note(i));
    await writeFile(join(a, "clash.md"), "from A\n");
    const { config } = await initVault({ root: a, authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
    await mkdir(join(b, ".edgesync"), { recursive: true });
    await saveVaultConfig(b, config);
    await writeFile(join(b, "clash.md"), "B's own\n");
    const logged: { fields: Record<string, unknown>; message: string }[] = [];
    const log = {
      debug: (fields: Record<string, unknown>, message: string) => void logged.push({ fields, message }),
      info() {},
      warn() {},
    };
    const bus = new MemoryBus();
    const va = await openLocalVault({
      root: a,
      peerId: "UA",
      holder: "test",
      watch: false,
      transport: bus.transport(asPeerId("UA")),
    });
    const vb = await openLocalVault({
      root: b,
      peerId: "UB",
      holder: "test",
      watch: false,
      log,
      transport: bus.transport(asPeerId("UB")),
      onChange: () => {
        if (listStored(vb.engine.doc).size > 0) void vb.binding.start().catch(() => {});
      },
    });
    open.push(va, vb);
    await va.start();
    await vb.start();
    await waitFor("the burst to land", async () => (await read(join(b, "burst", "n119.md"))) === note(119));
    await vb.binding.idle();
    for (let i = 0; i < 120; i++) assert.equal(await read(join(b, "burst", `n${i}.md`)), note(i));
    assert.ok(
      logged.some((l) => l.message === "created new files together" && Number(l.fields.together) >= 120),
      "the burst went through the bulk writer",
    );
    assert.match((await read(join(b, "clash.md"))) ?? "", /B's own/);
    assert.deepEqual(
      (await readdir(join(b, "burst"))).filter((n) => n.includes(".edgesync-tmp-")),
      [],
    );
    // Every written file is recorded: a full rescan of the untouched folder changes nothing.
    const heads = A.getHeads(vb.engine.doc);
    await vb.binding.reconcile();
    assert.deepEqual(A.getHeads(vb.engine.doc), heads);
  });

  it("a one-shot import looks again at a file caught empty mid-save instead of importing the empty state", async () => {
    const a = await mkdtemp(join(tmpdir(), "es-bind-a-"));
    dirs.push(a);
    await writeFile(join(a, "x.md"), ""); // an editor's truncate; its write follows
    await initVault({ root: a, authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
    const vault = await openLocalVault({ root: a, peerId: "UA", holder: "test", watch: false });
    open.push(vault);
    const write = new Promise((resolve) => setTimeout(resolve, 100)).then(() =>
      writeFile(join(a, "x.md"), "the content\n"),
    );
    await vault.start();
    await write;
    assert.equal(readEntryText(vault, "x.md"), "the content\n");
    const sizes = A.getHistory(vault.engine.doc).map(
      (state) => readEntry(state.snapshot as typeof vault.engine.doc, "x.md")?.bytes?.length,
    );
    assert.ok(!sizes.includes(0), `x.md was imported empty at some point: ${sizes.join(", ")}`);
  });

  it("carries creates, edits, nested folders and deletes between folders", async () => {
    const { a, b } = await twoFolders();
    await mkdir(join(a, "deep/er"), { recursive: true });
    await writeFile(join(a, "deep/er/note.md"), "one");
    await waitFor("create", async () => (await read(join(b, "deep/er/note.md"))) === "one");
    await writeFile(join(b, "deep/er/note.md"), "two");
    await waitFor("edit back", async () => (await read(join(a, "deep/er/note.md"))) === "two");
    await unlink(join(a, "deep/er/note.md"));
    await waitFor("delete", async () => (await read(join(b, "deep/er/note.md"))) === undefined);
  });

  it("never writes through a symlink that points outside the vault", async () => {
    const { a, b } = await twoFolders();
    const outside = await mkdtemp(join(tmpdir(), "es-outside-"));
    dirs.push(outside);
    await symlink(outside, join(b, "linked"));
    await mkdir(join(a, "linked"));
    await writeFile(join(a, "linked/evil.md"), "should not escape");
    await writeFile(join(a, "marker.md"), "after");
    await waitFor("a later file", async () => (await read(join(b, "marker.md"))) === "after");
    assert.deepEqual(await readdir(outside), []);
  });

  it("does not sync files outside the extension filter or matched by .syncignore", async () => {
    const { a, b, va } = await twoFolders();
    await writeFile(join(a, ".syncignore"), "secret/\n");
    await waitFor("syncignore to travel", async () => ((await read(join(b, ".syncignore"))) ?? "").includes("secret/"));
    await mkdir(join(a, "secret"));
    await writeFile(join(a, "secret/plan.md"), "private");
    await writeFile(join(a, "image.tmp"), "temp");
    await writeFile(join(a, "visible.md"), "public");
    await waitFor("visible", async () => (await read(join(b, "visible.md"))) === "public");
    await va.binding.reconcile();
    assert.equal(
      await access(join(b, "secret/plan.md")).then(
        () => true,
        () => false,
      ),
      false,
    );
    assert.equal(
      await access(join(b, "image.tmp")).then(
        () => true,
        () => false,
      ),
      false,
    );
  });

  it("restores authorized_keys when it is deleted locally instead of propagating the delete", async () => {
    const { a, b, va } = await twoFolders();
    await unlink(join(a, "authorized_keys"));
    await waitFor(
      "authorized_keys to come back",
      async () => ((await read(join(a, "authorized_keys"))) ?? "").includes("ssh-ed25519"),
      45_000,
    );
    await va.binding.reconcile();
    assert.match((await read(join(b, "authorized_keys"))) ?? "", /ssh-ed25519/);
  });

  it("merges a local edit made while a remote edit of the same file arrived", async () => {
    const { a, b, va, vb } = await twoFolders();
    const base = "# Doc\n\nfirst\n\nsecond\n\nthird\n";
    await writeFile(join(a, "doc.md"), base);
    await waitFor("base", async () => (await read(join(b, "doc.md"))) === base);
    await vb.binding.stop(); // B's edit stays unsynced on disk while A's edit arrives
    await writeFile(join(b, "doc.md"), base.replace("third", "third (B)"));
    await writeFile(join(a, "doc.md"), base.replace("first", "first (A)"));
    await va.binding.reconcile();
    await vb.engine.flush();
    await new Promise((r) => setTimeout(r, 200));
    assert.match((await read(join(b, "doc.md"))) ?? "", /third \(B\)/, "the unsynced local edit was not overwritten");
    const merged = base.replace("first", "first (A)").replace("third", "third (B)");
    // B's binding looks again (a stopped binding only reconciles when asked): its edit is merged with A's.
    await waitFor("merge on both sides", async () => {
      await vb.binding.reconcile();
      return (await read(join(a, "doc.md"))) === merged && (await read(join(b, "doc.md"))) === merged;
    });
  });

  it("takes a file it wrote from the vault for what it is when a crash lost that write's index record", async () => {
    const { a, b, va, vb } = await twoFolders();
    const stateDir = join(b, ".edgesync");
    await writeFile(join(a, "note.md"), "note v1\n");
    await waitFor("v1 on B", async () => (await read(join(b, "note.md"))) === "note v1\n");
    const staleIndex = await savedIndex(stateDir);
    await writeFile(join(a, "note.md"), "note v2\n");
    await waitFor("v2 on B", async () => (await read(join(b, "note.md"))) === "note v2\n");
    // B crashed after writing v2 but before saving its index, and v3 had reached its store.
    await vb.close();
    open.splice(open.indexOf(vb), 1);
    await restoreIndex(stateDir, staleIndex);
    await writeFile(join(a, "note.md"), "note v3\n");
    await waitFor("v3 in A's doc", async () => readEntryText(va, "note.md") === "note v3\n");
    await new DiskStore(join(b, ".edgesync")).replace(A.save(va.engine.doc));

    const reopened = await openLocalVault({
      root: b,
      peerId: "UB",
      holder: "test",
      watch: false,
      transport: new MemoryBus().transport(asPeerId("UB")),
    });
    open.push(reopened);
    await reopened.start();
    assert.equal(await read(join(b, "note.md")), "note v3\n", "the v2 B had written itself came back as a local edit");
    assert.equal(readEntryText(reopened, "note.md"), "note v3\n");
    assert.deepEqual(
      (await readdir(b)).filter((n) => n.includes("conflict")),
      [],
    );
  });

  it("does not bring back a file deleted elsewhere because a crash lost the index record of its last write", async () => {
    const { a, b, va, vb } = await twoFolders();
    const stateDir = join(b, ".edgesync");
    await writeFile(join(a, "gone.md"), "gone v1\n");
    await waitFor("v1 on B", async () => (await read(join(b, "gone.md"))) === "gone v1\n");
    const staleIndex = await savedIndex(stateDir);
    await writeFile(join(a, "gone.md"), "gone v2\n");
    await waitFor("v2 on B", async () => (await read(join(b, "gone.md"))) === "gone v2\n");
    await vb.close();
    open.splice(open.indexOf(vb), 1);
    await restoreIndex(stateDir, staleIndex);
    await unlink(join(a, "gone.md"));
    await waitFor("the delete in A's doc", async () => readEntryText(va, "gone.md") === undefined);
    await new DiskStore(join(b, ".edgesync")).replace(A.save(va.engine.doc));

    const reopened = await openLocalVault({
      root: b,
      peerId: "UB",
      holder: "test",
      watch: false,
      transport: new MemoryBus().transport(asPeerId("UB")),
    });
    open.push(reopened);
    await reopened.start();
    assert.equal(await read(join(b, "gone.md")), undefined, "the v2 B had written itself came back as a local edit");
    assert.equal(readEntryText(reopened, "gone.md"), undefined);
  });

  it("keeps one device's edits in a line when a crash lost the index record of its last ingest", async () => {
    const root = await mkdtemp(join(tmpdir(), "es-bind-lag-"));
    dirs.push(root);
    await initVault({ root, authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
    const stateDir = join(root, ".edgesync");
    const openOnce = async () => {
      const vault = await openLocalVault({
        root,
        peerId: "UA",
        holder: "test",
        watch: false,
        transport: new MemoryBus().transport(asPeerId("UA")),
      });
      open.push(vault);
      await vault.start();
      return vault;
    };
    let vault = await openOnce();
    await writeFile(join(root, "note.md"), "note v1\n");
    await vault.binding.reconcile();
    const staleIndex = await savedIndex(stateDir);
    await writeFile(join(root, "note.md"), "note v2\n");
    await vault.binding.reconcile();
    assert.equal(readEntryText(vault, "note.md"), "note v2\n");
    // Killed after v2 was stored but before the index said so; then the user saved v3.
    await vault.close();
    open.splice(open.indexOf(vault), 1);
    await restoreIndex(stateDir, staleIndex);
    await writeFile(join(root, "note.md"), "note v3\n");

    vault = await openOnce();
    assert.equal(readEntryText(vault, "note.md"), "note v3\n");
    assert.equal(await read(join(root, "note.md")), "note v3\n");
    assert.deepEqual(
      (await readdir(root)).filter((n) => n.includes("conflict")),
      [],
    );
  });

  it("lets a local edit go between the slices of a periodic rescan instead of waiting for all of it", async () => {
    const root = await mkdtemp(join(tmpdir(), "es-bind-rescan-"));
    dirs.push(root);
    const files = 2000;
    for (let i = 0; i < files; i++) await writeFile(join(root, `n${i}.md`), `note ${i}\n`);
    await initVault({ root, authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
    const vault = await openLocalVault({
      root,
      peerId: "UA",
      holder: "test",
      watch: true,
      transport: new MemoryBus().transport(asPeerId("UA")),
    });
    open.push(vault);
    await vault.start();
    const stored = listStored(vault.engine.doc).size;
    assert.ok(stored > files);
    // An edit lands while a rescan of the whole folder runs; its event runs between two slices.
    for (let n = 0; vault.binding.stats.ranMidRescan === 0; n++) {
      assert.ok(n < 20, "no edit ever ran between the slices of a rescan");
      const text = `edited ${n}\n`;
      const rescan = vault.binding.rescan();
      await writeFile(join(root, "n7.md"), text);
      await rescan;
      await waitFor("the edit to be in the vault", async () => readEntryText(vault, "n7.md") === text);
    }
    await vault.binding.rescan();
    assert.equal(listStored(vault.engine.doc).size, stored, "every file still in the vault");
    assert.equal(readEntryText(vault, "n3.md"), "note 3\n");
  });

  it("does not read back a file it has just rewritten when the watcher reports it, yet takes the user's next edit of it", async () => {
    const { a, b, va, vb } = await twoFolders();
    await writeFile(join(a, "echo.md"), "from A, v1\n");
    await waitFor("v1 on B", async () => (await read(join(b, "echo.md"))) === "from A, v1\n");
    const skipped = vb.binding.stats.echoesSkipped;
    await writeFile(join(a, "echo.md"), "from A, v2\n");
    await waitFor("v2 on B", async () => (await read(join(b, "echo.md"))) === "from A, v2\n");
    await waitFor("B's watcher reported its own write", async () => vb.binding.stats.echoesSkipped > skipped);
    assert.equal(readEntryText(vb, "echo.md"), "from A, v2\n");
    // In place and the same size: only the bytes, mtime and ctime differ from B's own write.
    await writeFile(join(b, "echo.md"), "from B, v3\n");
    await waitFor("B's edit on A", async () => (await read(join(a, "echo.md"))) === "from B, v3\n");
    assert.equal(readEntryText(va, "echo.md"), "from B, v3\n");
  });

  it("has a periodic rescan skip reading unchanged files, yet catch an edit that kept the size and mtime", async () => {
    const root = await mkdtemp(join(tmpdir(), "es-bind-stat-"));
    dirs.push(root);
    const files = 30;
    // Whole-second mtimes, so the edit below can put the very same one back.
    const mtime = new Date(1_700_000_000_000);
    for (let i = 0; i < files; i++) {
      await writeFile(join(root, `n${i}.md`), `note ${i}\n`);
      await utimes(join(root, `n${i}.md`), mtime, mtime);
    }
    await initVault({ root, authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
    const vault = await openLocalVault({
      root,
      peerId: "UA",
      holder: "test",
      watch: false, // only rescans look at the folder
      transport: new MemoryBus().transport(asPeerId("UA")),
    });
    open.push(vault);
    await vault.start();
    // A stat is trusted only once it is 2 s older than the read that cached it (a change in the same
    // clock tick could hide behind it): wait that out, then one rescan re-reads and the next trusts.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await vault.binding.rescan();
    const skippedBefore = vault.binding.stats.readsSkipped;
    await vault.binding.rescan();
    assert.ok(
      vault.binding.stats.readsSkipped - skippedBefore >= files,
      `the second rescan skipped ${vault.binding.stats.readsSkipped - skippedBefore} reads`,
    );
    // Same length, and the old mtime put back: only the ctime and the bytes differ.
    const path = join(root, "n7.md");
    await writeFile(path, "edit 7\n");
    await utimes(path, mtime, mtime);
    assert.equal((await stat(path)).mtimeMs, mtime.getTime());
    await vault.binding.rescan();
    assert.equal(readEntryText(vault, "n7.md"), "edit 7\n");
    assert.equal(readEntryText(vault, "n8.md"), "note 8\n");
  });

  it("refuses to turn an emptied folder into a mass delete", async () => {
    const { a, va } = await twoFolders();
    for (let i = 0; i < 20; i++) await writeFile(join(a, `n${i}.md`), `note ${i}`);
    await va.binding.reconcile();
    for (let i = 0; i < 20; i++) await unlink(join(a, `n${i}.md`));
    await va.binding.reconcile();
    // The deletes wait out their grace period (an editor may be mid-save), then meet the guard.
    await waitFor("the guard to refuse every delete", async () => va.binding.stats.refused >= 20);
    await va.binding.idle();
    assert.ok(listStored(va.engine.doc).size >= 20);
  });
});

describe("DiskStore", () => {
  it("cuts a torn last frame and keeps every complete one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "es-store-"));
    dirs.push(dir);
    const store = new DiskStore(dir);
    await store.append(new Uint8Array([1, 2, 3]));
    await store.append(new Uint8Array([4, 5]));
    await store.close();
    const log = await readFile(join(dir, "doc.log"));
    await writeFile(join(dir, "doc.log"), Buffer.concat([log, Buffer.from([0, 0, 0, 9, 1, 2])]));
    const chunks = await new DiskStore(dir).load();
    assert.deepEqual(
      chunks.map((c) => [...c]),
      [
        [1, 2, 3],
        [4, 5],
      ],
    );
    assert.equal((await readFile(join(dir, "doc.log"))).length, log.length);
  });
});

describe("config", () => {
  it("names the field and the fix for a bad value", async () => {
    const dir = await mkdtemp(join(tmpdir(), "es-cfg-"));
    dirs.push(dir);
    await mkdir(join(dir, ".edgesync"));
    await writeFile(join(dir, ".edgesync/config.toml"), '[vault]\nid = "not-a-uuid"\nname = "x"\n');
    await assert.rejects(loadVaultConfig(dir), /vault\.id must be a lowercase UUID; fix that line/);
  });
});
