/**
 * What the workload writes into files. Text files are paragraphs separated by blank lines; every
 * paragraph a write creates carries a token naming that write, `[w17.2]`, so the reference model can
 * tell whose edit survived a merge and whether anything appeared that nobody wrote.
 */
const utf8 = new TextEncoder();
const words = [
  "sync",
  "vault",
  "merge",
  "edge",
  "note",
  "draft",
  "river",
  "cedar",
  "amber",
  "quartz",
  "delta",
  "orbit",
];

export const TOKEN = /\[w(\d+)\.([0-9a-z]+)\]/g;

export function tokensOf(text: string | undefined): Set<string> {
  return new Set((text ?? "").match(TOKEN) ?? []);
}

/** The write id a token names (`[w17.2]` → 17). */
export const tokenWrite = (token: string): number => Number(/\[w(\d+)\./.exec(token)?.[1]);

function sentence(id: number, salt: number): string {
  const pick = (k: number) => words[(id * 7 + salt * 13 + k * 5) % words.length];
  return `${pick(0)} ${pick(1)} ${pick(2)} ${pick(3)}.`;
}

export function paragraphsOf(text: string): string[] {
  return text.replace(/\n$/, "").split("\n\n");
}

export function joinParagraphs(paragraphs: readonly string[]): string {
  return `${paragraphs.join("\n\n")}\n`;
}

export function newText(id: number, path: string): string {
  const count = 3 + (id % 3);
  const body = Array.from({ length: count }, (_, k) => `[w${id}.${k}] ${sentence(id, k)}`);
  return joinParagraphs([`# ${path}`, ...body]);
}

/** Replaces one paragraph (never the title) with a new one by write `id`. */
export function editParagraph(text: string, paragraph: number, id: number, by: string): string {
  const paragraphs = paragraphsOf(text);
  if (paragraphs.length < 2) return joinParagraphs([...paragraphs, `[w${id}.e] ${by}: ${sentence(id, 9)}`]);
  const index = 1 + (paragraph % (paragraphs.length - 1));
  paragraphs[index] = `[w${id}.e] ${by}: ${sentence(id, index)}`;
  return joinParagraphs(paragraphs);
}

export function appendParagraph(text: string, id: number, by: string): string {
  return joinParagraphs([...paragraphsOf(text), `[w${id}.a] ${by} adds ${sentence(id, 3)}`]);
}

/** Binary content: NUL bytes make the model store it as bytes, not text. */
export function newBinary(id: number): Uint8Array {
  const out = new Uint8Array(64 + (id % 32));
  const tag = utf8.encode(`BIN w${id}`);
  out.set(tag, 1);
  for (let i = tag.length + 1; i < out.length; i++) out[i] = (id * 31 + i * 17) & 0xff;
  out[0] = 0;
  return out;
}

/**
 * The exact merge of concurrent paragraph edits from one base, when it exists: every side has the
 * base's paragraph count and no two sides changed the same paragraph differently. Independent of
 * the engine's line-based 3-way merge, which must agree with it: paragraphs are separated by a blank
 * line, so edits to different paragraphs never touch.
 */
export function paragraphMerge(base: string, sides: readonly string[]): string | undefined {
  const baseParagraphs = paragraphsOf(base);
  const sideParagraphs = sides.map(paragraphsOf);
  if (sideParagraphs.some((p) => p.length !== baseParagraphs.length)) return undefined;
  const merged = [...baseParagraphs];
  const changedBy = new Map<number, number>();
  for (const [s, paragraphs] of sideParagraphs.entries()) {
    for (const [k, paragraph] of paragraphs.entries()) {
      if (paragraph === baseParagraphs[k]) continue;
      if (changedBy.has(k) && merged[k] !== paragraph) return undefined;
      changedBy.set(k, s);
      merged[k] = paragraph;
    }
  }
  return joinParagraphs(merged);
}
