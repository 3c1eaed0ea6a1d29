/**
 * Tool results: a failure is an MCP error result (`isError`) whose text tells an AI agent what to
 * do next, never a thrown error that would end the call as a protocol error or crash the server.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Log } from "../agent/sync/ports.js";
import { reportError } from "../cmd/base-command.js";

export const textResult = (text: string): CallToolResult => ({ content: [{ type: "text", text }] });

export const jsonResult = (value: unknown): CallToolResult => textResult(JSON.stringify(value, null, 2));

/**
 * The CLI's one classification of errors (base-command.ts): a user error's one line is passed on
 * as is; anything else is a bug, said so, with the detail in the server's log.
 */
export function errorMessage(error: unknown): { text: string; internal: boolean } {
  let line = "";
  const code = reportError(error, (written) => (line = written));
  if (code === 70)
    return {
      text: "internal error in the edgesync MCP server; its log (stderr) has the detail — retry, and report it if it persists",
      internal: true,
    };
  const text = line.replace(/^edgesync: /, "").trim();
  if (error instanceof Error && error.name === "UnsafePathError")
    return { text: `${text}; use a path relative to the vault's root, like notes/today.md`, internal: false };
  return { text, internal: false };
}

export function errorResult(error: unknown, log: Log, tool: string): CallToolResult {
  const { text, internal } = errorMessage(error);
  if (internal)
    log.warn({ tool, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, "tool failed");
  return { isError: true, content: [{ type: "text", text }] };
}

/** Runs a tool's work and turns whatever it throws into an error result. */
export async function guarded(tool: string, log: Log, work: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await work();
  } catch (error) {
    return errorResult(error, log, tool);
  }
}
