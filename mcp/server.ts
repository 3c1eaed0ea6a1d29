/**
 * `edgesync mcp`: the vault as a Model Context Protocol server. Wires the parts — vault access
 * (agent or in-process), the disk watcher feeding search and resource updates, the tools and the
 * resources — and serves them over a transport (stdio for the command).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { loadVaultConfig, type VaultConfig } from "../agent/vault/config.js";
import type { Log } from "../agent/sync/ports.js";
import { VaultAccess } from "./vault-access.js";
import { DiskChanges } from "./disk-changes.js";
import { SearchIndex } from "./search-index.js";
import { VaultResources } from "./resources.js";
import { registerVaultTools } from "./vault-tools.js";
import { registerNotifyTools } from "./notify-tools.js";

export interface VaultMcpConfig {
  /** The vault folder. */
  root: string;
  /** Device key file for in-process changes (default ~/.edgesync/id_ed25519). */
  identityPath?: string;
  version: string;
  log: Log;
}

const INSTRUCTIONS = [
  "This server is an edgesync vault: a folder of markdown notes synced across the user's devices, with the full history of every file.",
  "Paths are relative to the vault's root (notes/today.md). Every write is kept in history and syncs to the user's other devices.",
  "Find notes with search, read them with read_file, change part of one with edit_file. file_history, diff and restore go back in time; snapshot names a point to return to.",
  "notify_send and notify_ask reach the user on their devices; notify_ask waits for the answer.",
].join(" ");

export interface RunningVaultMcp {
  /** Resolves when the client has gone (the transport closed). */
  closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * Bytes one incoming protocol message may take: a write_file of a whole file up to the vault's
 * `sync.file_bytes_max`, which JSON may grow up to 6 times (a control byte is `\u00XX`), plus room
 * for the rest. The SDK's stdio default (10 MiB) is below the default file limit (16 MiB), and a
 * message over it ends the session.
 */
export const messageBytesMax = (vault: VaultConfig) => 6 * vault.sync.fileBytesMax + 1024 * 1024;

export async function serveVaultMcp(
  config: VaultMcpConfig,
  makeTransport: (vault: VaultConfig) => Transport,
): Promise<RunningVaultMcp> {
  const vault = await loadVaultConfig(config.root); // a folder that is not a vault fails here, in one line
  const transport = makeTransport(vault);
  const access = new VaultAccess(config.root, config.identityPath);
  const changes = new DiskChanges(config.root, vault.sync, config.log);
  const index = new SearchIndex();
  const server = new McpServer(
    { name: "edgesync", version: config.version },
    { instructions: INSTRUCTIONS, capabilities: { resources: { subscribe: true, listChanged: true } } },
  );
  const resources = new VaultResources(server, vault.vault.id, access, config.log);
  resources.register();
  registerVaultTools({ server, access, changes, index, log: config.log });
  registerNotifyTools({ server, root: config.root, identityPath: config.identityPath, log: config.log });
  changes.onChange((batch) => {
    index.apply(batch);
    resources.onChanges(batch);
  });
  await changes.start();
  config.log.info({ vault: vault.vault.id, files: index.size }, "edgesync mcp serving the vault");
  // A line that is not JSON-RPC, or a failed send: logged, and the server goes on.
  server.server.onerror = (error) => config.log.warn({ error: String(error) }, "MCP protocol error");
  const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
  await server.connect(transport);
  let stopping: Promise<void> | undefined;
  return {
    closed,
    close() {
      stopping ??= (async () => {
        changes.stop();
        await server.close();
      })();
      return stopping;
    },
  };
}
