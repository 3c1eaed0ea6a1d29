/**
 * A vault folder as the bridge serves it: id and name from its config, and the keys of its
 * `authorized_keys`, read afresh at every handshake (bounded), so removing a key refuses that
 * peer's next connection — the only check in open mode; in operator mode (beside a hub) NATS
 * checks the peer's JWT against the vault's account as well.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadVaultConfig } from "../../agent/vault/config.js";
import { AUTHORIZED_KEYS } from "../../agent/fs/sync-filter.js";
import { AUTHORIZED_KEYS_BYTES_MAX, effectiveKeys, parseAuthorizedKeys } from "../../agent/auth/authorized-keys.js";
import { equalBytes } from "../../agent/auth/openssh-format.js";
import { vaultAccountPublic } from "../../agent/auth/accounts.js";
import type { BridgeVault } from "./session.js";

export async function folderVault(
  root: string,
  hubKey: { publicKey: Uint8Array },
  operatorMode = false,
): Promise<BridgeVault> {
  const config = await loadVaultConfig(root);
  return {
    id: config.vault.id,
    name: config.vault.name,
    account: operatorMode ? vaultAccountPublic(config.vault.id) : undefined,
    isAuthorised: async (publicKey) => {
      const text = await readFile(join(root, AUTHORIZED_KEYS), "utf8").catch(() => "");
      if (text.length > AUTHORIZED_KEYS_BYTES_MAX) return false;
      return effectiveKeys(parseAuthorizedKeys(text), hubKey).keys.some((k) => equalBytes(k.publicKey, publicKey));
    },
  };
}
