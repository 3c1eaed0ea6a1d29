import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { asPeerId, type PeerId, type Transport } from "../agent/sync/ports.js";
import { runTransportContract } from "../agent/sync/transport-contract.js";
import { EventQueue } from "./event-queue.js";
import { Prng } from "./random.js";
import { SimBus } from "./sim-bus.js";

const id = asPeerId;

/** Three hubs, a leaf on each of the first two and a second leaf on the first, all started. */
async function cluster() {
  let now = 0;
  const queue = new EventQueue();
  const bus = new SimBus(
    queue,
    new Prng(1),
    () => now,
    () => {},
    [id("h1"), id("h2"), id("h3")],
  );
  const heard: string[] = [];
  const connected: string[] = [];
  const ends = new Map<PeerId, Transport>();
  for (const name of ["h1", "h2", "h3", "a", "b", "c"]) {
    const t = bus.transport(id(name));
    await t.start({
      onMessage: (from) => heard.push(`${from}>${name}`),
      onConnected: () => connected.push(name),
    });
    ends.set(id(name), t);
  }
  bus.link(id("a"), id("h1"));
  bus.link(id("c"), id("h1"));
  bus.link(id("b"), id("h2"));
  connected.length = 0;
  /** Everyone sends to everyone; returns who heard whom, sorted. */
  const exchange = () => {
    heard.length = 0;
    for (const [from, t] of ends) for (const to of ends.keys()) if (to !== from) t.send(to, new Uint8Array([1]));
    for (let e = queue.pop(); e; e = queue.pop()) {
      now = e.time;
      void e.run();
    }
    return [...heard].sort();
  };
  return { bus, exchange, connected };
}

const pairs = (list: string[], a: string, b: string) => list.includes(`${a}>${b}`) && list.includes(`${b}>${a}`);

describe("SimBus across a cluster of hubs", () => {
  it("carries every pair's messages while every hub, route and link is up, leaf to leaf included", async () => {
    const { exchange } = await cluster();
    assert.equal(exchange().length, 6 * 5);
  });

  it("does not bridge a cut route through the third hub", async () => {
    const { bus, exchange } = await cluster();
    bus.cutRoute(id("h1"), id("h2"));
    const heard = exchange();
    for (const [x, y] of [
      ["h1", "h2"],
      ["a", "b"],
      ["a", "h2"],
      ["h1", "b"],
    ])
      assert.ok(!heard.includes(`${x}>${y}`) && !heard.includes(`${y}>${x}`), `${x} and ${y} hear each other`);
    assert.ok(pairs(heard, "a", "c") && pairs(heard, "a", "h3") && pairs(heard, "b", "h3") && pairs(heard, "h1", "h3"));
    bus.healRoute(id("h1"), id("h2"));
    assert.equal(exchange().length, 6 * 5);
  });

  it("takes a dead hub's leaves off the bus until they link to another hub", async () => {
    const { bus, exchange, connected } = await cluster();
    bus.hubsDown.add(id("h1"));
    let heard = exchange();
    assert.ok(
      heard.every((line) => !/\b(h1|a|c)\b/.test(line)),
      heard.join(" "),
    );
    assert.deepEqual(bus.leavesOf(id("h1")), [id("a"), id("c")]);
    bus.unlink(id("a"));
    bus.link(id("a"), id("h3"));
    assert.deepEqual(connected, ["a", "h3"], "both ends of the new link resynchronise");
    heard = exchange();
    assert.ok(pairs(heard, "a", "b") && pairs(heard, "a", "h2"));
    assert.ok(
      heard.every((line) => !/\b(h1|c)\b/.test(line)),
      heard.join(" "),
    );
  });

  it("lets the hub a leaf is linked to refuse it, and only that hub", async () => {
    const { bus, exchange } = await cluster();
    bus.refusedBy(id("h2")).add(id("a"));
    assert.equal(bus.isRefused(id("a")), false, "a is linked to h1, which still admits it");
    assert.equal(exchange().length, 6 * 5);
    bus.refusedBy(id("h1")).add(id("a"));
    assert.equal(bus.isRefused(id("a")), true);
    const heard = exchange();
    assert.ok(
      heard.every((line) => !/\ba\b/.test(line)),
      heard.join(" "),
    );
  });

  it("reaches, from one hub's server, itself and the hubs routed to it", async () => {
    const { bus } = await cluster();
    bus.cutRoute(id("h1"), id("h3"));
    assert.deepEqual(bus.serversReachedFrom(id("h1")), [id("h1"), id("h2")]);
    bus.hubsDown.add(id("h2"));
    assert.deepEqual(bus.serversReachedFrom(id("h1")), [id("h1")]);
    assert.deepEqual(bus.serversReachedFrom(id("h2")), []);
  });
});

runTransportContract("SimBus across two hubs (ends on different hubs)", async () => {
  let now = 0;
  const queue = new EventQueue();
  const bus = new SimBus(
    queue,
    new Prng(7),
    () => now,
    () => {},
    [id("a"), id("h2")],
  );
  bus.link(id("b"), id("a"));
  bus.link(id("c"), id("h2"));
  const [a, b, c] = ["a", "b", "c"].map((name) => bus.transport(id(name)));
  return {
    a,
    b,
    c,
    settle: async () => {
      for (let event = queue.pop(); event; event = queue.pop()) {
        now = event.time;
        await event.run();
      }
    },
    teardown: async () => {},
  };
});
