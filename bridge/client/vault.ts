/**
 * A vault over a bridge, for browsers and scripts: the client keeps its own Automerge copy of the
 * vault document and syncs it with the agent's own SyncEngine over a BridgeTransport, so it is
 * just another peer of the vault with its own key. The document lives in memory (a page reload
 * syncs it again); every path is checked by the same rules as the agent's.
 */
import * as A from "@automerge/automerge";
import { SyncEngine, type ChangeEvent } from "../../agent/sync/engine.js";
import { MemoryStore } from "../../agent/vault/store/memory-store.js";
import { BlobMissingError, MemoryBlobStore } from "../../agent/vault/store/blob-store.js";
import {
  createdIdentity,
  emptyVaultDoc,
  entryFromStored,
  isReady,
  readEntry,
  readStored,
  type Doc,
} from "../../agent/vault/model/vault-doc.js";
import { headsAt, listLabels, restoreTo, setLabel, type LabelInfo } from "../../agent/vault/model/history.js";
import { EntryVerdicts } from "../../agent/vault/model/entry-check.js";
import { bucketOf } from "../../agent/vault/model/bucket.js";
import type { FileEntry } from "../../agent/vault/model/schema.js";
import { normaliseVaultPath } from "../../agent/vault/paths.js";
import type { Log } from "../../agent/sync/ports.js";
import { BridgeTransport, type BridgeTransportOptions } from "./transport.js";
import { BridgeError, memoryPins, type HubPins } from "./session.js";
import { keyFromSeed, randomBytes, type SigningKey } from "./handshake.js";
import { browserSocket, type SocketFactory } from "./socket.js";

export interface ConnectOptions {
  /** `wss://hub.example.org:8443` (the vault id is appended) or the full `…/v1/<vaultId>` URL. */
  url: string;
  vaultId?: string;
  /** The device key: a SigningKey, or a 32-byte ed25519 seed. */
  key: SigningKey | Uint8Array;
  socket?: SocketFactory;
  pins?: HubPins;
  hubKey?: string;
  certFingerprint?: string;
  /** How long `connect` waits for the vault document to arrive (default 30 s). */
  readyTimeoutMs?: number;
  backoff?: BridgeTransportOptions["backoff"];
  onError?: (error: BridgeError) => void;
  onState?: BridgeTransportOptions["onState"];
  log?: Log;
}

export interface FileInfo {
  path: string;
  kind: "text" | "binary";
  size: number;
  mtime: number;
  sha256: string;
  by: string;
}

export interface VaultChange {
  origin: "local" | "remote";
  paths: string[];
}

const TICK_MS = 500;
const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** Same as the agent's default per-file limit. */
export const CLIENT_FILE_BYTES_MAX = 64 * 1024 * 1024;

