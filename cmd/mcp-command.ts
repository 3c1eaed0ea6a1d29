/** `edgesync mcp`: the vault as an MCP server on stdin/stdout, for AI agents. */
import { Command, Option } from "clipanion";
import { readFileSync } from "node:fs";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { EdgesyncCommand } from "./base-command.js";
import { createLogger, asLog } from "./logger.js";
import { serveVaultMcp, messageBytesMax } from "../mcp/server.js";

export class McpCommand extends EdgesyncCommand {
  static override paths = [["mcp"]];
  static override usage = Command.Usage({
    description: "Serve the vault to an AI agent over the Model Context Protocol (stdio)",
    details:
      "Speaks MCP on stdin/stdout (logs go to stderr): tools to list, read, search, write, edit, move and delete files, and to see and restore history; every file as a resource. Works beside a running agent (through its control socket) and without one.",
    examples: [["In an MCP client's configuration", "edgesync mcp --cwd ~/notes"]],
  });
  identity = Option.String("--identity", { description: "Device key file (default ~/.edgesync/id_ed25519)" });

  async run() {
    const log = asLog(createLogger());
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    // stdout is the protocol: the transport alone writes to it.
    const running = await serveVaultMcp(
      { root: this.root, identityPath: this.identity, version: pkg.version, log },
      (vault) => new StdioServerTransport(process.stdin, process.stdout, { maxBufferSize: messageBytesMax(vault) }),
    );
    const stop = () => void running.close();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    // The client closing stdin is how a stdio MCP server is told to go.
    process.stdin.once("end", stop);
    await running.closed;
    await running.close();
  }
}
