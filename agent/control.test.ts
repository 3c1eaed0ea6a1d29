import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "node:net";
import { AgentCallError, callAgent, serveControl } from "./control.js";
import { UsageError, UserError } from "./errors.js";
import type { LocalVault } from "./local-vault/local-vault.js";

let dir: string;
let server: Server;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "es-control-"));
  // Only the state folder is read by the socket itself; the vault operations are not called here.
  const vault = { stateDir: dir, config: { sync: { fileBytesMax: 1024 } } } as unknown as LocalVault;
  server = await serveControl(vault, {
    refuse: async () => {
      throw new UsageError("pass --label");
    },
    crash: async () => {
      throw new TypeError("x is undefined");
    },
  });
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe("control socket errors", () => {
  it("brings the agent's UserError back as a UserError with its name and message", async () => {
    await assert.rejects(
      callAgent(dir, "refuse"),
      (e: Error) => e instanceof UserError && e.name === "UsageError" && e.message === "pass --label",
    );
  });

  it("brings any other agent error back as an internal AgentCallError, not a UserError", async () => {
    await assert.rejects(
      callAgent(dir, "crash"),
      (e: Error) => e instanceof AgentCallError && !(e instanceof UserError) && e.name === "TypeError",
    );
  });

  it("answers an unknown operation with a UserError", async () => {
    await assert.rejects(
      callAgent(dir, "frobnicate"),
      (e: Error) => e instanceof UserError && /unknown control operation frobnicate/.test(e.message),
    );
  });
});
