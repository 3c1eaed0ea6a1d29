/**
 * Issue 21 item 11: a bridge peer whose key leaves the vault's authorized_keys is cut off as fast
 * as a NATS device — within a second of the hub applying the change (the bound is for the report;
 * the test waits generously). A real hub with `--bridge` and a leaf; a member connected with the
 * project's client; its line removed from authorized_keys on the leaf. The session must close with
 * the auth-refused code, not come back, and receive nothing written after the removal. Each trial's
 * times (from the save on the leaf, and from the hub's "peer removed" log line) are reported.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import {
  BridgeError,
  CloseCode,
  keyFromSeed,
  sshFingerprintOf,
  sshPublicLineOf,
  type SocketFactory,
} from "../../bridge/client/index.js";
import { nodeSocket } from "../../bridge/node/index.js";
import { startHubBridgeRig, type HubBridgeRig } from "./bridge-hub-rig.js";
import { waitFor } from "../helpers/wait.js";

const TRIALS = Number(process.env.EDGESYNC_REVOKE_TRIALS ?? 3);

/** nodeSocket, noting when the session ended (error frame or close) and how many data frames arrived after that. */
function watchedSocket() {
  const seen = { closedAt: 0, binaryAfterClose: 0 };
  const factory: SocketFactory = (url, events) =>
    nodeSocket(url, {
      ...events,
      onBinary: (b) => {
        if (seen.closedAt) seen.binaryAfterClose++;
        events.onBinary(b);
      },
      onClose: (code, reason) => {
        seen.closedAt ||= Date.now();
        events.onClose(code, reason);
      },
    });
  return { factory, seen };
}

/** The hub's log time of "peer removed" for `fingerprint`, once it is there. */
function removedAt(hubOutput: string, fingerprint: string): number | undefined {
  for (const line of hubOutput.split("\n")) {
    if (!line.includes('"peer removed"') || !line.includes(fingerprint)) continue;
    return (JSON.parse(line) as { time: number }).time;
  }
  return undefined;
}

describe("a removed bridge peer is cut off promptly", { timeout: 600_000 }, () => {
  let rig: HubBridgeRig;

  before(async () => {
    rig = await startHubBridgeRig("bridge-revoke");
  });

  after(async () => {
    await rig?.stop();
  });

  it(`closes the session with 4003 and delivers nothing written after the removal (${TRIALS} trials)`, async (t) => {
    const fromSave: number[] = [];
    const fromApply: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const key = await keyFromSeed(new Uint8Array(randomBytes(32)));
      const comment = `revoked-${trial}`;
      await rig.authorise(key, comment);
      const errors: BridgeError[] = [];
      const socket = watchedSocket();
      const vault = await rig.connect(key, {
        socket: socket.factory,
        onError: (e) => {
          errors.push(e);
          socket.seen.closedAt ||= Date.now();
        },
        backoff: { initialMs: 20 },
      });
      try {
        const keysFile = join(rig.folder, "authorized_keys");
        const line = sshPublicLineOf(key.publicKey, comment);
        const text = await readFile(keysFile, "utf8");
        assert.ok(text.includes(line));
        const savedAt = Date.now();
        await writeFile(keysFile, text.replace(`${line}\n`, ""));
        await waitFor(
          `trial ${trial}: the bridge to close the removed peer`,
          () => errors.length > 0,
          60_000,
          rig.detail,
        );
        const closedAt = socket.seen.closedAt;
        assert.equal(errors[0].code, CloseCode.unauthorised, errors[0].message);
        assert.equal(errors[0].kind, "auth");
        await writeFile(join(rig.folder, `after-removal-${trial}.md`), "not for a removed key\n");
        await waitFor(
          "the hub to log the removal",
          () => removedAt(rig.hub.output(), sshFingerprintOf(key.publicKey)) !== undefined,
          60_000,
          rig.detail,
        );
        // Long enough for the leaf's file to reach any peer still listening.
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal(
          vault.readText(`after-removal-${trial}.md`),
          undefined,
          "a file written after the removal reached the removed peer",
        );
        assert.equal(socket.seen.binaryAfterClose, 0);
        assert.equal(errors.length, 1, `no reconnect after the refusal: ${errors.map((e) => e.message).join("; ")}`);
        fromSave.push(closedAt - savedAt);
        fromApply.push(closedAt - removedAt(rig.hub.output(), sshFingerprintOf(key.publicKey))!);
      } finally {
        await vault.close();
      }
    }
    t.diagnostic(`session closed after the save on the leaf (ms): ${fromSave.join(", ")}`);
    t.diagnostic(
      `session closed after the hub applied the removal (ms, negative = before the hub's log line): ${fromApply.join(", ")}`,
    );
  });
});
