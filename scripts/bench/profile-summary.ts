/**
 * Where the time goes in V8 CPU profiles (from `npm run bench -- --cpu-prof DIR`): self time by
 * function and by file, and the inclusive time of edgesync's own functions.
 *
 *   node --import tsx scripts/bench/profile-summary.ts bench/prof/hub-*.cpuprofile [--top 25]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const short = (url: string) => url.replace(/^file:\/\//, "").replace(/.*node_modules\//, "~/").replace(/.*\/dist\//, "dist/");

export function summarise(paths: string[], top: number): string {
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalMs = 0;
  let wallMs = 0;
  for (const path of paths) {
    const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;
    wallMs += (profile.endTime - profile.startTime) / 1000;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const ms = new Map<number, number>();
    profile.samples.forEach((id, i) => ms.set(id, (ms.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
    for (const [id, t] of ms) {
      const node = byId.get(id)!;
      const key = `${node.callFrame.functionName || "(anonymous)"} ${short(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
      totalMs += t;
      self.set(key, (self.get(key) ?? 0) + t);
      const file = short(node.callFrame.url) || node.callFrame.functionName;
      byFile.set(file, (byFile.get(file) ?? 0) + t);
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const frame = byId.get(cur)!.callFrame;
        if (!frame.url.includes("/dist/")) continue;
        const k = `${frame.functionName || "(anonymous)"} ${short(frame.url)}:${frame.lineNumber + 1}`;
        if (seen.has(k)) continue;
        seen.add(k);
        inclusive.set(k, (inclusive.get(k) ?? 0) + t);
      }
    }
  }
  const list = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `${v.toFixed(0).padStart(7)} ms  ${(100 * v / totalMs).toFixed(1).padStart(5)}%  ${k}`).join("\n");
  return [`${paths.length} profile(s), ${wallMs.toFixed(0)} ms wall, ${totalMs.toFixed(0)} ms sampled (idle included)`,
    "— self time by function", list(self), "— self time by file", list(byFile), "— inclusive time, edgesync functions", list(inclusive)].join("\n");
}

const topIndex = process.argv.indexOf("--top");
const top = topIndex >= 0 ? Number(process.argv[topIndex + 1]) : 25;
const files = process.argv.slice(2).filter((a, i, all) => a !== "--top" && all[i - 1] !== "--top");
if (files.length === 0) {
  console.error("usage: profile-summary.ts PROFILE.cpuprofile… [--top N]");
  process.exit(1);
}
console.log(summarise(files, top));
