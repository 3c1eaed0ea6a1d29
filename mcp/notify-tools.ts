/**
 * notify for the human in the loop: send a message, ask and wait for the answer, list threads, read
 * a thread — as `edgesync notify` does, over the same connection logic (cmd/notify-base.ts), with
 * the vault this server serves as the notify set (its people read and answer).
 */
import { z } from "zod";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { withNotifyClient } from "../cmd/notify-base.js";
import { parseActionSpec, type Draft } from "../notify/model.js";
import { NoAnswerError } from "../notify/errors.js";
import type { NotifyClient } from "../notify/client.js";
import type { Log } from "../agent/sync/ports.js";
import { guarded, jsonResult, textResult } from "./tool-results.js";

export interface NotifyToolsContext {
  server: McpServer;
  /** The vault folder: its vault is the notify set. */
  root: string;
  identityPath?: string;
  log: Log;
}

/**
 * Default wait of notify_ask: under the 60 s after which MCP clients commonly give up on a call;
 * an agent that wants longer says so, and one that got no answer can read the thread later.
 */
const ASK_TIMEOUT_S_DEFAULT = 50;
const ASK_TIMEOUT_S_MAX = 3600;

const message = {
  project: z.string().min(1).describe("Project the message is about, e.g. the repository's name"),
  content: z.string().min(1).describe("The message text (at most 16 KiB)"),
  thread: z.string().optional().describe("Thread within the project (default: general)"),
  actions: z
    .array(z.string())
    .optional()
    .describe("Buttons for the human, each ID:LABEL, e.g. ['yes:Merge', 'no:Wait']"),
  priority: z
    .enum(["info", "action_required", "urgent"])
    .optional()
    .describe("Default: info, or action_required with actions"),
};

type MessageArgs = { project: string; content: string; thread?: string; actions?: string[]; priority?: string };

const draftOf = (args: MessageArgs): Draft => ({
  project: args.project,
  thread: args.thread ?? "general",
  body: args.content,
  ...(args.priority !== undefined ? { priority: args.priority } : {}),
  actions: (args.actions ?? []).map(parseActionSpec),
});

export function registerNotifyTools(ctx: NotifyToolsContext): void {
  // Never a terminal prompt: stdin is the protocol. A hub not yet trusted is refused with what to do.
  const trust = { accept: process.env.EDGESYNC_ACCEPT_HUB_KEY === "1" };
  const withClient = <T>(work: (client: NotifyClient) => Promise<T>) =>
    withNotifyClient(
      { identityPath: ctx.identityPath, trust, set: process.env.EDGESYNC_NOTIFY_SET, cwd: ctx.root },
      work,
    );
  const tool = <S extends z.ZodRawShape>(
    name: string,
    description: string,
    inputSchema: S,
    work: (args: z.infer<z.ZodObject<S>>) => Promise<CallToolResult>,
  ) => {
    const handler = (args: z.infer<z.ZodObject<S>>) => guarded(name, ctx.log, () => work(args));
    ctx.server.registerTool(name, { description, inputSchema }, handler as never);
  };
  tool(
    "notify_send",
    "Send a message to the user's devices (phone, browser inbox, terminals). Does not wait for an answer; use notify_ask for a question.",
    message,
    async (args) => {
      const sent = await withClient((client) => client.send(draftOf(args)));
      return textResult(`sent ${sent.id} to ${sent.project}/${sent.thread}`);
    },
  );
  tool(
    "notify_ask",
    `Ask the user a question on their devices and wait for the answer: the chosen action's id or the reply's text. Gives up after timeout_seconds (default ${ASK_TIMEOUT_S_DEFAULT}); then notify_log on the thread shows a later answer.`,
    {
      ...message,
      timeout_seconds: z
        .number()
        .int()
        .min(1)
        .max(ASK_TIMEOUT_S_MAX)
        .optional()
        .describe(`How long to wait, 1-${ASK_TIMEOUT_S_MAX} s`),
    },
    async (args) => {
      const timeoutS = args.timeout_seconds ?? ASK_TIMEOUT_S_DEFAULT;
      try {
        const { question, answer } = await withClient((client) =>
          client.ask(draftOf(args), { timeoutMs: timeoutS * 1000 }),
        );
        return jsonResult({
          question: question.id,
          action: answer.actionResponse ?? null,
          text: answer.body,
          from: answer.fromName,
        });
      } catch (error) {
        if (!(error instanceof NoAnswerError)) throw error;
        return textResult(
          `no answer yet to ${error.questionId} after ${timeoutS} s; read the thread later with notify_log (thread ${args.thread ?? "general"}, project ${args.project})`,
        );
      }
    },
  );
  tool(
    "notify_threads",
    "List the notify threads, newest activity first, with how many questions are still open.",
    { project: z.string().optional().describe("Only this project's threads") },
    async ({ project }) => {
      const threads = await withClient((client) => client.threads(project));
      return threads.length === 0 ? textResult("no messages yet") : jsonResult(threads);
    },
  );
  tool(
    "notify_log",
    "Read a thread's messages, oldest first, answers included.",
    {
      thread: z.string().min(1).describe("Thread name, e.g. general"),
      project: z.string().optional(),
      limit: z.number().int().min(1).max(500).optional().describe("Only the newest N messages"),
    },
    async ({ thread, project, limit }) => {
      const messages = await withClient((client) =>
        client.log({ thread, ...(project ? { project } : {}), ...(limit ? { limit } : {}) }),
      );
      if (messages.length === 0) return textResult(`no messages in thread ${JSON.stringify(thread)}`);
      return jsonResult(
        messages.map((m) => ({
          id: m.id,
          at: new Date(m.timestamp).toISOString(),
          from: m.fromName,
          body: m.body,
          priority: m.priority,
          actions: m.actions,
          replyTo: m.replyTo,
          action: m.actionResponse,
        })),
      );
    },
  );
}
