/**
 * The hub's replicas in /metrics: how many are loaded, and per vault what it costs (replica-memory.ts
 * says how each figure is measured, and what it does not capture).
 */
import type { Metrics } from "./metrics.js";
import type { ReplicaMemory } from "./replica-memory.js";

type HostedReplica = { id: string } & ReplicaMemory;

export function registerReplicaMetrics(metrics: Metrics, replicas: () => HostedReplica[]): void {
  const count = (loaded: boolean) => replicas().filter((r) => (r.state === "loaded") === loaded).length;
  metrics.gauge("edgesync_replicas_loaded", "Hub replicas whose document is in memory", () => count(true));
  metrics.gauge(
    "edgesync_replicas_unloaded",
    "Hub replicas unloaded (idle) or loading: only their subscriptions and saved heads are in memory",
    () => count(false),
  );
  const perVault = (name: string, help: string, pick: (r: HostedReplica) => number | undefined) =>
    metrics.gaugeFamily(name, help, () =>
      replicas().flatMap((r) => {
        const value = pick(r);
        return value === undefined ? [] : [{ labels: { vault: r.id }, value }];
      }),
    );
  perVault("edgesync_replica_loaded", "1 while the vault's replica document is in memory, 0 when unloaded", (r) =>
    r.state === "loaded" ? 1 : 0,
  );
  perVault(
    "edgesync_replica_saved_bytes",
    "The replica's saved document on disk, bytes (what a load reads)",
    (r) => r.savedBytes,
  );
  perVault(
    "edgesync_replica_load_heap_bytes",
    "Growth of the V8 heap across the replica's last load, bytes (an estimate: other work runs meanwhile)",
    (r) => r.lastLoad?.heapBytes,
  );
  perVault(
    "edgesync_replica_load_rss_bytes",
    "Growth of the resident set across the replica's last load, bytes (an estimate; WebAssembly memory freed earlier is reused unseen)",
    (r) => r.lastLoad?.rssBytes,
  );
  perVault(
    "edgesync_replica_ops",
    "Automerge operations in the replica's document at its last load",
    (r) => r.lastLoad?.ops,
  );
  perVault("edgesync_replica_queued_bytes", "Bytes of messages waiting for the replica to load", (r) => r.queuedBytes);
  perVault("edgesync_replica_loads_total", "Times the replica's document was loaded", (r) => r.loads);
  perVault("edgesync_replica_unloads_total", "Times the replica was unloaded for being idle", (r) => r.unloads);
}
