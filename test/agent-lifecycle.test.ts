/** The agent's process lifecycle around its nats-server child. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, waitFor } from "./helpers/cli.js";
import { startAgent, cli } from "./helpers/agents.js";

describe("agent lifecycle", () => {
  it("stops with exit code 1 and says why when its nats-server dies under it", async () => {
    const box = await sandbox("lifecycle");
    try {
      const root = join(box.dir, "v");
      await mkdir(root);
      assert.equal(cli(box, "p", ["init", "--cwd", root]).code, 0);
      const agent = await startAgent(box, "p", ["--nats-role", "peer", "--cluster-listen", "127.0.0.1:-1", "--cwd", root]);
      const exited = new Promise<number | null>((resolve) => agent.once("exit", (code) => resolve(code)));
      process.kill(agent.info.natsPid!, "SIGKILL");
      await waitFor("the agent to exit", () => agent.exitCode !== null, 30_000, () => agent.output());
      assert.equal(await exited, 1);
      assert.match(agent.output(), /nats-server exited on its own; stopping the agent/);
    } finally {
      await box.cleanup();
    }
  });
});
