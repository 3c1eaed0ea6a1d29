/**
 * Pairing tokens. `notify pair` issues a one-time token: 12 characters from an alphabet without
 * look-alikes (no 0/O, 1/I/L), ~59 random bits, valid 10 minutes, single use. Only the token's
 * SHA-256 is kept, in the issuing device's own state (never synced), so exactly one service can
 * accept it and single use holds without coordination.
 *
 * A presented token is one of: accepted (once), used, expired, or unknown to this service (it may
 * be another service's, so the caller checks `knows` first and stays silent). Wrong guesses are
 * bounded: after too many unknown tokens while tokens are outstanding, the outstanding ones are burnt.
 */
import { createHash, randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { mkdir } from "node:fs/promises";
import { writeFileAtomic } from "../agent/fs/atomic-write.js";
import type { Clock, Log } from "../agent/sync/ports.js";
import { silentLog } from "../agent/sync/ports.js";
import { PairingError } from "./errors.js";

export const TOKEN_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
export const TOKEN_CHARS = 12;
export const PAIRING_TTL_MS = 10 * 60_000;
/** Used and expired entries are kept this long after expiry, to say "used"/"expired" instead of "unknown". */
const KEEP_AFTER_EXPIRY_MS = 24 * 60 * 60_000;
/** Outstanding tokens per device (a typo loop must not grow the file without bound). */
const OUTSTANDING_MAX = 20;
/** Unknown tokens presented within one TTL before outstanding ones are burnt. */
const WRONG_GUESSES_MAX = 50;

export interface PairingEntry {
  hash: string;
  name: string;
  createdAt: number;
  expiresAt: number;
  usedAt?: number;
  usedBy?: string;
  burnt?: boolean;
}

export const tokenHash = (token: string) =>
  createHash("sha256").update(`edgesync-notify-pairing\n${token}`).digest("hex");
export const formatToken = (token: string) => `${token.slice(0, 4)}-${token.slice(4, 8)}-${token.slice(8)}`;

export function newToken(): string {
  let token = "";
  for (let i = 0; i < TOKEN_CHARS; i++) token += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return token;
}

/** Accepts what a person types: any case, dashes and spaces; undefined when it cannot be a token. */
export function normaliseToken(input: string): string | undefined {
  const token = input.replace(/[\s-]/g, "").toUpperCase();
  if (token.length !== TOKEN_CHARS || [...token].some((c) => !TOKEN_ALPHABET.includes(c))) return undefined;
  return token;
}

/** The pure ledger: issue, redeem, prune. */
export class PairingLedger {
  readonly #entries = new Map<string, PairingEntry>();
  readonly #clock: Clock;
  readonly #log: Log;
  #wrong: number[] = [];

  constructor(entries: PairingEntry[], clock: Clock, log: Log = silentLog) {
    for (const e of entries) this.#entries.set(e.hash, e);
    this.#clock = clock;
    this.#log = log;
  }

  entries(): PairingEntry[] {
    return [...this.#entries.values()];
  }

  /** Names of unexpired, unused tokens (a new device may not take one). */
  outstandingNames(): string[] {
    const now = this.#clock.now();
    return this.entries()
      .filter((e) => !e.usedAt && !e.burnt && e.expiresAt > now)
      .map((e) => e.name);
  }

  issue(name: string, ttlMs = PAIRING_TTL_MS): { token: string; entry: PairingEntry } {
    if (!(ttlMs > 0 && ttlMs <= PAIRING_TTL_MS))
      throw new PairingError(`a pairing token lives at most ${PAIRING_TTL_MS / 60_000} minutes`);
    this.prune();
    if (this.outstandingNames().length >= OUTSTANDING_MAX)
      throw new PairingError(
        `${OUTSTANDING_MAX} pairing tokens are already outstanding; use one or wait for them to expire`,
      );
    const token = newToken();
    const now = this.#clock.now();
    const entry: PairingEntry = { hash: tokenHash(token), name, createdAt: now, expiresAt: now + ttlMs };
    this.#entries.set(entry.hash, entry);
    return { token, entry };
  }

  knows(token: string): boolean {
    return this.#entries.has(tokenHash(token));
  }

  /** Accepts `token` for `peer` once; throws PairingError for an unknown, used, expired or burnt token. */
  redeem(token: string, peer: string): PairingEntry {
    const now = this.#clock.now();
    const entry = this.#entries.get(tokenHash(token));
    if (entry === undefined) {
      this.noteWrongGuess();
      throw new PairingError("unknown pairing token: check it, or run `edgesync notify pair` again");
    }
    if (entry.usedAt !== undefined)
      throw new PairingError(
        entry.usedBy === peer
          ? "this device is already paired with that token"
          : "this pairing token was already used; run `edgesync notify pair` again for a new one",
      );
    if (entry.burnt)
      throw new PairingError(
        "this pairing token was withdrawn after too many wrong tokens; run `edgesync notify pair` again",
      );
    if (entry.expiresAt <= now)
      throw new PairingError(
        "this pairing token has expired (tokens live 10 minutes); run `edgesync notify pair` again",
      );
    entry.usedAt = now;
    entry.usedBy = peer;
    return entry;
  }

  /** Drops entries long past expiry. */
  prune(): void {
    const now = this.#clock.now();
    for (const [hash, e] of this.#entries) if (e.expiresAt + KEEP_AFTER_EXPIRY_MS < now) this.#entries.delete(hash);
  }

  /** Counts a token nobody here issued; too many burn the outstanding ones. */
  noteWrongGuess(): void {
    const now = this.#clock.now();
    if (this.outstandingNames().length === 0) return;
    this.#wrong = this.#wrong.filter((t) => now - t < PAIRING_TTL_MS);
    this.#wrong.push(now);
    if (this.#wrong.length < WRONG_GUESSES_MAX) return;
    for (const e of this.#entries.values()) if (!e.usedAt && e.expiresAt > now) e.burnt = true;
    this.#wrong = [];
    this.#log.warn(
      { wrongTokens: WRONG_GUESSES_MAX },
      "notify: too many wrong pairing tokens; outstanding tokens withdrawn",
    );
  }
}

/** The ledger kept in `<homeDir>/notify/pairings.json` (0600); every change is written atomically. */
export class PairingBook {
  readonly #path: string;
  readonly ledger: PairingLedger;

  private constructor(path: string, ledger: PairingLedger) {
    this.#path = path;
    this.ledger = ledger;
  }

  static async load(path: string, clock: Clock, log?: Log): Promise<PairingBook> {
    const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return "[]";
      throw error;
    });
    let entries: PairingEntry[] = [];
    try {
      const parsed = JSON.parse(text) as unknown;
      if (Array.isArray(parsed))
        entries = parsed.filter(
          (e): e is PairingEntry =>
            typeof e?.hash === "string" && typeof e?.expiresAt === "number" && typeof e?.name === "string",
        );
    } catch {
      log?.warn({ path }, "notify: unreadable pairings file; starting with no outstanding tokens");
    }
    return new PairingBook(path, new PairingLedger(entries, clock, log));
  }

  async issue(name: string, ttlMs?: number): Promise<{ token: string; entry: PairingEntry }> {
    const issued = this.ledger.issue(name, ttlMs);
    await this.#save();
    return issued;
  }

  async redeem(token: string, peer: string): Promise<PairingEntry> {
    const entry = this.ledger.redeem(token, peer);
    await this.#save(); // a used token must stay used across a restart
    return entry;
  }

  async #save(): Promise<void> {
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.#path, `${JSON.stringify(this.ledger.entries(), null, 1)}\n`, { mode: 0o600 });
  }
}
