/**
 * What the bridge attack tests stand on, run the way users run it: a real hub (`sync start
 * --nats-role hub --bridge`, operator mode, TLS) and a real leaf agent holding vault "team" with one
 * file, and a member key (`member`) in the vault's authorized_keys that the hub's bridge lets in.
 */
import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { sandbox, stop, type Sandbox } from "../helpers/cli.js";
import { startAgent, cli, publicKeyLine, type RunningAgent } from "../helpers/agents.js";
import {
  connect,
  keyFromSeed,
  sshPublicLineOf,
  BridgeError,
  type BridgeVault,
  type ConnectOptions,
  type SigningKey,
} from "../../bridge/client/index.js";
import { nodeSocket } from "../../bridge/node/index.js";
import { waitFor } from "../helpers/wait.js";

export interface HubBridgeRig {
  box: Sandbox;
  hub: RunningAgent;
  leaf: RunningAgent;
  /** The leaf's vault folder. */
  folder: string;
  vaultId: string;
  /** `wss://127.0.0.1:PORT` of the hub's bridge. */
  origin: string;
  port: number;
  certFingerprint: string;
  member: SigningKey;
  /** Connects `key` to the hub's bridge with the project's client. */
  connect(key: SigningKey, extra?: Partial<ConnectOptions>): Promise<BridgeVault>;
  /** Adds `key` to the leaf's authorized_keys and waits until the hub's bridge lets it in. */
  authorise(key: SigningKey, comment: string): Promise<void>;
  detail(): string;
  stop(): Promise<void>;
}

export async function startHubBridgeRig(label: string): Promise<HubBridgeRig> {
  const box = await sandbox(label);
  const running: RunningAgent[] = [];
  const detail = () => running.map((p, i) => `--- ${i === 0 ? "hub" : "leaf"}\n${p.output().slice(-4000)}`).join("\n");
  try {
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
        "--bridge",
        "127.0.0.1:0",
      ],
      { EDGESYNC_AUTHORIZED_KEYS: publicKeyLine(box, "a") },
    );
    running.push(hub);
    const folder = join(box.dir, "a");
    await mkdir(folder);
    await writeFile(join(folder, "welcome.md"), "# Welcome\n");
    const init = cli(box, "a", ["init", "--cwd", folder, "--name", "team"]);
    if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
    const leaf = await startAgent(box, "a", [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`,
      "--accept-hub-key",
      "--cwd",
      folder,
    ]);
    running.push(leaf);
    const vaultId = /\(([0-9a-f-]{36})\)/.exec(init.stdout)?.[1];
    if (!vaultId) throw new Error(`init named no vault id: ${init.stdout}`);
    const info = JSON.parse(await readFile(join(hub.home, "bridge.json"), "utf8")) as {
      origin: string;
      port: number;
      certFingerprint: string;
    };
    const connectKey = (key: SigningKey, extra: Partial<ConnectOptions> = {}) =>
      connect({
        url: info.origin,
        vaultId,
        key,
        socket: nodeSocket,
        certFingerprint: info.certFingerprint,
        readyTimeoutMs: 10_000,
        ...extra,
      });
    const authorise = async (key: SigningKey, comment: string) => {
      await appendFile(join(folder, "authorized_keys"), `${sshPublicLineOf(key.publicKey, comment)}\n`);
      let last = "";
      await waitFor(
        `the hub's bridge to let ${comment} in`,
        async () => {
          try {
            await (await connectKey(key)).close();
            return true;
          } catch (error) {
            last = String(error);
            if (error instanceof BridgeError && error.kind === "auth") return false;
            throw error;
          }
        },
        90_000,
        () => `${last}\n${detail()}`,
      );
    };
    const member = await keyFromSeed(new Uint8Array(randomBytes(32)));
    await authorise(member, "member");
    return {
      box,
      hub,
      leaf,
      folder,
      vaultId,
      origin: info.origin,
      port: info.port,
      certFingerprint: info.certFingerprint,
      member,
      connect: connectKey,
      authorise,
      detail,
      stop: async () => {
        for (const p of running.reverse()) await stop(p, "SIGINT");
        await box.cleanup();
      },
    };
  } catch (error) {
    for (const p of running.reverse()) await stop(p, "SIGKILL");
    await box.cleanup();
    throw error;
  }
}
