/**
 * The vault's tools. Each takes vault-relative paths (checked as sync checks every path), runs as an
 * ordinary change of this device through VaultAccess, and answers with text an agent can act on;
 * a failure is an error result saying what to do (tool-results.ts).
 */
import { z } from "zod";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { VaultAccess } from "./vault-access.js";
import type { DiskChanges } from "./disk-changes.js";
import type { SearchIndex } from "./search-index.js";
import { guarded, jsonResult, textResult } from "./tool-results.js";
import { HITS_MAX } from "./search-index.js";
import type { FileContent, FileInfo, WriteResult } from "../agent/local-vault/file-ops.js";
import { HISTORY_VERSIONS_MAX } from "../agent/local-vault/file-ops.js";
import type { RestoreResult, FileDiff } from "../agent/local-vault/operations.js";
import type { LabelInfo } from "../agent/vault/model/history.js";
import type { Log } from "../agent/sync/ports.js";

export interface VaultToolsContext {
  server: McpServer;
  access: VaultAccess;
  changes: DiskChanges;
  index: SearchIndex;
  log: Log;
}

/** Files one list_files answer holds: a big vault's whole listing would flood an agent's context. */
const LIST_FILES_MAX = 1000;

const path = z
  .string()
  .describe("Path of a file relative to the vault's root, with '/' separators, e.g. notes/today.md");
const point = z
  .string()
  .describe(
    "A point in the vault's history: a snapshot label, a time (epoch ms, ISO date, or an age such as 5m, 2h, 1d), or a change hash from file_history",
  );

export function registerVaultTools(ctx: VaultToolsContext): void {
  registerReadTools(ctx);
  registerWriteTools(ctx);
  registerHistoryTools(ctx);
}

/** Registers one tool whose handler can never throw. */
function tool<S extends z.ZodRawShape>(
  ctx: VaultToolsContext,
  name: string,
  description: string,
  inputSchema: S,
  work: (args: z.infer<z.ZodObject<S>>) => Promise<CallToolResult>,
): void {
  // The SDK's callback type is generic over its own schema types; the cast only bridges the two spellings of one shape.
  const handler = (args: z.infer<z.ZodObject<S>>) => guarded(name, ctx.log, () => work(args));
  ctx.server.registerTool(name, { description, inputSchema }, handler as never);
}

function registerReadTools(ctx: VaultToolsContext): void {
  tool(
    ctx,
    "list_files",
    "List the vault's files: path, kind (text or binary), size in bytes, the device that wrote the current version and its time. Give prefix to list one folder, e.g. 'projects/'.",
    { prefix: z.string().optional().describe("Only paths starting with this, e.g. 'projects/'") },
    async ({ prefix }) => {
      const files = await ctx.access.call<FileInfo[]>("listFiles", { prefix });
      if (files.length === 0)
        return textResult(prefix ? `no file path starts with ${JSON.stringify(prefix)}` : "the vault has no files yet");
      if (files.length <= LIST_FILES_MAX) return jsonResult(files);
      return jsonResult({
        files: files.slice(0, LIST_FILES_MAX),
        more: files.length - LIST_FILES_MAX,
        hint: "give a prefix (a folder) to list the rest",
      });
    },
  );
  tool(
    ctx,
    "read_file",
    "Read a text file of the vault (markdown and the like). Returns its whole content.",
    { path },
    async (args) => {
      const file = await ctx.access.call<FileContent>("readFile", { path: args.path });
      if (file.text === undefined)
        return {
          isError: true,
          content: [
            {
              type: "text",
              text: `${file.path} is a binary file (${file.size} bytes); read_file returns text only — read it as a resource instead`,
            },
          ],
        };
      return textResult(file.text);
    },
  );
  tool(
    ctx,
    "search",
    "Full-text search over the vault's text files, ranked best first (prefix and typo-tolerant matching). Returns each matching file's path and the lines that matched, with line numbers; then read_file the ones you need.",
    {
      query: z.string().min(1).describe("Words to look for, e.g. 'quarterly budget'"),
      limit: z.number().int().min(1).max(HITS_MAX).optional().describe(`Files to return, 1-${HITS_MAX} (default 10)`),
    },
    async ({ query, limit }) => {
      const hits = ctx.index.search(query, limit ?? 10);
      return hits.length === 0
        ? textResult(`no file matches ${JSON.stringify(query)}; try other or fewer words`)
        : jsonResult(hits);
    },
  );
}

