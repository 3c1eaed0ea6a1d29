import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { Admission, sourceOf } from "./admission.js";

let port = 10_000;
function fakeSocket(address: string): Socket & { destroyed: boolean } {
  const socket = Object.assign(new EventEmitter(), { remoteAddress: address, remotePort: port++, destroyed: false });
  return Object.assign(socket, {
    destroy() {
      if (socket.destroyed) return socket;
      socket.destroyed = true;
      socket.emit("close");
      return socket;
    },
  }) as unknown as Socket & { destroyed: boolean };
}

const limits = { preAuthPerAddressMax: 2, preAuthSocketsMax: 4, preAuthTimeoutMs: 60_000 };

describe("admission of unauthenticated sockets", () => {
  it("refuses an address over its share and takes it again once one of its sockets authenticates", () => {
    const admission = new Admission(limits);
    const [a, b, c] = [fakeSocket("10.0.0.1"), fakeSocket("10.0.0.1"), fakeSocket("10.0.0.1")];
    assert.equal(admission.accept(a), true);
    assert.equal(admission.accept(b), true);
    assert.equal(admission.accept(c), false);
    assert.equal(c.destroyed, true);
    admission.authenticated(a);
    assert.equal(admission.accept(fakeSocket("10.0.0.1")), true);
    assert.equal(a.destroyed, false, "an authenticated socket is no longer counted or evicted");
  });

  it("when full, evicts the oldest socket of the busiest address, never a lone newcomer's", () => {
    const admission = new Admission(limits);
    const flood = [fakeSocket("10.0.0.9"), fakeSocket("10.0.0.9")];
    const others = [fakeSocket("10.0.0.7"), fakeSocket("10.0.0.8")];
    for (const s of [...flood, ...others]) admission.accept(s);
    const member = fakeSocket("10.0.0.1");
    assert.equal(admission.accept(member), true);
    assert.deepEqual(
      [...flood, ...others].map((s) => s.destroyed),
      [true, false, false, false],
    );
    admission.accept(fakeSocket("10.0.0.2"));
    assert.equal(member.destroyed, false);
    assert.equal(admission.unauthenticated(), 4);
  });

  it("cuts a socket that has not authenticated within the timeout", async () => {
    const admission = new Admission({ ...limits, preAuthTimeoutMs: 20 });
    const idle = fakeSocket("10.0.0.3");
    const upgraded = fakeSocket("10.0.0.3");
    admission.accept(idle);
    admission.accept(upgraded);
    admission.upgraded(upgraded);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(idle.destroyed, true);
    assert.equal(upgraded.destroyed, false, "an upgraded socket's own handshake timer takes over");
  });

  it("counts IPv4 addresses one by one and IPv6 by /64", () => {
    assert.equal(sourceOf("203.0.113.7"), "203.0.113.7");
    assert.equal(sourceOf("::ffff:203.0.113.7"), "203.0.113.7");
    assert.equal(sourceOf("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(sourceOf("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
    assert.equal(sourceOf("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(sourceOf("::1"), "0:0:0:0::/64");
    assert.equal(sourceOf("fe80::1%eth0"), "fe80:0:0:0::/64");
  });
});
