/** Drives the real `edgesync mcp` with the MCP SDK's own client over stdio. */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  ResourceUpdatedNotificationSchema,
  ResourceListChangedNotificationSchema,
  type CallToolResult,
} from "@modelcontextprotocol/sdk/types.js";
import { BIN } from "./cli.js";

export interface McpSession {
  client: Client;
  /** URIs of every `notifications/resources/updated` received so far. */
  updated: string[];
  /** `notifications/resources/list_changed` received so far. */
  listChanges(): number;
  stderr(): string;
  call(name: string, args?: Record<string, unknown>): Promise<{ text: string; isError: boolean }>;
  close(): Promise<void>;
}

export async function connectMcp(vault: string, env: NodeJS.ProcessEnv): Promise<McpSession> {
  const plainEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, "mcp", "--cwd", vault],
    env: plainEnv,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-100_000)));
  const client = new Client({ name: "edgesync-test", version: "1.0.0" });
  const updated: string[] = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (notification) => {
    updated.push(notification.params.uri);
  });
  let listChanges = 0;
  client.setNotificationHandler(ResourceListChangedNotificationSchema, async () => {
    listChanges++;
  });
  await client.connect(transport);
  return {
    client,
    updated,
    listChanges: () => listChanges,
    stderr: () => stderr,
    async call(name, args = {}) {
      const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
      const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join("");
      return { text, isError: result.isError === true };
    },
    close: () => client.close(),
  };
}
