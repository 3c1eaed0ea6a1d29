import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TokenBucket } from "./rate-limit.js";

describe("TokenBucket", () => {
  it("allows a burst, then only the rate, and refills with time", () => {
    const bucket = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) assert.ok(bucket.take(1, 0));
    assert.equal(bucket.take(1, 0), false);
    assert.ok(bucket.take(1, 100));
    assert.equal(bucket.take(1, 100), false);
    assert.ok(bucket.take(5, 10_000));
    assert.equal(bucket.take(6, 20_000), false, "never more than the burst");
  });
});
