/**
 * The SSH wire encoding (RFC 4251 §5) shared by the OpenSSH key formats and the ssh-agent
 * protocol: big-endian uint32, and byte strings prefixed with their uint32 length.
 */

/** Bytes that do not parse as the SSH structure they claim to be. */
export class SshWireError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SshWireError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export class SshWriter {
  readonly #parts: Uint8Array[] = [];

  byte(n: number): this {
    this.#parts.push(Uint8Array.of(n));
    return this;
  }

  u32(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`not a uint32: ${n}`);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    this.#parts.push(b);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.u32(b.length);
    this.#parts.push(b);
    return this;
  }

  string(s: string): this {
    return this.bytes(encoder.encode(s));
  }

  raw(b: Uint8Array): this {
    this.#parts.push(b);
    return this;
  }

  done(): Uint8Array {
    const out = new Uint8Array(this.#parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

export class SshReader {
  #at = 0;
  constructor(readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.#at;
  }

  byte(): number {
    return this.raw(1)[0];
  }

  u32(): number {
    const b = this.raw(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  bytes(): Uint8Array {
    return this.raw(this.u32());
  }

  string(): string {
    const b = this.bytes();
    try {
      return decoder.decode(b);
    } catch (error) {
      throw new SshWireError("a text field is not valid UTF-8", { cause: error });
    }
  }

  raw(n: number): Uint8Array {
    if (n > this.remaining) throw new SshWireError(`truncated: wanted ${n} bytes, ${this.remaining} left`);
    const out = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  /** Asserts that every byte was consumed (trailing bytes mean a different structure). */
  end(what: string): void {
    if (this.remaining !== 0) throw new SshWireError(`${this.remaining} unexpected bytes after the ${what}`);
  }
}
