import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ParkedQueue,
  ParkedVerdict,
  isAnnouncementFrame,
  isIdleTraffic,
  parkedAnnouncement,
  parkedVerdict,
} from "./parked-replica.js";
import { decodeMessage, encodeMessage } from "./sync/messages.js";
import { asPeerId } from "./sync/ports.js";

const h = (n: number) => n.toString(16).padStart(64, "0");
const announce = (heads: string[]) => encodeMessage({ type: "announce", heads, ready: true });

describe("an unloaded replica's verdict on a message", () => {
  it("stays unloaded for an announcement of the heads it saved, in any order", () => {
    assert.equal(parkedVerdict(announce([h(2), h(1)]), [h(1), h(2)]), ParkedVerdict.inStep);
  });

  it("wakes for an announcement of other heads, and for a clone that holds nothing", () => {
    assert.equal(parkedVerdict(announce([h(3)]), [h(1)]), ParkedVerdict.wake);
    assert.equal(parkedVerdict(announce([]), [h(1)]), ParkedVerdict.wake);
  });

  it("wakes for sync, snapshot and blob messages", () => {
    for (const message of [
      encodeMessage({ type: "sync", data: new Uint8Array([1, 2]) }),
      encodeMessage({ type: "snapshot", data: new Uint8Array([1]) }),
      encodeMessage({ type: "blob-want", hashes: [h(9)] }),
    ])
      assert.equal(parkedVerdict(message, [h(1)]), ParkedVerdict.wake);
  });

  it("drops what is not a message of the wire format", () => {
    assert.equal(parkedVerdict(new Uint8Array([9, 9, 9]), [h(1)]), ParkedVerdict.malformed);
  });

  it("counts only in-step announcements as idle traffic", () => {
    assert.equal(isIdleTraffic(announce([h(1)]), [h(1)]), true);
    assert.equal(isIdleTraffic(encodeMessage({ type: "sync", data: new Uint8Array([1]) }), [h(1)]), false);
  });
});

describe("the unloaded replica's own announcement", () => {
  it("carries the saved heads and says it is a hub's replica", () => {
    const frame = parkedAnnouncement([h(1), h(2)], true, true);
    assert.deepEqual(decodeMessage(frame), { type: "announce", heads: [h(1), h(2)], ready: true, hub: true });
    assert.equal(isAnnouncementFrame(frame), true);
    assert.equal(isAnnouncementFrame(encodeMessage({ type: "sync", data: new Uint8Array([1]) })), false);
  });
});

describe("the queue of messages waiting for a load", () => {
  const from = asPeerId("device");

  it("hands back every message in arrival order and is empty afterwards", () => {
    const queue = new ParkedQueue({ messagesMax: 10, bytesMax: 1000 });
    queue.push(from, new Uint8Array([1]));
    queue.push(from, new Uint8Array([2, 2]));
    assert.equal(queue.bytes, 3);
    assert.deepEqual(
      queue.take().map((m) => [...m.message]),
      [[1], [2, 2]],
    );
    assert.equal(queue.length, 0);
    assert.equal(queue.bytes, 0);
  });

  it("drops the oldest past its message or byte limit, and always keeps the newest", () => {
    const queue = new ParkedQueue({ messagesMax: 2, bytesMax: 5 });
    for (const n of [1, 2, 3]) queue.push(from, new Uint8Array([n]));
    assert.deepEqual(
      queue.take().map((m) => m.message[0]),
      [2, 3],
    );
    queue.push(from, new Uint8Array(4));
    queue.push(from, new Uint8Array(9));
    assert.equal(queue.length, 1, "a message over the byte limit alone is still kept");
    assert.equal(queue.dropped, 2);
  });
});
