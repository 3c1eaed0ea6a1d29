/**
 * The stage for a member's attacks on the vault document (vault-identity, inbound-limits): a hub on
 * ephemeral loopback ports; vault "team", made by device a with a, b and m (the attacking member) in
 * its authorized_keys; leaf A syncing it through the hub; device b's clone running beside it, with
 * B's first note already on A's disk; and M's own NATS connection into the vault's account, made
 * with its key alone (no agent of ours speaks for M).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { sandbox, readText, type Sandbox } from "../helpers/cli.js";
import { startAgent, cli, publicKeyLine, type RunningAgent } from "../helpers/agents.js";
import { connectRaw } from "../helpers/raw-member.js";
import { loadIdentity, type Identity } from "../../agent/auth/identity.js";
import { accountAuthenticator } from "../../agent/auth/account-user.js";
import { vaultAccountPublic } from "../../agent/auth/accounts.js";
import { tlsOptionsForPinned } from "../../agent/auth/pins.js";
import { waitFor } from "../helpers/wait.js";

export interface TeamVault {
  box: Sandbox;
  hub: RunningAgent;
  leafA: RunningAgent;
  leafB: RunningAgent;
  dirs: { a: string; b: string };
  vaultId: string;
}

export interface TeamVaultOptions {
  /** More flags for the hub (e.g. its bridge). */
  hubArgs?: string[];
  /** Edits A's config.toml before A's agent starts. */
  configureA?: (toml: string) => string;
  /** Log tails for a failed wait. */
  detail: () => string;
  /** Each agent as soon as it runs, so the caller's cleanup stops it even if a later step fails. */
  started: (agent: RunningAgent, role: "hub" | "a" | "b") => void;
}

export async function startTeamVault(name: string, options: TeamVaultOptions): Promise<TeamVault> {
  const box = await sandbox(name);
  const hub = await startAgent(
    box,
    "hub",
    [
      "--nats-role",
      "hub",
      "--nats-listen",
      "127.0.0.1:-1",
      "--leaf-listen",
      "127.0.0.1:-1",
      "--cwd",
      box.dir,
      ...(options.hubArgs ?? []),
    ],
    { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") },
  );
  options.started(hub, "hub");
  const dirs = { a: join(box.dir, "a"), b: join(box.dir, "b") };
  await mkdir(dirs.a);
  await writeFile(join(dirs.a, "welcome.md"), "# Welcome\n");
  const made = cli(box, "a", ["init", "--cwd", dirs.a, "--name", "team"]);
  if (made.code !== 0) throw new Error(`init of vault team failed: ${made.stderr}`);
  await writeFile(
    join(dirs.a, "authorized_keys"),
    `${publicKeyLine(box, "a")}\n${publicKeyLine(box, "b")}\n${publicKeyLine(box, "m")}\n`,
  );
  const configPath = join(dirs.a, ".edgesync/config.toml");
  if (options.configureA) await writeFile(configPath, options.configureA(await readFile(configPath, "utf8")));
  const vaultId = /id = "([^"]+)"/.exec(await readFile(configPath, "utf8"))![1];
  const leafA = await startAgent(box, "a", [
    "--nats-role",
    "leaf",
    "--hub",
    `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`,
    "--accept-hub-key",
    "--cwd",
    dirs.a,
  ]);
  options.started(leafA, "a");
  await waitFor("the hub to host the vault", () => /vault registered/.test(hub.output()), 30_000, options.detail);
  let cloned = { code: 1, stdout: "", stderr: "" };
  await waitFor(
    "B to clone the vault",
    () => {
      cloned = cli(box, "b", [
        "clone",
        `nats://127.0.0.1:${hub.info.ports!.client}`,
        dirs.b,
        "--vault",
        "team",
        "--accept-hub-key",
      ]);
      return cloned.code === 0;
    },
    30_000,
    () => cloned.stderr + options.detail(),
  );
  const leafB = await startAgent(box, "b", ["--cwd", dirs.b]);
  options.started(leafB, "b");
  await writeFile(join(dirs.b, "from-b.md"), "B is in\n");
  await waitFor(
    "B's first note on A",
    async () => (await readText(join(dirs.a, "from-b.md"))) === "B is in\n",
    30_000,
    options.detail,
  );
  return { box, hub, leafA, leafB, dirs, vaultId };
}

/** M's key and its own connection to the hub, into the vault's account (pinned to the hub's certificate). */
export async function connectMember(team: TeamVault, name = "m"): Promise<{ key: Identity; nc: NatsConnection }> {
  const key = await loadIdentity(join(team.box.dir, `${name}-home`, "id_ed25519"));
  const certPem = await readFile(join(team.hub.home, ".edgesync-server", "tls.crt"), "utf8");
  const nc = await connectRaw(`nats://127.0.0.1:${team.hub.info.ports!.client}`, {
    tls: tlsOptionsForPinned(certPem),
    authenticator: await accountAuthenticator(key, vaultAccountPublic(team.vaultId)),
  });
  return { key, nc };
}
