/**
 * The one place that puts the agent together: the edge agent (NATS, vaults: agent/agent.ts), notify's
 * services (notify/agent-part.ts) and, when asked, the WSS bridge (bridge/server/bridge-part.ts).
 *
 * Why here: the layers run upwards — `agent/` at the bottom, `notify/` and `bridge/` built on it,
 * the CLI on top — and only the top may know every part. `agent/` sees the parts through its own
 * small interface (agent/agent-part.ts) and imports nothing from above (eslint.config.js enforces
 * it). `cmd/` is that top layer already; a room of its own would hold this one file. The start
 * command turns flags into `AssembleOptions`; what runs, and in which order, is decided here.
 */
import { Agent, type AgentConfig } from "../agent/agent.js";
import type { AgentPart } from "../agent/agent-part.js";
import { NotifyPart, type NotifyPartConfig } from "../notify/agent-part.js";

export interface AssembleOptions {
  agent: Omit<AgentConfig, "parts">;
  /** Notify runs in every agent; these are its settings. */
  notify: NotifyPartConfig;
  /** Serve the vaults over WSS as well (`--bridge`); absent: no bridge. */
  bridge?: { listen: string; noTls: boolean };
}

/**
 * Notify first (a busy inbox port stops the start before the bridge listens), then the bridge;
 * they stop in the reverse order, before the vaults. The bridge's code is loaded only when asked.
 */
export async function assembleAgent(options: AssembleOptions): Promise<Agent> {
  const parts: AgentPart[] = [new NotifyPart(options.notify)];
  if (options.bridge) {
    const { BridgePart } = await import("../bridge/server/bridge-part.js");
    parts.push(new BridgePart({ ...options.bridge, natsNoTls: options.agent.noTls ?? false }));
  }
  return new Agent({ ...options.agent, parts });
}
