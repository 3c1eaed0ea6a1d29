/**
 * The simulated `authorized_keys`: one line per device, `sim-ed25519 <peer> <comment>`. Like the real
 * file it is an ordinary synced vault file, edited by any device and merged like any text; the hub
 * applies what its own copy says to the server. Lines that are not key lines (a comment, conflict
 * markers left by a true overlap) grant nothing.
 */
import type { PeerId } from "../agent/sync/ports.js";
import { asPeerId } from "../agent/sync/ports.js";

export const AUTHORIZED_KEYS_PATH = "authorized_keys";
const KEY_LINE = /^sim-ed25519 ([A-Za-z0-9_-]+)(?: .*)?$/;

export function parseAuthorizedKeys(text: string | undefined): Set<PeerId> {
  const peers = new Set<PeerId>();
  for (const line of (text ?? "").split("\n")) {
    const match = KEY_LINE.exec(line.trim());
    if (match) peers.add(asPeerId(match[1]));
  }
  return peers;
}

export function formatAuthorizedKeys(peers: Iterable<PeerId>): string {
  const lines = [...new Set(peers)].sort().map((peer) => `sim-ed25519 ${peer} device ${peer}`);
  return `# devices allowed on this vault\n${lines.join("\n")}\n`;
}

/** The file with `peer` removed or added, other lines (and their order) kept as they were. */
export function editAuthorizedKeys(text: string, peer: PeerId, add: boolean): string {
  const kept = text.split("\n").filter((line) => KEY_LINE.exec(line.trim())?.[1] !== peer);
  if (!add) return kept.join("\n");
  const body = kept.join("\n").replace(/\n*$/, "");
  return `${body}\nsim-ed25519 ${peer} device ${peer}\n`;
}
