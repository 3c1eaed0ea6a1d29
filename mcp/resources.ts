/**
 * Every file of the vault as a resource, `edgesync://<vault id>/<path>` (each path segment
 * percent-encoded): listed, readable, and subscribable — a subscribed file that changes, whoever
 * changed it, brings `notifications/resources/updated`; a file that appears or goes brings
 * `notifications/resources/list_changed`.
 */
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  McpError,
  ErrorCode,
  type ReadResourceResult,
} from "@modelcontextprotocol/sdk/types.js";
import { normaliseVaultPath } from "../agent/vault/paths.js";
import type { FileContent, FileInfo } from "../agent/local-vault/file-ops.js";
import type { VaultAccess } from "./vault-access.js";
import type { DiskChange } from "./disk-changes.js";
import { errorMessage } from "./tool-results.js";
import type { Log } from "../agent/sync/ports.js";

/** Subscriptions one client may hold: each is a path kept in memory and looked up on every change. */
const SUBSCRIPTIONS_MAX = 10_000;

export const resourceUri = (vaultId: string, path: string) =>
  `edgesync://${vaultId}/${path.split("/").map(encodeURIComponent).join("/")}`;

/** The vault path a resource URI names; throws an MCP error naming the expected form. */
export function pathOfUri(vaultId: string, uri: string): string {
  const prefix = `edgesync://${vaultId}/`;
  if (!uri.startsWith(prefix))
    throw new McpError(
      ErrorCode.InvalidParams,
      `${uri} is not a file of this vault; its resources start with ${prefix}`,
    );
  try {
    return normaliseVaultPath(uri.slice(prefix.length).split("/").map(decodeURIComponent).join("/"));
  } catch (error) {
    throw new McpError(ErrorCode.InvalidParams, errorMessage(error).text);
  }
}

const mimeTypeOf = (path: string, kind: "text" | "binary") =>
  kind === "binary" ? "application/octet-stream" : /\.(md|markdown)$/i.test(path) ? "text/markdown" : "text/plain";

export class VaultResources {
  readonly #subscribed = new Set<string>();
  readonly #server: McpServer;
  readonly #vaultId: string;
  readonly #access: VaultAccess;
  readonly #log: Log;

  constructor(server: McpServer, vaultId: string, access: VaultAccess, log: Log) {
    this.#server = server;
    this.#vaultId = vaultId;
    this.#access = access;
    this.#log = log;
  }

  register(): void {
    const template = new ResourceTemplate(`edgesync://${this.#vaultId}/{+path}`, { list: () => this.#list() });
    this.#server.registerResource(
      "vault-file",
      template,
      { description: "A file of the edgesync vault", mimeType: "text/markdown" },
      (uri) => this.#read(uri.href),
    );
    const low = this.#server.server;
    low.registerCapabilities({ resources: { subscribe: true, listChanged: true } });
    low.setRequestHandler(SubscribeRequestSchema, async (request) => {
      const path = pathOfUri(this.#vaultId, request.params.uri);
      if (this.#subscribed.size >= SUBSCRIPTIONS_MAX && !this.#subscribed.has(path))
        throw new McpError(
          ErrorCode.InvalidRequest,
          `at most ${SUBSCRIPTIONS_MAX} subscriptions; unsubscribe from some first`,
        );
      this.#subscribed.add(path);
      return {};
    });
    low.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
      this.#subscribed.delete(pathOfUri(this.#vaultId, request.params.uri));
      return {};
    });
  }

  /** Tells the client about changed files it subscribed to, and about files that came or went. */
  onChanges(changes: readonly DiskChange[]): void {
    const low = this.#server.server;
    for (const { path } of changes) {
      if (!this.#subscribed.has(path)) continue;
      low
        .sendResourceUpdated({ uri: resourceUri(this.#vaultId, path) })
        .catch((error: unknown) => this.#log.warn({ error: String(error) }, "could not send a resource update"));
    }
    if (changes.some((c) => c.kind !== "modified") && this.#server.isConnected())
      this.#server.sendResourceListChanged();
  }

  async #list() {
    const files = await this.#access.call<FileInfo[]>("listFiles");
    return {
      resources: files.map((f) => ({
        uri: resourceUri(this.#vaultId, f.path),
        name: f.path,
        mimeType: mimeTypeOf(f.path, f.kind),
        size: f.size,
      })),
    };
  }

  async #read(uri: string): Promise<ReadResourceResult> {
    const path = pathOfUri(this.#vaultId, uri);
    let file: FileContent;
    try {
      file = await this.#access.call<FileContent>("readFile", { path });
    } catch (error) {
      throw new McpError(ErrorCode.InvalidParams, errorMessage(error).text);
    }
    const mimeType = mimeTypeOf(path, file.kind);
    return {
      contents: [
        file.text !== undefined ? { uri, mimeType, text: file.text } : { uri, mimeType, blob: file.base64 ?? "" },
      ],
    };
  }
}
