/**
 * Which hubs of a cluster host a vault: rendezvous (highest random weight) hashing of the vault id
 * over the live hubs. Every hub computes the same answer from the same live set without asking
 * anyone, and when a hub leaves only the vaults it hosted move (each to the next hub in its rank),
 * so a hub failure reshuffles 1/N of the vaults, not all of them. Pure: the agent and dst share it.
 */
import { createHash } from "node:crypto";

/** Replicas per vault when the operator gives none: three copies survive two hub failures. */
export const DEFAULT_REPLICAS = 3;

/** The weight of `hubId` for `vaultId`: the first 8 bytes of sha256(vault NUL hub), big-endian. */
export function placementWeight(vaultId: string, hubId: string): bigint {
  return createHash("sha256").update(`${vaultId}\0${hubId}`).digest().readBigUInt64BE(0);
}

/** Every live hub in rank order for the vault: the first `replicas` host it. Ties (never in practice) by id. */
export function rankHubs(vaultId: string, liveHubIds: Iterable<string>): string[] {
  const weighted = [...new Set(liveHubIds)].map((id) => ({ id, weight: placementWeight(vaultId, id) }));
  weighted.sort((a, b) => (a.weight === b.weight ? (a.id < b.id ? -1 : 1) : a.weight > b.weight ? -1 : 1));
  return weighted.map((w) => w.id);
}

/** The hubs hosting a vault: the top `replicas` of its rank (all of them when fewer are live). */
export function placeVault(vaultId: string, liveHubIds: Iterable<string>, replicas: number): string[] {
  return rankHubs(vaultId, liveHubIds).slice(0, Math.max(1, replicas));
}
