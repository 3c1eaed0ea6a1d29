/**
 * The browser's own ed25519 key, kept in IndexedDB (origin-scoped, survives reloads). Generated on
 * first visit with the platform's CSPRNG; it never leaves the browser — only its public half and
 * signatures do.
 */
import * as ed from "@noble/ed25519";

const DB = "edgesync-inbox";
const STORE = "keys";
const KEY = "device";

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function open(): Promise<IDBDatabase> {
  const req = indexedDB.open(DB, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(STORE);
  return request(req);
}

export async function loadOrCreateSecretKey(): Promise<Uint8Array> {
  const db = await open();
  try {
    const existing = (await request(db.transaction(STORE, "readonly").objectStore(STORE).get(KEY))) as
      Uint8Array | undefined;
    if (existing instanceof Uint8Array && existing.length === 32) return existing;
    const secret = ed.utils.randomSecretKey();
    await request(db.transaction(STORE, "readwrite").objectStore(STORE).put(secret, KEY));
    return secret;
  } finally {
    db.close();
  }
}
