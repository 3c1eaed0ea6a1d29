/**
 * Line-based 3-way merge. Only a true overlap (both sides changed the same lines differently)
 * keeps both versions, between conflict markers; everything else merges cleanly.
 */
import { diff3Merge } from "node-diff3";

export interface TextMergeResult {
  text: string;
  /** True when at least one region needed conflict markers. */
  conflicted: boolean;
}

export interface MergeLabels {
  a: string;
  b: string;
}

export function mergeText(base: string, a: string, b: string, labels: MergeLabels): TextMergeResult {
  if (a === b) return { text: a, conflicted: false };
  if (a === base) return { text: b, conflicted: false };
  if (b === base) return { text: a, conflicted: false };
  const regions = diff3Merge<string>(a.split("\n"), base.split("\n"), b.split("\n"), { excludeFalseConflicts: true });
  const lines: string[] = [];
  let conflicted = false;
  for (const region of regions) {
    if (region.ok) lines.push(...region.ok);
    else if (region.conflict) {
      conflicted = true;
      lines.push(`<<<<<<< ${labels.a}`, ...region.conflict.a, "=======", ...region.conflict.b, `>>>>>>> ${labels.b}`);
    }
  }
  return { text: lines.join("\n"), conflicted };
}
