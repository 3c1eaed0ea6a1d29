/**
 * Runs a named vault operation: through the running agent when there is one (it holds the vault),
 * else by opening the vault in this process. Either way the caller gets the same result.
 */
import { join } from "node:path";
import { callAgent } from "../agent/control.js";
import { openLocalVault, type LocalVault } from "../agent/local-vault/local-vault.js";
import { VAULT_OPS, type VaultOpName } from "../agent/local-vault/op-registry.js";
import { STATE_DIR } from "../agent/vault/paths.js";
import { loadVaultConfig } from "../agent/vault/config.js";
import { loadDevice } from "./device.js";

export async function runVaultOp(
  root: string,
  op: VaultOpName,
  args: Record<string, unknown>,
  identityPath?: string,
): Promise<unknown> {
  await loadVaultConfig(root); // one clear error for a folder that is not a vault
  const viaAgent = await callAgent(join(root, STATE_DIR), op, args);
  if (viaAgent !== undefined) return viaAgent.result;
  const run = VAULT_OPS[op] as (vault: LocalVault, args: Record<string, unknown>) => Promise<unknown>;
  return withLocalVault(root, identityPath, (vault) => run(vault, args));
}

/** Opens the vault here (no agent running), reconciles the folder first so no local edit is missed. */
export async function withLocalVault<T>(
  root: string,
  identityPath: string | undefined,
  work: (vault: LocalVault) => Promise<T>,
): Promise<T> {
  const device = await loadDevice(identityPath);
  const vault = await openLocalVault({ root, peerId: device.peerId, holder: "edgesync cli", watch: false });
  try {
    await vault.start();
    const result = await work(vault);
    await vault.binding.idle();
    await vault.engine.flush();
    return result;
  } finally {
    await vault.close();
  }
}
