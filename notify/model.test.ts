import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Identity } from "../agent/auth/identity.js";
import {
  newMessage,
  decodeMessage,
  encodeMessage,
  parseActionSpec,
  messageProblem,
  isAnswerTo,
  newMessageId,
  isMessageId,
  NOTIFY_LIMITS,
  type Signer,
} from "./model.js";
import { verifyEd25519 } from "./verify.js";
import {
  peerIdFromPublicKey,
  publicKeyFromPeerId,
  base64urlDecode,
  base64urlEncode,
  canonicalJson,
} from "./encoding.js";
import { NotifyInputError } from "./errors.js";

const identity = Identity.generate("test@host");
const signer: Signer = { peerId: identity.nkeyPublic, sign: (b) => identity.sign(b) };
const draft = { project: "edgesync", thread: "release", body: "merge this?" };

describe("notify message model", () => {
  it("encodes a device key as the same U… nkey as @nats-io/nkeys, and back", () => {
    for (let i = 0; i < 20; i++) {
      const key = Identity.generate();
      assert.equal(peerIdFromPublicKey(key.publicKey), key.nkeyPublic);
      assert.deepEqual(publicKeyFromPeerId(key.nkeyPublic), key.publicKey);
    }
  });

  it("rejects an nkey with a broken checksum or the wrong prefix", () => {
    const id = identity.nkeyPublic;
    const flipped = id.slice(0, 10) + (id[10] === "A" ? "B" : "A") + id.slice(11);
    assert.equal(publicKeyFromPeerId(flipped), undefined);
    assert.equal(publicKeyFromPeerId(identity.accountNkeyPublic), undefined);
  });

  it("round-trips base64url and refuses non-canonical text", () => {
    const bytes = new Uint8Array([0, 255, 250, 1, 2]);
    assert.deepEqual(base64urlDecode(base64urlEncode(bytes)), bytes);
    assert.equal(base64urlDecode("a+b="), undefined);
  });

  it("signs a message that decodes and verifies on the other side", () => {
    const message = newMessage(draft, signer, "laptop", 1_700_000_000_000);
    const decoded = decodeMessage(encodeMessage(message), verifyEd25519);
    assert.ok("message" in decoded);
    assert.deepEqual(decoded.message, message);
    assert.equal(message.priority, "info");
  });

  it("defaults to action_required when the message offers actions", () => {
    const message = newMessage(
      { ...draft, actions: [parseActionSpec("yes:Merge"), parseActionSpec("no:Reject it")] },
      signer,
      "laptop",
      1,
    );
    assert.equal(message.priority, "action_required");
    assert.deepEqual(message.actions[1], { id: "no", label: "Reject it" });
  });

  it("refuses a tampered body, a forged sender and unknown fields", () => {
    const message = newMessage(draft, signer, "laptop", 1);
    const tampered = decodeMessage(JSON.stringify({ ...message, body: "merged!" }), verifyEd25519);
    assert.deepEqual(tampered, { problem: "signature does not match the sender" });
    const forged = decodeMessage(JSON.stringify({ ...message, from: Identity.generate().nkeyPublic }), verifyEd25519);
    assert.deepEqual(forged, { problem: "signature does not match the sender" });
    assert.match(messageProblem({ ...message, extra: 1 }) ?? "", /unknown field/);
  });

  it("refuses oversized, malformed and non-JSON input without throwing", () => {
    assert.match(messageProblem({ ...newMessage(draft, signer, "x", 1), id: "../../etc" }) ?? "", /bad message id/);
    assert.deepEqual(decodeMessage(new Uint8Array([0xff, 0xfe]), verifyEd25519), { problem: "not JSON" });
    assert.match(
      "problem" in decodeMessage("x".repeat(NOTIFY_LIMITS.messageBytesMax + 1), verifyEd25519) ? "too big" : "",
      /too big/,
    );
    assert.match(
      messageProblem({ ...newMessage(draft, signer, "x", 1), actionResponse: "yes" }) ?? "",
      /needs replyTo/,
    );
  });

  it("names the problem and the fix for bad user input", () => {
    assert.throws(
      () => newMessage({ ...draft, body: "x".repeat(NOTIFY_LIMITS.bodyBytesMax + 1) }, signer, "x", 1),
      (e: Error) => e instanceof NotifyInputError && /limit is 16384/.test(e.message),
    );
    assert.throws(
      () => newMessage({ ...draft, priority: "critical" }, signer, "x", 1),
      /unknown priority "critical": use info, action_required, urgent/,
    );
    assert.throws(() => newMessage({ ...draft, project: "" }, signer, "x", 1), /missing project: pass --project/);
    assert.throws(() => newMessage({ ...draft, thread: "a\u0007b" }, signer, "x", 1), /control characters/);
    for (const spec of ["yes", ":Merge", "yes:", "bad id:Label", `${"a".repeat(40)}:x`]) {
      assert.throws(
        () => parseActionSpec(spec),
        (e: Error) => e instanceof NotifyInputError && /malformed action/.test(e.message),
        spec,
      );
    }
  });

  it("counts only replies to that message, and only its own actions, as answers", () => {
    const question = newMessage({ ...draft, actions: [parseActionSpec("yes:Merge")] }, signer, "x", 1);
    const other = newMessage(draft, signer, "x", 2);
    const text = newMessage({ ...draft, body: "later", replyTo: question.id }, signer, "x", 3);
    const chose = newMessage({ ...draft, body: "", replyTo: question.id, actionResponse: "yes" }, signer, "x", 3);
    const wrongAction = newMessage(
      { ...draft, body: "", replyTo: question.id, actionResponse: "maybe" },
      signer,
      "x",
      3,
    );
    const toOther = newMessage({ ...draft, body: "hm", replyTo: other.id }, signer, "x", 3);
    assert.equal(isAnswerTo(text, question), true);
    assert.equal(isAnswerTo(chose, question), true);
    assert.equal(isAnswerTo(wrongAction, question), false);
    assert.equal(isAnswerTo(toOther, question), false);
    assert.equal(isAnswerTo(other, question), false);
  });

  it("makes ids of the documented shape and canonical JSON independent of key order", () => {
    for (let i = 0; i < 100; i++) assert.ok(isMessageId(newMessageId()));
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), canonicalJson({ a: [{ c: 2, d: 1 }], b: 1 }));
  });
});