function registerWriteTools(ctx: VaultToolsContext): void {
  /** Runs a change and looks at the touched paths at once, so search and subscribers see it now. */
  const write = async <T>(
    op: Parameters<VaultAccess["call"]>[0],
    args: Record<string, unknown>,
    touched: (result: T) => string[],
  ): Promise<T> => {
    const result = await ctx.access.call<T>(op, args);
    await ctx.changes.refresh(touched(result));
    return result;
  };
  tool(
    ctx,
    "write_file",
    "Create a file or replace its whole content. The change is kept in the vault's history (restore can undo it) and syncs to the user's other devices. To change part of a file, prefer edit_file.",
    { path, content: z.string().describe("The file's complete new content (UTF-8 text)") },
    async (args) => {
      const result = await write<WriteResult>("writeFile", args, (r) => [r.path]);
      return textResult(
        result.changed
          ? `wrote ${result.path} (${result.bytes} bytes)`
          : `${result.path} already had exactly this content; nothing changed`,
      );
    },
  );
  tool(
    ctx,
    "edit_file",
    "Replace one exact snippet of a text file with new text. old_text must occur exactly once in the file (copy it from read_file, whitespace included; add surrounding lines to make it unique).",
    {
      path,
      old_text: z.string().min(1).describe("The exact text to replace; must occur once"),
      new_text: z.string().describe("The text to put in its place (empty to delete it)"),
    },
    async (args) => {
      const result = await write<WriteResult>(
        "editFile",
        { path: args.path, oldText: args.old_text, newText: args.new_text },
        (r) => [r.path],
      );
      return textResult(`edited ${result.path} (now ${result.bytes} bytes)`);
    },
  );
  tool(
    ctx,
    "delete_file",
    "Delete a file from the vault and from the user's devices. History keeps it: restore with its path and a time before the delete brings it back.",
    { path },
    async (args) => {
      const result = await write<{ path: string }>("deleteFile", { path: args.path }, (r) => [r.path]);
      return textResult(`deleted ${result.path}`);
    },
  );
  tool(
    ctx,
    "move_file",
    "Move or rename a file within the vault. Fails if new_path exists.",
    { path, new_path: z.string().describe("The file's new path relative to the vault's root") },
    async (args) => {
      const result = await write<{ from: string; to: string }>(
        "moveFile",
        { from: args.path, to: args.new_path },
        (r) => [r.from, r.to],
      );
      return textResult(`moved ${result.from} to ${result.to}`);
    },
  );
}

function registerHistoryTools(ctx: VaultToolsContext): void {
  tool(
    ctx,
    "file_history",
    "Versions of one file, newest first: the change hash, time, which device wrote it, size, and whether it was added, modified or deleted. A hash works as a point for diff and restore.",
    {
      path,
      limit: z
        .number()
        .int()
        .min(1)
        .max(HISTORY_VERSIONS_MAX)
        .optional()
        .describe(`Versions to return (default 50, at most ${HISTORY_VERSIONS_MAX})`),
    },
    async (args) => {
      const history = await ctx.access.call<{ path: string; versions: { time: number }[] }>("fileHistory", {
        path: args.path,
        limit: args.limit,
      });
      return jsonResult({
        path: history.path,
        versions: history.versions.map((v) => ({ ...v, at: new Date(v.time).toISOString() })),
      });
    },
  );
  tool(
    ctx,
    "diff",
    "Unified diff of the vault (or one file) between two points in its history; to defaults to now.",
    { from: point, to: point.optional(), path: path.optional() },
    async (args) => {
      const result = await ctx.access.call<{ files: FileDiff[] }>("diff", { from: args.from, to: args.to });
      const files = result.files.filter((f) => args.path === undefined || f.path === args.path);
      if (files.length === 0) return textResult("no differences");
      return textResult(files.map((f) => f.patch ?? `${f.change} binary file ${f.path}\n`).join("\n"));
    },
  );
  tool(
    ctx,
    "restore",
    "Bring back a past state: one file (give path) or the whole vault as it was at a point in history. Restoring adds a new change, so it can itself be undone.",
    { at: point, path: path.optional() },
    async (args) => {
      const result = await ctx.access.call<RestoreResult>("restore", { at: args.at, path: args.path });
      await ctx.changes.refresh(result.changed);
      return textResult(
        result.changed.length === 0
          ? "nothing to restore: the files already match"
          : `restored ${result.changed.length} file(s): ${result.changed.join(", ")}`,
      );
    },
  );
  tool(
    ctx,
    "snapshot",
    "Name the vault's current state so diff and restore can return to it later (the name syncs to every device). Without label, lists the existing snapshots.",
    { label: z.string().optional().describe("Name for the snapshot: 1-64 letters, digits, space . _ : @ + -") },
    async ({ label }) => {
      if (label === undefined)
        return jsonResult(
          (await ctx.access.call<LabelInfo[]>("snapshotList")).map((l) => ({
            label: l.label,
            at: new Date(l.time).toISOString(),
          })),
        );
      await ctx.access.call("snapshotCreate", { label });
      return textResult(`snapshot ${JSON.stringify(label)} made; use it as a point for diff and restore`);
    },
  );
}
