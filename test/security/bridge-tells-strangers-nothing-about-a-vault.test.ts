/**
 * Issue 21 item 7: nothing about a vault before the peer has proved an authorised key. A stranger
 * who knows (or guesses) a vault id talks to a real hub's bridge with a hand-written `ws` client:
 * the hub's hello must not name the vault, and a served vault and an unknown one must answer the
 * same frames, field for field, up to the refusal — so neither the name nor whether the id exists
 * leaks. The same holds for `/automerge` tokens. A member still learns the name, after its proof.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { request } from "node:https";
import WebSocket from "ws";
import { automergeEndpointUrl, keyFromSeed, vaultAccountOf, type SigningKey } from "../../bridge/client/index.js";
import { issueBridgeUserJwt, transcript } from "../../bridge/client/handshake.js";
import { toBase64, type HubHello, type PeerHello } from "../../bridge/client/frames.js";
import { startHubBridgeRig, type HubBridgeRig } from "./bridge-hub-rig.js";

interface Exchange {
  frames: Record<string, unknown>[];
  closeCode: number;
}

/** A stranger's whole handshake, written by hand: hello, then a valid signature and JWT for its own key. */
async function strangerHandshake(url: string, key: SigningKey): Promise<Exchange> {
  const ws = new WebSocket(url, { rejectUnauthorized: false });
  const frames: Record<string, unknown>[] = [];
  let peerHello: PeerHello | undefined;
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  ws.on("error", () => {});
  ws.on("message", (data, isBinary) => {
    if (isBinary) return void frames.push({ binary: true });
    const frame = JSON.parse(data.toString()) as Record<string, unknown>;
    frames.push(frame);
    if (frame.t === "hello") {
      peerHello = { t: "hello", v: 1, key: toBase64(key.publicKey), nonce: toBase64(new Uint8Array(randomBytes(32))) };
      ws.send(JSON.stringify(peerHello));
    } else if (frame.t === "auth") {
      const hello = frames[0] as unknown as HubHello;
      void (async () => {
        const sig = await key.sign(transcript("peer", hello, peerHello!));
        const jwt =
          hello.account === null ? undefined : await issueBridgeUserJwt(key, hello.account, hello.user, Date.now());
        ws.send(JSON.stringify({ t: "auth", sig: toBase64(sig), ...(jwt ? { jwt } : {}) }));
      })();
    }
  });
  return { frames, closeCode: await closed };
}

/** An HTTP status and body for an upgrade to `url` (the /automerge refusals come before any WebSocket). */
function upgradeAnswer(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url.replace(/^wss:/, "https:"), {
      rejectUnauthorized: false,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("upgrade", () => resolve({ status: 101, body: "" }));
    req.on("error", reject);
    req.end();
  });
}

/** A frame with the per-connection randomness and the asked-for id replaced, to compare shapes and words. */
const normalise = (frame: Record<string, unknown>, vaultId: string) =>
  JSON.parse(
    JSON.stringify(frame)
      .replaceAll(vaultId, "<vault>")
      .replaceAll(vaultAccountOf(vaultId), "<account>")
      .replace(/"(nonce|sig)":"[^"]+"/g, '"$1":"<random>"')
      .replace(/"user":"U[A-Z2-7]{55}"/, '"user":"<user>"'),
  ) as Record<string, unknown>;

describe("the bridge tells a stranger nothing about a vault", { timeout: 300_000 }, () => {
  let rig: HubBridgeRig;
  let stranger: SigningKey;

  before(async () => {
    rig = await startHubBridgeRig("bridge-no-oracle");
    stranger = await keyFromSeed(new Uint8Array(randomBytes(32)));
  });

  after(async () => {
    await rig?.stop();
  });

  it("does not name the vault in anything it sends a stranger", async () => {
    const served = await strangerHandshake(`${rig.origin}/v1/${rig.vaultId}`, stranger);
    const text = JSON.stringify(served.frames);
    assert.ok(!text.includes("team"), `the vault's name reached a stranger: ${text}`);
    assert.equal((served.frames[0] as unknown as HubHello).t, "hello");
    assert.equal(served.frames.at(-1)?.t, "error");
    assert.ok(!served.frames.some((f) => f.binary), "no sync data to a stranger");
  });

  it("answers an unknown vault id exactly as a served one, frame for frame and word for word", async () => {
    const unknownId = randomUUID();
    const served = await strangerHandshake(`${rig.origin}/v1/${rig.vaultId}`, stranger);
    const unknown = await strangerHandshake(`${rig.origin}/v1/${unknownId}`, stranger);
    assert.deepEqual(
      unknown.frames.map((f) => normalise(f, unknownId)),
      served.frames.map((f) => normalise(f, rig.vaultId)),
    );
    assert.equal(unknown.closeCode, served.closeCode);
  });

  it("refuses a stranger's /automerge token for a served and an unknown vault with the same answer", async () => {
    const unknownId = randomUUID();
    const token = (vaultId: string) =>
      automergeEndpointUrl({
        origin: rig.origin,
        vaultId,
        key: stranger,
        certFingerprint: rig.certFingerprint,
        account: vaultAccountOf(vaultId),
      });
    const served = await upgradeAnswer(await token(rig.vaultId));
    const unknown = await upgradeAnswer(await token(unknownId));
    assert.equal(served.status, 403);
    assert.ok(!served.body.includes("team"), served.body);
    assert.deepEqual(
      { status: unknown.status, body: unknown.body.replaceAll(unknownId, "<vault>") },
      { status: served.status, body: served.body.replaceAll(rig.vaultId, "<vault>") },
    );
  });

  it("lets a member learn the vault's name once it has proved its key", async () => {
    const vault = await rig.connect(rig.member);
    try {
      assert.equal(vault.name, "team");
    } finally {
      await vault.close();
    }
  });
});
