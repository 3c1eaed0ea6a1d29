import { mkdtemp, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEMP_MARKER } from "../../fs/atomic-write.js";
import { DiskStore } from "./disk-store.js";
import { runStoreContract } from "./store-contract.js";

runStoreContract("disk store", async () => {
  const dir = await mkdtemp(join(tmpdir(), "edgesync-doc-store-"));
  let current = new DiskStore(dir);
  const restart = async () => {
    await current.close();
    current = new DiskStore(dir);
    return current;
  };
  return {
    store: current,
    restart,
    async crashTearingAppend(chunk) {
      // What a process killed mid-write leaves: the frame's header and the start of its bytes.
      await current.append(chunk);
      await current.close();
      const log = current.logPath;
      await truncate(log, (await stat(log)).size - Math.ceil(chunk.length / 2));
      current = new DiskStore(dir);
      return current;
    },
    async crashReplacing(full) {
      // The latest point a crash can catch replace(): doc.bin renamed into place, doc.log not yet
      // emptied; an earlier crashed replace also left its temp file behind.
      await current.close();
      await writeFile(join(dir, `.doc.bin${TEMP_MARKER}000000000000`), full.subarray(0, 10));
      await writeFile(current.docPath, full);
      current = new DiskStore(dir);
      return current;
    },
    async teardown() {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
