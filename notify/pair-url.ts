/**
 * The pairing URL a QR code carries: `<base>#pair=TOKEN&hub=NATS_URL&fp=FINGERPRINT&set=SET&door=JWT`
 * (`door`: the hub's pairing-door credentials, when the issuing agent's hub gave them).
 * The base is the web inbox's address when the issuing agent serves one (a phone opens it and the
 * page reads the fragment), else `edgesync:notify-pair`. Data rides in the fragment so it never
 * reaches a server log. `fp` is the SHA256 fingerprint of the issuing device's key: `notify join`
 * checks the signed answer against it. No Node imports (the browser reads it too).
 */
export interface PairingLink {
  token: string;
  hub?: string;
  fp?: string;
  set?: string;
  /** Pairing-door credentials from the hub (a bearer JWT that expires with the token): lets a device with no admitted key present the token there. */
  door?: string;
}

export const PAIR_URL_BASE = "edgesync:notify-pair";

export function pairingUrl(link: PairingLink, base = PAIR_URL_BASE): string {
  const params = new URLSearchParams({ pair: link.token });
  if (link.hub) params.set("hub", link.hub);
  if (link.fp) params.set("fp", link.fp);
  if (link.set) params.set("set", link.set);
  if (link.door) params.set("door", link.door);
  return `${base.replace(/#.*$/, "")}#${params.toString()}`;
}

/** Reads a pairing URL, or a bare token; undefined when neither. */
export function parsePairingInput(input: string): PairingLink | undefined {
  const text = input.trim();
  const hash = text.indexOf("#");
  if (hash < 0) return /^[A-Za-z0-9 -]{12,20}$/.test(text) ? { token: text } : undefined;
  const params = new URLSearchParams(text.slice(hash + 1));
  const token = params.get("pair");
  if (!token) return undefined;
  const link: PairingLink = { token };
  for (const key of ["hub", "fp", "set", "door"] as const) {
    const value = params.get(key);
    if (value) link[key] = value;
  }
  return link;
}
