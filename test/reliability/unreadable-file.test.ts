/**
 * A file the agent cannot read (another user's save with mode 000, a file locked away by chmod): it
 * must not sync as an empty file — that would wipe the content on every other device — and it
 * syncs once it can be read again. Real agents over a real NATS route. Root reads everything, so
 * when these tests run as root the reading agent runs without CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH (setpriv), which makes mode 000 bite as it does for any other user.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, readText, type Sandbox } from "../helpers/cli.js";
import { startMeshedPeers, type RunningAgent } from "../helpers/agents.js";
import { waitFor } from "../helpers/wait.js";

/** A command prefix that takes root's power to read any file away from the process it execs. */
const withoutReadOverride = (): string[] =>
  process.getuid?.() === 0 ? ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] : [];

const CANNOT_READ = "cannot read this file; it is not synced until it can be read";

describe("a file the agent cannot read", () => {
  let box: Sandbox | undefined;
  const agents: RunningAgent[] = [];
  after(async () => {
    for (const agent of agents.reverse()) await stop(agent, "SIGINT");
    await box?.cleanup();
  });

  it("is skipped with one log line instead of syncing as empty, and syncs once it can be read", async () => {
    box = await sandbox("unreadable");
    const { a, b, pa, pb } = await startMeshedPeers(box, agents, withoutReadOverride());
    const detail = () => `--- pa\n${pa.output().slice(-4000)}\n--- pb\n${pb.output().slice(-2000)}`;
    await writeFile(join(a, "note.md"), "the first version\n");
    await waitFor(
      "note.md on b",
      async () => (await readText(join(b, "note.md"))) === "the first version\n",
      30_000,
      detail,
    );

    // A save by another user, or with a restrictive mode: the new version replaces the file, and
    // the agent cannot open it. A new file arrives the same way.
    await writeFile(join(a, "note.md.partial"), "the second version\n", { mode: 0o000 });
    await rename(join(a, "note.md.partial"), join(a, "note.md"));
    await writeFile(join(a, "locked.md"), "a new file nobody may read yet\n", { mode: 0o000 });
    const saidFor = (path: string) =>
      pa
        .output()
        .split("\n")
        .filter((line) => line.includes(CANNOT_READ) && line.includes(path)).length;
    await waitFor(
      "pa to say it cannot read note.md and locked.md, or b's copy to change",
      async () =>
        (saidFor("note.md") > 0 && saidFor("locked.md") > 0) ||
        (await readText(join(b, "note.md"))) !== "the first version\n",
      30_000,
      detail,
    );
    assert.equal(
      await readText(join(b, "note.md")),
      "the first version\n",
      `b's copy of note.md was overwritten by the unreadable file\n${detail()}`,
    );
    assert.equal(await readText(join(b, "locked.md")), undefined, "the unreadable new file reached b");

    await chmod(join(a, "note.md"), 0o644);
    await chmod(join(a, "locked.md"), 0o644);
    await waitFor(
      "both files on b once readable",
      async () =>
        (await readText(join(b, "note.md"))) === "the second version\n" &&
        (await readText(join(b, "locked.md"))) === "a new file nobody may read yet\n",
      30_000,
      detail,
    );
    assert.equal(saidFor("note.md"), 1, "said once per file, not on every look");
    assert.equal(saidFor("locked.md"), 1, "said once per file, not on every look");
  });
});
