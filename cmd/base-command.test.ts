import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { UsageError, UserError } from "../agent/errors.js";
import { reportError } from "./base-command.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
/** The layers whose errors can reach the CLI. dst/ and scripts/ are tools of their own. */
const LAYERS = ["agent", "notify", "bridge", "cmd"];

/**
 * The exported Error classes that are deliberately not UserErrors: the CLI prints them as bugs, with
 * a stack trace and exit 70. A new error class must extend UserError or be added here with its reason.
 */
const INTERNAL_ERRORS: Record<string, string> = {
  ExitCode: "a control-flow signal carrying its own exit code; reportError handles it before it classifies errors",
  AgentCallError:
    "the running agent failed on an error not meant for the user (a bug there), or sent an unreadable answer",
  BlobError: "a malformed blob hash, or bytes that do not match theirs: corruption or a bug",
  BlobSinkMissingError: "a caller put a binary without a blob sink: a programming error",
  SshWireError:
    "malformed SSH bytes; its callers wrap it in KeyFormatError or SshAgentError naming the file or the agent",
  UnsafeConfigError:
    "an assertion on the nats-server config edgesync renders itself (CVE-2023-47090): reaching it is a bug",
  NatsServerStartError:
    "nats-server failed to start in a way edgesync does not recognise; the output tail and stack are the bug report",
  NatsServerReloadError:
    "nats-server refused a config edgesync wrote, or did not confirm the reload: a bug or a broken server",
  CborError:
    "untrusted bytes on the bridge's /automerge socket; the session answers with a close code, no user sees it",
  FrameError: "a malformed bridge frame; the server closes the socket and the client wraps it in a BridgeError",
};

/**
 * Modules not imported, because importing runs them: the CLI binary, the inbox page's build script
 * and its browser script. Their sources are checked to declare no error class instead.
 */
const ENTRY_POINTS = new Set(["cmd/edgesync.ts", "notify/web/build.ts", "notify/web/inbox.ts"]);

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "dist" && entry.name !== "node_modules") sources(path, out);
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") && !entry.name.endsWith(".d.ts")) {
      out.push(relative(REPO, path));
    }
  }
  return out;
}

type ErrorClass = abstract new (...args: never[]) => Error;
const isErrorClass = (value: unknown): value is ErrorClass =>
  typeof value === "function" && value.prototype instanceof Error;
const isUserError = (cls: ErrorClass) => cls === UserError || cls.prototype instanceof UserError;

/** Every exported Error subclass of the layers, by class name, with the module it was first seen in. */
async function exportedErrorClasses(): Promise<Map<string, { cls: ErrorClass; module: string }>> {
  const found = new Map<string, { cls: ErrorClass; module: string }>();
  for (const module of LAYERS.flatMap((layer) => sources(join(REPO, layer))).sort()) {
    if (ENTRY_POINTS.has(module)) continue;
    const exports = (await import(pathToFileURL(join(REPO, module)).href)) as Record<string, unknown>;
    for (const value of Object.values(exports)) {
      if (!isErrorClass(value)) continue;
      const seen = found.get(value.name);
      assert.ok(
        seen === undefined || seen.cls === value,
        `two error classes are named ${value.name} (${seen?.module}, ${module}): the allowlist keys by name`,
      );
      if (!seen) found.set(value.name, { cls: value, module });
    }
  }
  return found;
}

describe("reportError", () => {
  it("classifies every exported error class in agent/, notify/, bridge/ and cmd/ as a UserError or a listed internal error", async () => {
    const found = await exportedErrorClasses();
    assert.ok(found.size > 30, `only ${found.size} error classes found: is the walk looking in the right place?`);
    const unclassified = [...found].filter(
      ([name, { cls }]) => !isUserError(cls) && !Object.hasOwn(INTERNAL_ERRORS, name),
    );
    assert.deepEqual(
      unclassified.map(([name, { module }]) => `${module}: ${name}`),
      [],
      "extend UserError (agent/errors.ts) or list the class in INTERNAL_ERRORS with a reason",
    );
    for (const name of Object.keys(INTERNAL_ERRORS)) {
      const entry = found.get(name);
      assert.ok(entry, `INTERNAL_ERRORS lists ${name}, which no module exports any more`);
      assert.ok(!isUserError(entry.cls), `${name} is a UserError; drop it from INTERNAL_ERRORS`);
    }
  });

  it("gives every exported error class a name of its own, so a report says which failure it was", async () => {
    for (const [name, { cls, module }] of await exportedErrorClasses()) {
      assert.match(cls.toString(), /this\.name ?= ?/, `${module}: ${name} sets no name and would report its parent's`);
    }
  });

  it("finds no error class in the modules it cannot import", () => {
    for (const module of ENTRY_POINTS) {
      assert.doesNotMatch(readFileSync(join(REPO, module), "utf8"), /export class \w+ extends \w*Error\b/, module);
    }
  });

  it("prints a UserError as its first line and exits 1", () => {
    const lines: string[] = [];
    const code = reportError(new UsageError("--cluster-listen needs a port\nsecond line"), (line) => lines.push(line));
    assert.equal(code, 1);
    assert.deepEqual(lines, ["edgesync: --cluster-listen needs a port\n"]);
  });

  it("prints any other error as an internal error with its stack and exits 70", () => {
    const lines: string[] = [];
    const named = Object.assign(new Error("boom"), { name: "UsageError" });
    const code = reportError(named, (line) => lines.push(line));
    assert.equal(code, 70, "a plain Error named like a user error is still a bug: only the class decides");
    assert.match(lines.join(""), /^edgesync: internal error: UsageError: boom\n\s+at /);
  });
});
