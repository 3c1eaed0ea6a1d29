import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AnnounceSchedule } from "./announce-schedule.js";

const H1 = ["a".repeat(64)];
const H2 = ["b".repeat(64)];

/** The times (ms) at which a tick every `tickMs` finds an announcement due, announcing each. */
function announceTimes(schedule: AnnounceSchedule, heads: string[], untilMs: number, tickMs = 500): number[] {
  const times: number[] = [];
  for (let now = 0; now <= untilMs; now += tickMs) {
    if (!schedule.isDue(now, heads)) continue;
    schedule.announced(now, heads);
    times.push(now);
  }
  return times;
}

describe("AnnounceSchedule", () => {
  it("announces heads at once, then repeats them at a doubling interval up to the maximum", () => {
    const schedule = new AnnounceSchedule(2_000, 10_000);
    assert.deepEqual(announceTimes(schedule, H1, 40_000), [0, 2_000, 6_000, 14_000, 24_000, 34_000]);
  });

  it("announces new heads within the base interval of the last announcement, and backs off again from there", () => {
    const schedule = new AnnounceSchedule(2_000, 10_000);
    for (const now of [0, 2_000, 6_000, 14_000]) schedule.announced(now, H1);
    assert.equal(schedule.isDue(15_000, H2), false, "within the base interval of the last one");
    assert.equal(schedule.isDue(16_000, H2), true);
    schedule.announced(16_000, H2);
    assert.equal(schedule.isDue(17_500, H2), false);
    assert.equal(schedule.isDue(18_000, H2), true, "new heads start the backoff over");
  });

  it("treats heads a hub broadcast to everyone as already heard: the backoff goes on", () => {
    const schedule = new AnnounceSchedule(2_000, 10_000);
    for (const now of [0, 2_000, 6_000, 14_000]) schedule.announced(now, H1);
    schedule.heardOnBus(H2);
    assert.equal(schedule.isDue(16_000, H2), false, "not due at the base interval");
    assert.equal(schedule.isDue(22_000, H2), false);
    assert.equal(schedule.isDue(24_000, H2), true, "due at the backed-off interval");
  });

  it("goes back to the base interval after a reconnect", () => {
    const schedule = new AnnounceSchedule(2_000, 10_000);
    for (const now of [0, 2_000, 6_000, 14_000]) schedule.announced(now, H1);
    schedule.reset();
    assert.equal(schedule.isDue(16_000, H1), true);
    schedule.announced(16_000, H1);
    assert.equal(schedule.isDue(18_000, H1), true, "the same heads again after the base interval");
  });

  it("never waits longer than the base when the maximum is below it", () => {
    const schedule = new AnnounceSchedule(2_000, 500);
    assert.deepEqual(announceTimes(schedule, H1, 6_000), [0, 2_000, 4_000, 6_000]);
  });
});
