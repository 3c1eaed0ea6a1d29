/**
 * One-shot sync for `clone`, `pull` and `push`: connect to the hub, sync the vault until this
 * device and at least one peer hold the same heads, write the files, exit. Non-zero on failure.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsTransport } from "./nats/nats-transport.js";
import { openLocalVault } from "./local-vault/local-vault.js";
import { isReady, listStored } from "./vault/model/vault-doc.js";
import { loadVaultConfig } from "./vault/config.js";
import { asPeerId, type Log } from "./sync/ports.js";
import { UserError } from "./errors.js";

export class SyncTimeoutError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SyncTimeoutError";
  }
}

export interface SyncOnceOptions {
  root: string;
  /** Opens the connection that carries the vault (closed when done). */
  connect: () => Promise<NatsConnection>;
  peerId: string;
  log: Log;
  timeoutMs: number;
  /** Called as files arrive (for a progress bar). */
  onProgress?: (files: number) => void;
}

export interface SyncOnceResult {
  files: number;
  /** Binary files whose contents had not arrived by the deadline (not written yet). */
  missingBlobs: number;
  peers: string[];
  ms: number;
}

export async function syncOnce(options: SyncOnceOptions): Promise<SyncOnceResult> {
  const started = Date.now();
  const config = await loadVaultConfig(options.root);
  const nc = await options.connect();
  try {
    const transport = new NatsTransport({
      nc,
      vaultId: config.vault.id,
      self: asPeerId(options.peerId),
      log: options.log,
    });
    const vault = await openLocalVault({
      root: options.root,
      peerId: options.peerId,
      transport,
      log: options.log,
      holder: "edgesync one-shot sync",
      watch: false,
    });
    try {
      await vault.start();
      // A clone: the doc arrives during this run, and the binding writes each change as it is stored.
      const cloning = !isReady(vault.engine.doc);
      const deadline = started + options.timeoutMs;
      let lastCount = -1;
      options.log.debug({ ms: Date.now() - started }, "one-shot: vault open");
      while (true) {
        const converged = vault.engine.peerInfo().filter((p) => p.converged);
        if (isReady(vault.engine.doc) && converged.length > 0) {
          options.log.debug({ ms: Date.now() - started }, "one-shot: converged with a peer; writing files");
          await vault.engine.flush(); // every change received is stored and handed to the binding
          // A push or pull compares the whole folder once more (writes what arrived, ingests what was
          // edited meanwhile). A clone's folder held nothing of ours: its passes wrote every file
          // already, and a full reconcile would read all of them back (10,000 files: seconds).
          await (cloning ? vault.binding.idle() : vault.binding.reconcile());
          options.log.debug({ ms: Date.now() - started }, "one-shot: files written");
          await vault.engine.flush();
          const missing = vault.engine.missingBlobs.length;
          if (vault.engine.peerInfo().some((p) => p.converged) && missing === 0) break;
          if (missing > 0 && Date.now() > deadline) {
            // The vault is here; some binary contents are not (their writer is offline and no hub has them).
            options.log.warn(
              { blobs: missing },
              "binary files still missing: their contents have not arrived yet; the agent fetches and writes them when it runs (`edgesync start`)",
            );
            break;
          }
        }
        if (Date.now() > deadline)
          throw new SyncTimeoutError(
            `no peer finished syncing vault ${config.vault.id} within ${options.timeoutMs} ms; is the hub running and does it have the vault?`,
          );
        const count = isReady(vault.engine.doc) ? listStored(vault.engine.doc).size : 0;
        if (count !== lastCount) {
          options.log.debug({ ms: Date.now() - started, files: count }, "one-shot: files in the doc");
          options.onProgress?.((lastCount = count));
        }
        await vault.engine.tick();
        await new Promise((r) => setTimeout(r, 25));
      }
      return {
        files: listStored(vault.engine.doc).size,
        missingBlobs: vault.engine.missingBlobs.length,
        peers: vault.engine
          .peerInfo()
          .filter((p) => p.converged)
          .map((p) => p.peer),
        ms: Date.now() - started,
      };
    } finally {
      await vault.close();
    }
  } finally {
    await nc.close();
  }
}
