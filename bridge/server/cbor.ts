/**
 * The CBOR subset automerge-repo's websocket protocol uses (cbor-x with `useRecords: false`):
 * maps with string keys, arrays, text, byte strings, integers, floats, true/false/null/undefined;
 * tags are read through. The decoder is strict and bounded — definite lengths only, a depth and
 * item limit, no trailing bytes — because every frame on `/automerge` comes from the network.
 */

export class CborError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CborError";
  }
}

export type CborValue =
  null | undefined | boolean | number | string | Uint8Array | CborValue[] | { [key: string]: CborValue };

const DEPTH_MAX = 16;
const ITEMS_MAX = 100_000;

export function decodeCbor(bytes: Uint8Array): CborValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let items = 0;
  const need = (n: number) => {
    if (pos + n > bytes.length) throw new CborError("truncated CBOR");
  };
  const length = (info: number): number => {
    if (info < 24) return info;
    if (info === 24) return (need(1), bytes[pos++]);
    if (info === 25) return (need(2), (pos += 2), view.getUint16(pos - 2));
    if (info === 26) return (need(4), (pos += 4), view.getUint32(pos - 4));
    if (info === 27) {
      need(8);
      const value = view.getBigUint64(pos);
      pos += 8;
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CborError("CBOR integer beyond 2^53");
      return Number(value);
    }
    throw new CborError(
      info === 31 ? "indefinite-length CBOR is not accepted" : `reserved CBOR additional info ${info}`,
    );
  };
  const item = (depth: number): CborValue => {
    if (depth > DEPTH_MAX) throw new CborError("CBOR nested too deeply");
    if (++items > ITEMS_MAX) throw new CborError("too many CBOR items");
    need(1);
    const head = bytes[pos++];
    const major = head >> 5;
    const info = head & 31;
    switch (major) {
      case 0:
        return length(info);
      case 1:
        return -1 - length(info);
      case 2: {
        const n = length(info);
        need(n);
        pos += n;
        return new Uint8Array(bytes.subarray(pos - n, pos)); // a plain copy, even from a Buffer
      }
      case 3: {
        const n = length(info);
        need(n);
        pos += n;
        try {
          return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(pos - n, pos));
        } catch {
          throw new CborError("CBOR text is not UTF-8");
        }
      }
      case 4: {
        const n = length(info);
        if (n > bytes.length - pos) throw new CborError("CBOR array longer than its frame");
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(item(depth + 1));
        return out;
      }
      case 5: {
        const n = length(info);
        if (n > bytes.length - pos) throw new CborError("CBOR map longer than its frame");
        const out: { [key: string]: CborValue } = {};
        for (let i = 0; i < n; i++) {
          const key = item(depth + 1);
          if (typeof key !== "string") throw new CborError("CBOR map key is not text");
          if (key === "__proto__") throw new CborError("CBOR map key __proto__ is not accepted");
          out[key] = item(depth + 1);
        }
        return out;
      }
      case 6:
        length(info); // the tag number: its content is read as is
        return item(depth + 1);
      default: {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        if (info === 23) return undefined;
        if (info === 25) return (need(2), (pos += 2), halfFloat(view.getUint16(pos - 2)));
        if (info === 26) return (need(4), (pos += 4), view.getFloat32(pos - 4));
        if (info === 27) return (need(8), (pos += 8), view.getFloat64(pos - 8));
        throw new CborError(`unsupported CBOR simple value ${info}`);
      }
    }
  };
  const value = item(0);
  if (pos !== bytes.length) throw new CborError("trailing bytes after CBOR");
  return value;
}

function halfFloat(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * 2 ** -14 * (mant / 1024);
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + mant / 1024);
}

export function encodeCbor(value: CborValue): Uint8Array {
  const parts: Uint8Array[] = [];
  const push = (...bytes: number[]) => parts.push(Uint8Array.from(bytes));
  const head = (major: number, n: number) => {
    if (n < 24) push((major << 5) | n);
    else if (n < 0x100) push((major << 5) | 24, n);
    else if (n < 0x10000) push((major << 5) | 25, n >> 8, n & 0xff);
    else if (n < 0x100000000) push((major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    else {
      const buf = new DataView(new ArrayBuffer(9));
      buf.setUint8(0, (major << 5) | 27);
      buf.setBigUint64(1, BigInt(n));
      parts.push(new Uint8Array(buf.buffer));
    }
  };
  const write = (v: CborValue) => {
    if (v === null) return void push(0xf6);
    if (v === undefined) return void push(0xf7);
    if (v === true || v === false) return void push(v ? 0xf5 : 0xf4);
    if (typeof v === "number") {
      // Beyond 32 bits cbor-x writes (and expects) a float64; its decoder turns a uint64 into a BigInt.
      if (Number.isInteger(v) && Math.abs(v) < 0x100000000) return v >= 0 ? head(0, v) : head(1, -1 - v);
      const buf = new DataView(new ArrayBuffer(9));
      buf.setUint8(0, 0xfb);
      buf.setFloat64(1, v);
      parts.push(new Uint8Array(buf.buffer));
      return;
    }
    if (typeof v === "string") {
      const bytes = new TextEncoder().encode(v);
      head(3, bytes.length);
      parts.push(bytes);
      return;
    }
    if (v instanceof Uint8Array) {
      head(2, v.length);
      parts.push(v);
      return;
    }
    if (Array.isArray(v)) {
      head(4, v.length);
      v.forEach(write);
      return;
    }
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    head(5, entries.length);
    for (const [key, x] of entries) {
      write(key);
      write(x);
    }
  };
  write(value);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
