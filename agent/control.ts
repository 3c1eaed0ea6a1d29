/**
 * The running agent's control socket, `.edgesync/agent.sock`: the CLI's history and status commands
 * reach the agent through it, so they work while the agent holds the vault. One JSON request line,
 * one JSON answer line. The socket is 0600 in a 0700 folder: only this user can talk to it.
 */
import { createServer, createConnection, type Server } from "node:net";
import { chmod, unlink } from "node:fs/promises";
import { join } from "node:path";
import { VAULT_OPS, isVaultOp } from "./local-vault/op-registry.js";
import { UserError } from "./errors.js";
import type { LocalVault } from "./local-vault/local-vault.js";

export const CONTROL_SOCKET = "agent.sock";
/** A request line's room for anything but file content (its op, path and other arguments). */
const REQUEST_OVERHEAD_MAX = 64 * 1024;
/**
 * A request line longer than this is refused. `writeFile` carries a whole file, up to the vault's
 * `sync.file_bytes_max` in UTF-8, which JSON may grow up to 6 times (a control byte is `\u00XX`).
 */
const requestCharsMax = (vault: LocalVault) => REQUEST_OVERHEAD_MAX + 6 * vault.config.sync.fileBytesMax;

type Extra = Record<string, (args: Record<string, unknown>) => Promise<unknown>>;
/** An error as it crosses the socket; `user` is whether it was a UserError, which the CLI prints as one line. */
interface WireError {
  name: string;
  message: string;
  user?: boolean;
}

export async function serveControl(vault: LocalVault, extra: Extra = {}): Promise<Server> {
  const path = join(vault.stateDir, CONTROL_SOCKET);
  await unlink(path).catch(() => {});
  const server = createServer((socket) => {
    let buffer = "";
    socket.setEncoding("utf8");
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: string) => {
      // Only the new chunk is searched for the end of the line: a file-sized request comes in
      // hundreds of chunks, and searching the whole buffer each time would be quadratic.
      const inChunk = chunk.indexOf("\n");
      const end = inChunk < 0 ? -1 : buffer.length + inChunk;
      buffer += chunk;
      if ((end < 0 ? buffer.length : end) > requestCharsMax(vault)) return socket.destroy();
      if (end < 0) return;
      void answer(buffer.slice(0, end)).then((reply) => socket.end(`${JSON.stringify(reply)}\n`));
    });
  });
  const answer = async (line: string) => {
    try {
      const request = JSON.parse(line) as { op?: string; args?: Record<string, unknown> };
      const op = String(request.op);
      const args = request.args ?? {};
      if (isVaultOp(op)) return { ok: true, result: await VAULT_OPS[op](vault, args) };
      if (Object.hasOwn(extra, op)) return { ok: true, result: await extra[op](args) };
      return {
        ok: false,
        error: { name: "UsageError", message: `unknown control operation ${op}`, user: true } satisfies WireError,
      };
    } catch (error) {
      const e = error as Error;
      return {
        ok: false,
        error: {
          name: e.name ?? "Error",
          message: e.message ?? String(error),
          user: error instanceof UserError,
        } satisfies WireError,
      };
    }
  };
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(path, resolve));
  await chmod(path, 0o600);
  return server;
}

/**
 * The running agent failed a request on an error that was not meant for the user (a bug there, or
 * an answer that does not parse). `name` is the agent's own error's, so the report says what failed.
 */
export class AgentCallError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The running agent refused a request with a UserError (an unknown point in history, a bad label…); `name` is that error's. */
export class AgentRefusalError extends UserError {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The running agent took longer than the caller would wait. */
export class AgentTimeoutError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "AgentTimeoutError";
  }
}

/** Asks the running agent; undefined when no agent listens (then the caller opens the vault itself). */
export function callAgent(
  stateDir: string,
  op: string,
  args: Record<string, unknown> = {},
  timeoutMs = 120_000,
): Promise<{ result: unknown } | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(join(stateDir, CONTROL_SOCKET));
    let buffer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new AgentTimeoutError(`the running agent did not answer ${op} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify({ op, args })}\n`));
    socket.on("data", (chunk: string) => (buffer += chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === "ENOENT" || error.code === "ECONNREFUSED") resolve(undefined);
      else reject(error);
    });
    socket.on("end", () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buffer) as { ok: boolean; result?: unknown; error?: WireError };
        if (reply.ok) resolve({ result: reply.result });
        else reject(remoteError(reply.error));
      } catch {
        reject(new AgentCallError("Error", `the running agent sent an unreadable answer to ${op}`));
      }
    });
  });
}

function remoteError(error: WireError | undefined): Error {
  const name = error?.name ?? "Error";
  const message = error?.message ?? "agent error";
  return error?.user === true ? new AgentRefusalError(name, message) : new AgentCallError(name, message);
}