export class BridgeVault {
  readonly #engine: SyncEngine;
  readonly #transport: BridgeTransport;
  readonly #listeners = new Set<(change: VaultChange) => void>();
  readonly #verdicts = new EntryVerdicts();
  #tick: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  private constructor(engine: SyncEngine, transport: BridgeTransport) {
    this.#engine = engine;
    this.#transport = transport;
  }

  /** Connects, authenticates and waits until the vault document has arrived. */
  static async connect(options: ConnectOptions): Promise<BridgeVault> {
    const key = options.key instanceof Uint8Array ? await keyFromSeed(options.key) : options.key;
    const url = sessionUrl(options.url, options.vaultId);
    const transport = new BridgeTransport({
      url,
      key,
      socket: options.socket ?? browserSocket,
      pins: options.pins ?? memoryPins(),
      hubKey: options.hubKey,
      certFingerprint: options.certFingerprint,
      backoff: options.backoff,
      onError: options.onError,
      onState: options.onState,
    });
    const ref: { vault?: BridgeVault } = {};
    const vaultId = new URL(url).pathname.slice("/v1/".length);
    const engine = new SyncEngine({
      self: transport.self,
      vault: { id: vaultId, name: "" },
      doc: emptyVaultDoc(hex(randomBytes(16))),
      store: new MemoryStore(),
      // Binary contents are fetched by hash like on any device, and kept in memory for the session.
      blobs: new MemoryBlobStore(),
      transport,
      clock: { now: () => Date.now() },
      log: options.log,
      onChange: (event) => ref.vault?.emitChange(event),
    });
    const vault = new BridgeVault(engine, transport);
    ref.vault = vault;
    await engine.start();
    vault.#tick = setInterval(() => void engine.tick(), TICK_MS);
    const deadline = Date.now() + (options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    while (!isReady(engine.doc)) {
      if (Date.now() > deadline) {
        await vault.close();
        throw new BridgeError(
          "timeout",
          `connected, but the vault document did not arrive within ${options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS} ms: is an agent or hub of this vault online behind the bridge?`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return vault;
  }

  /** The vault this client connected to (its URL), not the document's `meta`, which members can rewrite. */
  get id(): string {
    return this.#engine.vault?.id ?? "";
  }

  /** The name the vault's creating change gave it (fixed at init). */
  get name(): string {
    return createdIdentity(this.#engine.doc, this.id)?.name ?? "";
  }

  /** This client's peer id on the vault bus. */
  get self(): string {
    return this.#transport.self;
  }

  get connected(): boolean {
    return this.#transport.connected;
  }

  /** The Automerge document (read-only use). */
  get doc(): Doc {
    return this.#engine.doc;
  }

  /** The vault's files; an entry a peer wrote in a wrong shape (docs/vault-schema.md) is not one. */
  listFiles(): FileInfo[] {
    const doc = this.#engine.doc;
    const files: FileInfo[] = [];
    if (!isReady(doc)) return files;
    for (const [bucket, entries] of Object.entries(doc.files)) {
      for (const [path, rev] of Object.entries(entries ?? {})) {
        if (this.#verdicts.problemOf(bucket, path, rev) !== undefined) continue;
        const { kind, size, mtime, sha256, by } = entryFromStored(path, rev);
        files.push({ path, kind, size, mtime, sha256, by });
      }
    }
    return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** The file's valid entry, or undefined (no such file, or one a peer wrote in a wrong shape or with a wrong hash). */
  #validEntry(path: string): FileEntry | undefined {
    const canonical = normaliseVaultPath(path);
    const rev = readStored(this.#engine.doc, canonical);
    if (rev === undefined || this.#verdicts.problemOf(bucketOf(canonical), canonical, rev) !== undefined)
      return undefined;
    return entryFromStored(canonical, rev);
  }

  /**
   * The file's bytes, or undefined when there is no such file. A binary file's bytes are a blob
   * fetched by hash: read those with `readBytes` (this throws for them rather than guess).
   */
  readFile(path: string): Uint8Array | undefined {
    const entry = this.#validEntry(path);
    if (entry?.blob !== undefined)
      throw new TypeError(`${path} is a binary file stored as a blob: read it with \`await vault.readBytes(path)\``);
    return entry?.bytes;
  }

  /** Any file's bytes (binary ones from the blob store); undefined when there is no such file. Throws when a blob has not arrived yet. */
  async readBytes(path: string): Promise<Uint8Array | undefined> {
    const entry = this.#validEntry(path);
    if (entry?.blob === undefined) return entry?.bytes;
    const bytes = await this.#engine.blobs.get(entry.blob);
    if (bytes === undefined) throw new BlobMissingError(path, entry.blob);
    return bytes;
  }

  /** The file as text (UTF-8), or undefined. */
  readText(path: string): string | undefined {
    const bytes = this.readFile(path);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  }

  /** Writes a file; resolves once the change is in the local document and offered to peers. */
  async writeFile(path: string, content: string | Uint8Array): Promise<void> {
    this.#open();
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    if (bytes.length > CLIENT_FILE_BYTES_MAX)
      throw new RangeError(`${path}: ${bytes.length} bytes is over the ${CLIENT_FILE_BYTES_MAX}-byte file limit`);
    await this.#engine.change([{ type: "put", path: normaliseVaultPath(path), bytes, mtime: Date.now() }]);
  }

  async deleteFile(path: string): Promise<void> {
    this.#open();
    const canonical = normaliseVaultPath(path);
    if (readEntry(this.#engine.doc, canonical) === undefined) return;
    await this.#engine.change([{ type: "delete", path: canonical }]);
  }

  /** Calls `onChange` after every change (local or from a peer); returns the unsubscribe function. */
  subscribe(onChange: (change: VaultChange) => void): () => void {
    this.#listeners.add(onChange);
    return () => this.#listeners.delete(onChange);
  }

  /** Makes the files what they were at `when` (additive: the restore itself syncs and can be undone). Returns the paths changed. */
  async restoreAt(when: number | Date): Promise<string[]> {
    this.#open();
    const timeMs = typeof when === "number" ? when : when.getTime();
    let changed: string[] = [];
    await this.#engine.update((doc, nowMs, blobs) => {
      const result = restoreTo(doc, headsAt(doc, timeMs), {
        time: nowMs,
        by: this.self,
        message: `restore to ${new Date(timeMs).toISOString()}`,
        blobs,
      });
      changed = result.changed;
      return result.doc;
    });
    return changed;
  }

  /** Named points in the vault's history (`edgesync snapshot list`). */
  snapshots(): LabelInfo[] {
    return listLabels(this.#engine.doc);
  }

  /** Names the current state (`edgesync snapshot create`). */
  async createSnapshot(label: string): Promise<void> {
    this.#open();
    await this.#engine.update((doc, nowMs) => setLabel(doc, label, A.getHeads(doc), { time: nowMs, by: this.self }));
  }

  /** True when `peer` (or every known peer) has everything this client has. */
  inSync(peer?: string): boolean {
    const peers = peer === undefined ? this.#engine.peers : [peer];
    return peers.length > 0 && peers.every((p) => this.#engine.convergedWith(p as never));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tick);
    await this.#engine.stop();
  }

  /**
   * A write must not look done when it can never reach a peer: after `close()`, or once the
   * transport stopped for good (the bridge refused this key, or its pin or channel binding failed).
   */
  #open(): void {
    if (this.#closed) throw new BridgeError("network", "this vault connection is closed: connect again to write");
    const stoppedBy = this.#transport.stoppedBy;
    if (stoppedBy !== undefined)
      throw new BridgeError(
        stoppedBy.kind,
        `this client stopped syncing for good, so the write would never reach the vault: ${stoppedBy.message}`,
        stoppedBy.code,
      );
  }

  /** @internal the engine's change callback */
  emitChange(event: ChangeEvent): void {
    const change = { origin: event.origin, paths: [...event.paths] };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch {
        // a listener's failure is its own
      }
    }
  }
}

export const connect = (options: ConnectOptions) => BridgeVault.connect(options);

export function sessionUrl(base: string, vaultId?: string): string {
  const url = new URL(base);
  if (url.protocol !== "wss:" && url.protocol !== "ws:")
    throw new TypeError(`bridge URL ${base} must start with wss:// (or ws:// for a --no-tls bridge)`);
  if (/^\/v1\/[0-9a-f-]{36}$/.test(url.pathname)) return url.toString();
  if (!vaultId) throw new TypeError(`bridge URL ${base} names no vault: pass vaultId or use …/v1/<vault id>`);
  url.pathname = `/v1/${vaultId}`;
  return url.toString();
}

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
