/**
 * The vault document on disk, under `.edgesync/`:
 *   doc.bin  one full Automerge save, replaced atomically on compaction
 *   doc.log  incremental saves appended as frames [u32 length][u32 checksum][bytes], fdatasync'd
 *   sync/    persisted Automerge sync state per peer
 * A crash can tear at most the last log frame; load() stops at the first bad frame and cuts the
 * log back to the last good one. Every frame whose append resolved survives. After a crash between
 * replacing doc.bin and emptying doc.log, the old frames are loaded again — harmless, since Automerge
 * ignores changes it already has.
 */
import { mkdir, open, readFile, stat, truncate, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { DocStore } from "./doc-store.js";
import type { PeerId } from "../model/peer-id.js";
import { writeFileAtomic, sweepTempFiles } from "../../fs/atomic-write.js";

const FRAME_HEADER_BYTES = 8;
/** A frame larger than this is corruption, not data: a whole large vault saves to a small fraction of it. */
const FRAME_BYTES_MAX = 1 << 30;
const PEER_FILE = /^[A-Za-z0-9_-]{1,128}$/;

const checksum = (bytes: Uint8Array): number => createHash("sha256").update(bytes).digest().readUInt32BE(0);

export class DiskStore implements DocStore {
  readonly #dir: string;
  #log: FileHandle | undefined;

  constructor(stateDir: string) {
    this.#dir = stateDir;
  }

  get docPath(): string {
    return join(this.#dir, "doc.bin");
  }
  get logPath(): string {
    return join(this.#dir, "doc.log");
  }

  async load(): Promise<Uint8Array[]> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await sweepTempFiles(this.#dir);
    const chunks: Uint8Array[] = [];
    const full = await readFile(this.docPath).catch(notFoundAs(undefined));
    if (full !== undefined && full.length > 0) chunks.push(new Uint8Array(full));
    const log = await readFile(this.logPath).catch(notFoundAs(undefined));
    if (log === undefined) return chunks;
    let offset = 0;
    while (offset + FRAME_HEADER_BYTES <= log.length) {
      const length = log.readUInt32BE(offset);
      const sum = log.readUInt32BE(offset + 4);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (length > FRAME_BYTES_MAX || end > log.length) break;
      const body = new Uint8Array(log.subarray(offset + FRAME_HEADER_BYTES, end));
      if (checksum(body) !== sum) break;
      chunks.push(body);
      offset = end;
    }
    if (offset < log.length) await truncate(this.logPath, offset); // drop the torn tail
    return chunks;
  }

  async append(chunk: Uint8Array): Promise<void> {
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + chunk.length);
    frame.writeUInt32BE(chunk.length, 0);
    frame.writeUInt32BE(checksum(chunk), 4);
    frame.set(chunk, FRAME_HEADER_BYTES);
    this.#log ??= await open(this.logPath, "a", 0o600);
    const log = this.#log;
    const sizeBefore = (await log.stat()).size;
    try {
      // A full disk answers with a short write before it answers ENOSPC: loop, never assume.
      for (let offset = 0; offset < frame.length;) {
        const { bytesWritten } = await log.write(frame, offset, frame.length - offset);
        if (bytesWritten === 0) throw Object.assign(new Error("no space left on device, write"), { code: "ENOSPC" });
        offset += bytesWritten;
      }
      await log.datasync();
    } catch (error) {
      // A partial frame left here would end the log for load(): every later frame would be lost.
      await log.truncate(sizeBefore).catch(() => {});
      throw error;
    }
  }

  async replace(full: Uint8Array): Promise<void> {
    await writeFileAtomic(this.docPath, full, { mode: 0o600 });
    this.#log ??= await open(this.logPath, "a", 0o600);
    await this.#log.truncate(0);
    await this.#log.datasync();
  }

  async sizeBytes(): Promise<number> {
    const sizes = await Promise.all(
      [this.docPath, this.logPath].map((p) =>
        stat(p).then(
          (s) => s.size,
          () => 0,
        ),
      ),
    );
    return sizes[0] + sizes[1];
  }

  async loadSyncState(peer: PeerId): Promise<Uint8Array | undefined> {
    if (!PEER_FILE.test(peer)) return undefined;
    const bytes = await readFile(join(this.#dir, "sync", `${peer}.bin`)).catch(notFoundAs(undefined));
    return bytes === undefined ? undefined : new Uint8Array(bytes);
  }

  async saveSyncState(peer: PeerId, state: Uint8Array): Promise<void> {
    if (!PEER_FILE.test(peer)) return;
    await mkdir(join(this.#dir, "sync"), { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.#dir, "sync", `${peer}.bin`), state, { mode: 0o600 });
  }

  async close(): Promise<void> {
    await this.#log?.close();
    this.#log = undefined;
  }
}

function notFoundAs<T>(value: T) {
  return (error: NodeJS.ErrnoException): T => {
    if (error.code === "ENOENT") return value;
    throw error;
  };
}
