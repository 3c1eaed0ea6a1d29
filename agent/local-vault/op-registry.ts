/** Named vault operations, callable in-process or through the agent's control socket. */
import * as ops from "./operations.js";
import * as files from "./file-ops.js";
import type { LocalVault } from "./local-vault.js";
import { UsageError } from "../errors.js";

type Args = Record<string, unknown>;
const str = (args: Args, key: string): string => {
  const value = args[key];
  if (typeof value !== "string") throw new UsageError(`missing argument ${key}`);
  return value;
};
const optStr = (args: Args, key: string): string | undefined =>
  typeof args[key] === "string" ? (args[key] as string) : undefined;

export const VAULT_OPS = {
  status: (v: LocalVault) => ops.status(v),
  restoreAt: (v: LocalVault, a: Args) => ops.restoreAt(v, str(a, "when"), Date.now()),
  snapshotCreate: (v: LocalVault, a: Args) => ops.snapshotCreate(v, str(a, "label")),
  snapshotList: async (v: LocalVault) => ops.snapshotList(v),
  snapshotRestore: (v: LocalVault, a: Args) => ops.snapshotRestore(v, str(a, "label")),
  snapshotDelete: (v: LocalVault, a: Args) => ops.snapshotDelete(v, str(a, "label")),
  diff: async (v: LocalVault, a: Args) => ops.diff(v, str(a, "from"), optStr(a, "to"), Date.now()),
  compact: (v: LocalVault) => ops.compact(v),
  // File operations for clients without a folder of their own (the MCP server).
  listFiles: async (v: LocalVault, a: Args) => files.listFiles(v, optStr(a, "prefix")),
  readFile: (v: LocalVault, a: Args) => files.readFile(v, str(a, "path")),
  writeFile: (v: LocalVault, a: Args) => files.writeFile(v, str(a, "path"), str(a, "content")),
  editFile: (v: LocalVault, a: Args) => files.editFile(v, str(a, "path"), str(a, "oldText"), str(a, "newText")),
  deleteFile: (v: LocalVault, a: Args) => files.deleteFile(v, str(a, "path")),
  moveFile: (v: LocalVault, a: Args) => files.moveFile(v, str(a, "from"), str(a, "to")),
  fileHistory: async (v: LocalVault, a: Args) =>
    files.fileHistory(v, str(a, "path"), typeof a.limit === "number" ? a.limit : undefined),
  restore: (v: LocalVault, a: Args) => files.restore(v, str(a, "at"), optStr(a, "path")),
} satisfies Record<string, (vault: LocalVault, args: Args) => Promise<unknown>>;

export type VaultOpName = keyof typeof VAULT_OPS;

export const isVaultOp = (name: string): name is VaultOpName => Object.hasOwn(VAULT_OPS, name);
