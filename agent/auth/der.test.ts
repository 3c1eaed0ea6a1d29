import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { objectIdentifier, time, tlv, unsignedInteger } from "./der.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("DER encoding", () => {
  it("writes short and long lengths", () => {
    assert.equal(hex(tlv(0x04, new Uint8Array(3))), "0403000000");
    assert.equal(hex(tlv(0x04, new Uint8Array(200))).slice(0, 6), "0481c8");
    assert.equal(hex(tlv(0x04, new Uint8Array(300))).slice(0, 8), "0482012c");
  });

  it("keeps an INTEGER non-negative and minimal", () => {
    assert.equal(hex(unsignedInteger(Uint8Array.of(0x80))), "02020080");
    assert.equal(hex(unsignedInteger(Uint8Array.of(0, 0, 0x7f))), "02017f");
    assert.equal(hex(unsignedInteger(Uint8Array.of(0))), "020100");
  });

  it("encodes object identifiers with multi-byte arcs", () => {
    assert.equal(hex(objectIdentifier("1.3.101.112")), "06032b6570");
    assert.equal(hex(objectIdentifier("1.3.6.1.5.5.7.3.1")), "06082b06010505070301");
    assert.equal(hex(objectIdentifier("2.5.29.17")), "0603551d11");
  });

  it("writes UTCTime through 2049 and GeneralizedTime from 2050", () => {
    assert.equal(
      Buffer.from(time(Date.UTC(2026, 11, 7, 3, 6, 6, 999)))
        .subarray(2)
        .toString(),
      "261207030606Z",
    );
    assert.equal(time(Date.UTC(2026, 0, 1))[0], 0x17);
    assert.equal(
      Buffer.from(time(Date.UTC(9999, 11, 31, 23, 59, 59)))
        .subarray(2)
        .toString(),
      "99991231235959Z",
    );
    assert.equal(time(Date.UTC(2050, 0, 1))[0], 0x18);
  });
});
