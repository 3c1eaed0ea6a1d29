/**
 * The contract every Transport must keep (the NATS transport, the dst simulated bus, the in-memory
 * bus). Each implementation's test file calls `runTransportContract` with a setup that makes three
 * connected ends on a fault-free bus; faults (loss, duplication, partitions) are dst's business.
 * No timers here (agent/sync stays deterministic): waiting is the setup's `settle()`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PeerId, Transport } from "./ports.js";

export interface ContractSetup {
  a: Transport;
  b: Transport;
  c: Transport;
  /** Lets queued deliveries happen (real networks: wait briefly; simulators: run the queue). */
  settle(): Promise<void>;
  teardown(): Promise<void>;
}

interface Received {
  from: PeerId;
  message: Uint8Array;
}

async function started(setup: ContractSetup) {
  const inbox = { a: [] as Received[], b: [] as Received[], c: [] as Received[] };
  for (const key of ["a", "b", "c"] as const)
    await setup[key].start({ onMessage: (from, message) => inbox[key].push({ from, message: message.slice() }) });
  await setup.settle();
  return inbox;
}

async function until(setup: ContractSetup, done: () => boolean, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) await setup.settle();
}

export function runTransportContract(name: string, makeSetup: () => Promise<ContractSetup>): void {
  describe(`${name} keeps the transport contract`, () => {
    it("delivers a unicast message whole, to its addressee only, with the sender's id", async () => {
      const setup = await makeSetup();
      try {
        const inbox = await started(setup);
        setup.a.send(setup.b.self, new Uint8Array([1, 2, 3]));
        await until(setup, () => inbox.b.length > 0);
        assert.deepEqual(
          inbox.b.map((r) => [r.from, [...r.message]]),
          [[setup.a.self, [1, 2, 3]]],
        );
        assert.equal(inbox.c.length, 0);
        assert.equal(inbox.a.length, 0);
      } finally {
        await setup.teardown();
      }
    });

    it("broadcasts to every other peer and not back to the sender", async () => {
      const setup = await makeSetup();
      try {
        const inbox = await started(setup);
        setup.a.broadcast(new Uint8Array([7]));
        await until(setup, () => inbox.b.length > 0 && inbox.c.length > 0);
        assert.deepEqual(
          inbox.b.map((r) => r.from),
          [setup.a.self],
        );
        assert.deepEqual(
          inbox.c.map((r) => r.from),
          [setup.a.self],
        );
        await setup.settle();
        assert.equal(inbox.a.length, 0);
      } finally {
        await setup.teardown();
      }
    });

    it("carries a 2 MB message (over NATS's 1 MB max_payload) whole", async () => {
      const setup = await makeSetup();
      try {
        const inbox = await started(setup);
        const big = new Uint8Array(2 * 1024 * 1024);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
        setup.a.send(setup.b.self, big);
        await until(setup, () => inbox.b.length > 0, 1000);
        assert.equal(inbox.b.length, 1);
        assert.equal(Buffer.compare(Buffer.from(inbox.b[0].message), Buffer.from(big)), 0);
      } finally {
        await setup.teardown();
      }
    });

    it("delivers a burst in both directions, every message whole (order not promised)", async () => {
      const setup = await makeSetup();
      try {
        const inbox = await started(setup);
        const burst = (tag: number) =>
          Array.from({ length: 40 }, (_, i) =>
            Uint8Array.from({ length: (i * 257) % 9000 }, (_, j) => (tag + i + j) & 0xff),
          );
        const fromA = burst(1);
        const fromB = burst(2);
        for (const m of fromA) setup.a.send(setup.b.self, m);
        for (const m of fromB) setup.b.send(setup.a.self, m);
        await until(setup, () => inbox.a.length >= fromB.length && inbox.b.length >= fromA.length, 1000);
        const key = (m: Uint8Array) => Buffer.from(m).toString("base64");
        assert.deepEqual(inbox.b.map((r) => key(r.message)).sort(), fromA.map(key).sort());
        assert.deepEqual(inbox.a.map((r) => key(r.message)).sort(), fromB.map(key).sort());
        assert.ok(inbox.b.every((r) => r.from === setup.a.self) && inbox.a.every((r) => r.from === setup.b.self));
      } finally {
        await setup.teardown();
      }
    });

    it("delivers what was sent even when the sender reuses its buffer right after", async () => {
      const setup = await makeSetup();
      try {
        const inbox = await started(setup);
        const buffer = new Uint8Array([1, 2, 3, 4]);
        setup.a.send(setup.b.self, buffer);
        setup.a.broadcast(buffer);
        buffer.fill(0);
        await until(setup, () => inbox.b.length >= 2 && inbox.c.length >= 1);
        assert.deepEqual(
          inbox.b.map((r) => [...r.message]),
          [
            [1, 2, 3, 4],
            [1, 2, 3, 4],
          ],
        );
        assert.deepEqual([...inbox.c[0].message], [1, 2, 3, 4]);
      } finally {
        await setup.teardown();
      }
    });

    it("does not throw when sending to an unknown peer, and stops delivering after an idempotent stop", async () => {
      const setup = await makeSetup();
      try {
        const inbox = await started(setup);
        setup.a.send("nobody-here" as PeerId, new Uint8Array([1]));
        await setup.b.stop();
        await setup.b.stop();
        setup.a.send(setup.b.self, new Uint8Array([9]));
        setup.c.send(setup.a.self, new Uint8Array([5]));
        await until(setup, () => inbox.a.length > 0);
        assert.equal(inbox.a.length, 1);
        assert.equal(inbox.b.length, 0);
      } finally {
        await setup.teardown();
      }
    });
  });
}
