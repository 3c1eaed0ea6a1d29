import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { linkedPorts } from "./hub-failover.js";

const line = (msg: "link up" | "link down", id: number, port: number, link = "leafnode") =>
  JSON.stringify({ level: 30, time: 1_700_000_000_000 + id, link, remote: `127.0.0.1:${port}`, id, msg });

describe("linkedPorts", () => {
  it("lists the hubs a leaf's links are up to, one per account remote", () => {
    const output = [line("link up", 4, 21001), line("link up", 5, 21002)].join("\n");
    assert.deepEqual([...linkedPorts(output)].sort(), [21001, 21002]);
  });

  it("drops a hub once its link went down, and keeps the link that moved to another hub", () => {
    const output = [
      line("link up", 4, 21001),
      line("link up", 5, 21001),
      line("link down", 4, 21001),
      line("link down", 5, 21001),
      line("link up", 6, 21003),
    ].join("\n");
    assert.deepEqual([...linkedPorts(output)], [21003]);
  });

  it("ignores route links, other log lines and a line cut at the start of the kept output", () => {
    const output = [
      `p":"127.0.0.1:21009","id":1,"msg":"link up"}`,
      line("link up", 2, 21010, "route"),
      JSON.stringify({ level: 30, msg: "the hub hosts this vault" }),
      line("link up", 3, 21001),
    ].join("\n");
    assert.deepEqual([...linkedPorts(output)], [21001]);
  });
});
