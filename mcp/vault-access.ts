/**
 * The MCP server's way into the vault: each call goes to the running agent's control socket when an
 * agent holds the vault, else opens the vault in this process for that call only (cmd/vault-op.ts).
 * Calls run one at a time: two at once without an agent would race for the vault's lock, and the
 * second would fail as "vault busy" although nobody else uses it.
 */
import { runVaultOp } from "../cmd/vault-op.js";
import type { VaultOpName } from "../agent/local-vault/op-registry.js";

export class VaultAccess {
  readonly #root: string;
  readonly #identityPath: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(root: string, identityPath?: string) {
    this.#root = root;
    this.#identityPath = identityPath;
  }

  call<T>(op: VaultOpName, args: Record<string, unknown> = {}): Promise<T> {
    const run = this.#queue.then(() => runVaultOp(this.#root, op, args, this.#identityPath));
    // The queue only orders calls; each caller gets its own result or error.
    this.#queue = run.catch(() => undefined);
    return run as Promise<T>;
  }
}
