/**
 * SHA-256 of file bytes with Node's native hash: the vault model's portable (browser-safe) hash is
 * pure JS and was ~5% of a 10,000-file clone's CPU; the folder binding hashes every file it reads
 * or writes. Same hex digest as vault/model/bytes.ts sha256Hex.
 */
import { createHash } from "node:crypto";

export const fileSha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
