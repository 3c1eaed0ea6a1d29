/**
 * What the soak expects on every device: path → bytes of each file it wrote and did not later
 * overwrite, delete or rename away. Random operations are planned here (pure, seeded); within a
 * round a path belongs to the first device that touches it, so no two devices edit the same file
 * concurrently and the expected content of every path is exactly the last write.
 */
export type Device = "a" | "b";

export type SoakOp =
  | { kind: "create"; device: Device; path: string; text: string }
  | { kind: "edit"; device: Device; path: string; text: string }
  | { kind: "delete"; device: Device; path: string }
  | { kind: "rename"; device: Device; path: string; to: string };

interface Rng {
  next(): number;
  int(max: number): number;
  pick<T>(items: readonly T[]): T;
}

export interface ModelLimits {
  /** Creates stop above this many files, deletes below the floor (a mass delete would be refused, rightly). */
  filesMax: number;
  filesMin: number;
  textBytesMax: number;
}

const DEFAULT_LIMITS: ModelLimits = { filesMax: 80, filesMin: 25, textBytesMax: 6000 };
const DIRS = ["", "notes/", "notes/deep/", "journal/"];
const WORDS = [
  "sync",
  "vault",
  "merge",
  "edge",
  "note",
  "draft",
  "todo",
  "hub",
  "leaf",
  "crdt",
  "markdown",
  "ünïcödé",
  "日本",
];

export class SoakModel {
  readonly files = new Map<string, string>();
  readonly #owner = new Map<string, Device>();
  readonly #rng: Rng;
  readonly #limits: ModelLimits;
  #serial = 0;
  round = 0;

  constructor(rng: Rng, limits: Partial<ModelLimits> = {}) {
    this.#rng = rng;
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** A new round: every path is free to be claimed again. */
  nextRound(): void {
    this.round++;
    this.#owner.clear();
  }

  /** Replaces the expectation wholesale (after a failed check, from what both devices agree on). */
  reset(files: Map<string, string>): void {
    this.files.clear();
    for (const [path, text] of files) this.files.set(path, text);
  }

  /** Plans one random operation on a random device and applies it to the model. */
  plan(): SoakOp {
    const device: Device = this.#rng.next() < 0.5 ? "a" : "b";
    const mine = [...this.files.keys()].filter((p) => (this.#owner.get(p) ?? device) === device);
    const roll = this.#rng.next();
    if (
      mine.length === 0 ||
      (roll < 0.25 && this.files.size < this.#limits.filesMax) ||
      this.files.size < this.#limits.filesMin
    )
      return this.#apply({ kind: "create", device, path: this.#newPath(device), text: this.#text(device) });
    const path = this.#rng.pick(mine);
    if (roll < 0.35 && this.files.size > this.#limits.filesMin) return this.#apply({ kind: "delete", device, path });
    if (roll < 0.45) return this.#apply({ kind: "rename", device, path, to: this.#newPath(device) });
    const text =
      this.#rng.next() < 0.3 ? `${this.files.get(path)}${this.#text(device).slice(0, 200)}` : this.#text(device);
    return this.#apply({ kind: "edit", device, path, text: text.slice(0, this.#limits.textBytesMax) });
  }

  #apply(op: SoakOp): SoakOp {
    this.#owner.set(op.path, op.device);
    if (op.kind === "create" || op.kind === "edit") this.files.set(op.path, op.text);
    else if (op.kind === "delete") this.files.delete(op.path);
    else {
      this.#owner.set(op.to, op.device);
      this.files.set(op.to, this.files.get(op.path) as string);
      this.files.delete(op.path);
    }
    return op;
  }

  #newPath(device: Device): string {
    return `${this.#rng.pick(DIRS)}${device}-r${this.round}-${this.#serial++}.md`;
  }

  /** A unique, recognisable body: which device wrote it in which round, then random words. */
  #text(device: Device): string {
    let text = `# written by ${device} in round ${this.round}, op ${this.#serial++}\n`;
    const words = this.#rng.int(this.#limits.textBytesMax / 8);
    for (let i = 0; i < words; i++) text += this.#rng.pick(WORDS) + (this.#rng.int(12) === 0 ? "\n" : " ");
    return `${text}\n`;
  }
}

/** The differences between what a device holds and what is expected, in a few readable lines. */
export function differences(
  expected: ReadonlyMap<string, string>,
  actual: ReadonlyMap<string, Buffer>,
  limit = 5,
): string[] {
  const out: string[] = [];
  for (const [path, text] of expected) {
    const got = actual.get(path);
    if (got === undefined) out.push(`missing ${path}`);
    else if (!got.equals(Buffer.from(text)))
      out.push(`wrong bytes in ${path} (${got.length} bytes, want ${Buffer.byteLength(text)})`);
  }
  for (const path of actual.keys()) if (!expected.has(path)) out.push(`unexpected ${path}`);
  return out.length > limit ? [...out.slice(0, limit), `… ${out.length - limit} more`] : out;
}
