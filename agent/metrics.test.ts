import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Metrics, renderLabels } from "./metrics.js";

describe("metrics exposition", () => {
  it("renders a gauge family with one line per label set, read at each scrape", () => {
    const metrics = new Metrics();
    let values = [{ labels: { vault: "v1" }, value: 1 }];
    metrics.gaugeFamily("edgesync_replica_loaded", "1 while loaded", () => values);
    assert.match(metrics.render(), /^edgesync_replica_loaded\{vault="v1"\} 1$/m);
    values = [
      { labels: { vault: "v1" }, value: 0 },
      { labels: { vault: "v2" }, value: 1 },
    ];
    const text = metrics.render();
    assert.match(text, /^# TYPE edgesync_replica_loaded gauge$/m);
    assert.match(text, /^edgesync_replica_loaded\{vault="v1"\} 0$/m);
    assert.match(text, /^edgesync_replica_loaded\{vault="v2"\} 1$/m);
  });

  it("escapes backslashes, quotes and newlines in label values", () => {
    assert.equal(renderLabels({ a: 'x"y\\z\nw', b: "plain" }), 'a="x\\"y\\\\z\\nw",b="plain"');
  });
});
