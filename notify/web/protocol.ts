/** Frames between the web inbox page and its notify service over the WebSocket `/ws` (JSON text). */
import type { NotifyMessage } from "../model.js";
import type { DeviceRecord } from "../devices.js";
import type { SignedRequest } from "../rpc.js";

export type ServerFrame =
  /** First frame: sign `nonce` to prove which key this browser holds. */
  | { t: "challenge"; nonce: string; set: string; service: string }
  /** The key is not (or no longer) a device of this set: pair with a token. */
  | { t: "unpaired"; reason?: string }
  | { t: "ready"; device: DeviceRecord; messages: NotifyMessage[] }
  | { t: "message"; message: NotifyMessage }
  | { t: "sent"; ref: number; id: string }
  | { t: "error"; message: string; ref?: number }
  /** This browser was unpaired; the socket closes next. */
  | { t: "revoked" };

export type ClientFrame =
  | { t: "auth"; from: string; name: string; sig: string }
  | { t: "pair"; request: SignedRequest }
  /** `json` is the signed message exactly as signed. */
  | { t: "send"; ref: number; json: string };

export const AUTH_DOMAIN = "edgesync-notify-inbox-auth-v1\n";
/** Close code after an unpair (the page shows the pairing form again). */
export const CLOSE_REVOKED = 4001;
