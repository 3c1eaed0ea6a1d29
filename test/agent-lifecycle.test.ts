/** The agent's process lifecycle around its nats-server child. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop } from "./helpers/cli.js";
import { startAgent, cli } from "./helpers/agents.js";
import { waitFor } from "./helpers/wait.js";

describe("agent lifecycle", () => {
  it("stops with exit code 1 and says why when its nats-server dies under it", async () => {
    const box = await sandbox("lifecycle");
    let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
    try {
      const root = join(box.dir, "v");
      await mkdir(root);
      assert.equal(cli(box, "p", ["init", "--cwd", root]).code, 0);
      agent = await startAgent(box, "p", ["--nats-role", "peer", "--cluster-listen", "127.0.0.1:-1", "--cwd", root]);
      const running = agent;
      const exited = new Promise<number | null>((resolve) => running.once("exit", (code) => resolve(code)));
      process.kill(agent.info.natsPid!, "SIGKILL");
      await waitFor(
        "the agent to exit",
        () => running.exitCode !== null,
        30_000,
        () => running.output(),
      );
      assert.equal(await exited, 1);
      assert.match(running.output(), /nats-server exited on its own; stopping the agent/);
    } finally {
      if (agent) await stop(agent, "SIGKILL");
      await box.cleanup();
    }
  });
});
