/**
 * The bridge as a part of a running agent (`sync start --bridge HOST:PORT`): started once the
 * agent's vaults run, stopped before them (agent/agent-part.ts). What it serves and how it checks
 * keys is agent-bridge.ts.
 */
import type { AgentPart, AgentPartContext } from "../../agent/agent-part.js";
import { parseListenAddress } from "../../agent/metrics.js";
import { planBridgeTls, startAgentBridge } from "./agent-bridge.js";

export interface BridgePartConfig {
  /** HOST:PORT the bridge listens on (port 0: any free port). */
  listen: string;
  /** The bridge without TLS (behind a TLS-terminating proxy). */
  noTls: boolean;
  /** The agent's NATS listeners are plain (a TLS-terminating proxy fronts the hub). */
  natsNoTls: boolean;
}

export class BridgePart implements AgentPart {
  readonly name = "bridge";
  readonly #cfg: BridgePartConfig;
  #running: { stop: () => Promise<void> } | undefined;

  /** Checks the listen address now, so a bad flag is refused before the agent starts anything. */
  constructor(config: BridgePartConfig) {
    parseListenAddress(config.listen, "--bridge");
    this.#cfg = config;
  }

  async start(context: AgentPartContext): Promise<void> {
    const { host, port } = parseListenAddress(this.#cfg.listen, "--bridge");
    const plan = await planBridgeTls({
      role: context.role,
      home: context.homeDir,
      serverDir: context.serverDir,
      host,
      noTls: this.#cfg.noTls,
      natsNoTls: this.#cfg.natsNoTls,
      localNatsAuthenticator: context.localAuthenticator,
    });
    this.#running = await startAgentBridge({
      host,
      port: Math.max(0, port),
      ...plan,
      home: context.homeDir,
      hubKey: context.device,
      natsUrl: context.natsUrl,
      engines: context.engines,
      engineFor: context.engineFor,
      catalogued: context.catalogued,
      log: context.log,
    });
  }

  async stop(): Promise<void> {
    const running = this.#running;
    this.#running = undefined;
    await running?.stop();
  }
}
