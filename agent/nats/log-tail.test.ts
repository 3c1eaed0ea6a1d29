import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LogTail } from "./log-tail.js";

describe("LogTail", () => {
  it("keeps only the newest characters up to its size", () => {
    const tail = new LogTail(10);
    tail.push("0123456789");
    tail.push(Buffer.from("abc"));
    assert.equal(tail.text(), "3456789abc");
    assert.equal(tail.dropped, 3);
    tail.push("x".repeat(25));
    assert.equal(tail.text(), "x".repeat(10));
  });

  it("finds text that arrived split across chunks, and forgets everything on clear", () => {
    const tail = new LogTail(100);
    tail.push("Server is ");
    tail.push("ready\n");
    assert.ok(tail.includes("Server is ready"));
    tail.clear();
    assert.equal(tail.text(), "");
    assert.equal(tail.includes("Server"), false);
  });

  it("refuses a size that is not a positive integer", () => {
    assert.throws(() => new LogTail(0), RangeError);
  });
});
