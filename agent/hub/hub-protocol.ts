/** The hub's control requests (signed, on the hub account) and their answers. */
export interface RegisterBody {
  vaultId: string;
  name: string;
  /** The vault's authorized_keys text at registration; later changes arrive through sync. */
  authorizedKeys: string;
}

export interface CatalogueEntry {
  id: string;
  name: string;
}

export interface CatalogueReply {
  /** Only the vaults whose authorized_keys list the asking key. */
  vaults: CatalogueEntry[];
  /** The hub's leafnode URL, for `sync start --nats-role leaf`. */
  leafUrl?: string;
  /** The hub's device key (`ssh-ed25519 …`), pinned beside its certificate. */
  hubKey: string;
}

/** A request for pairing-door credentials (the answer is agent/auth/pairing-door.ts DoorUser). */
export interface DoorRequestBody {
  /** The notify set the pairing link is for. */
  set: string;
}

export type HubReply<T> = { ok: true; value: T } | { ok: false; error: string };

export const VAULT_NAME_CHARS_MAX = 200;

/** Header naming the server a request entered by: only the hub on that server answers it (hub-authority.ts). */
export const HUB_SERVER_HEADER = "es-server";
