/**
 * A NetworkAdapter for an unmodified automerge-repo `Repo`: it syncs a vault's document through
 * an edgesync bridge's `/automerge` path and keeps doing so across bridge restarts, network cuts
 * and hub outages of any length.
 *
 * Why an adapter and not a longer-lived URL token: automerge-repo's own websocket adapter dials the
 * one URL it was given, forever. Any token that URL carries must then stay good for as long as the
 * client may need to reconnect — days, for a laptop — and anyone who reads it (a log, a proxy, a
 * screen share) could use it for just as long. This adapter holds the key instead and signs a fresh
 * token for every connection attempt: each is good for one connection to one bridge certificate,
 * one vault and one key, within the bridge's token lifetime (automerge-token.ts), so a leaked one
 * is worth at most one connection, never beyond that bound and never anywhere else.
 *
 * Reconnecting: exponential backoff with jitter after every close or refusal — a 401, a 403 while
 * a newly added key has not reached the hub yet, a 502 while the hub is down — each reported
 * through `onError`, never thrown: nothing here can take the process down. It stops only on
 * `disconnect()`, or when the platform saw a certificate other than `certFingerprint` (retrying
 * cannot fix that, and the request, token included, was never sent).
 */
import { NetworkAdapter, cbor, type Message, type PeerId, type PeerMetadata } from "@automerge/automerge-repo/slim";
import { automergeEndpointUrl, type AutomergeUrlOptions } from "../client/automerge-token.js";
import { BridgeError } from "../client/session.js";
import { browserSocket, type BridgeSocket, type SocketFactory } from "../client/socket.js";

export interface BridgeRepoAdapterOptions extends Omit<AutomergeUrlOptions, "nowMs" | "user"> {
  /** The platform's WebSocket: `browserSocket` (the default) or, on Node 20, `nodeSocket` from `edgesync/client/node`. */
  socket?: SocketFactory;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Every failed or lost connection; `error.retry` false means the adapter stopped. */
  onError?: (error: BridgeError) => void;
  onState?: (state: "connecting" | "ready" | "offline" | "stopped") => void;
}

type ReadyState = "idle" | "connecting" | "open" | "stopped";

const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/**
 * The Repo calls a document unavailable once its adapters are ready and no peer has it, so the
 * adapter is ready when the bridge's peer arrives, and at the latest after this long: a fixed
 * second, as automerge-repo's own adapter waits, is too short for a bridge that opens a NATS
 * connection per client on a loaded machine, and a key added a moment ago is refused (403) until
 * the hub has applied it — the redials within this time still find the document.
 */
const READY_WAIT_MS = 10_000;
const PROTOCOL_V1 = "1";

export class BridgeRepoAdapter extends NetworkAdapter {
  readonly #options: BridgeRepoAdapterOptions;
  #state: ReadyState = "idle";
  #socket: BridgeSocket | undefined;
  #remotePeer: PeerId | undefined;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #ready = false;
  #markReady: () => void = () => {};
  readonly #readyPromise = new Promise<void>((resolve) => (this.#markReady = resolve));
  readonly stats = { connects: 0, refusals: 0, sent: 0, dropped: 0 };

  constructor(options: BridgeRepoAdapterOptions) {
    super();
    this.#options = options;
  }

  isReady(): boolean {
    return this.#ready;
  }

  whenReady(): Promise<void> {
    return this.#readyPromise;
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    if (this.#state !== "idle") return;
    this.peerId = peerId;
    this.peerMetadata = peerMetadata ?? {};
    setTimeout(() => this.#setReady(), READY_WAIT_MS);
    this.#dial();
  }

  send(message: Message): void {
    // At most once, like every edgesync transport: a message for a closed socket is dropped, and
    // the Repo resynchronises with the next peer from its heads.
    if (this.#state !== "open" || !this.#socket || this.#remotePeer === undefined) {
      this.stats.dropped++;
      return;
    }
    try {
      this.#socket.send(cbor.encode(message));
      this.stats.sent++;
    } catch {
      this.stats.dropped++;
    }
  }

  disconnect(): void {
    this.#stop();
  }

  #dial(): void {
    if (this.#state === "stopped") return;
    this.#state = "connecting";
    this.#options.onState?.("connecting");
    const { socket: _socket, backoff: _backoff, onError: _onError, onState: _onState, ...urlOptions } = this.#options;
    automergeEndpointUrl(urlOptions).then(
      (url) => this.#open(url),
      (error: unknown) =>
        this.#lost(new BridgeError("protocol", `cannot sign a token for the bridge: ${String(error)}`)),
    );
  }

  #open(url: string): void {
    if (this.#state !== "connecting") return;
    const factory = this.#options.socket ?? browserSocket;
    let opened = false;
    try {
      this.#socket = factory(
        url,
        {
          onOpen: () => {
            opened = true;
            this.#state = "open";
            this.#socket?.send(
              cbor.encode({
                type: "join",
                senderId: this.peerId,
                peerMetadata: this.peerMetadata,
                supportedProtocolVersions: [PROTOCOL_V1],
              }),
            );
          },
          onText: () => this.#socket?.close(1003, "automerge-repo messages are binary"),
          onBinary: (bytes) => this.#receive(bytes),
          onClose: (code, reason) => this.#lost(closeReason(code, reason, opened, this.#options.origin)),
        },
        { certFingerprint: this.#options.certFingerprint },
      );
    } catch (error) {
      this.#lost(new BridgeError("network", `cannot open ${this.#options.origin}: ${String(error)}`));
    }
  }

  #receive(bytes: Uint8Array): void {
    let message: { type?: unknown; senderId?: unknown; peerMetadata?: unknown; message?: unknown };
    try {
      message = cbor.decode(bytes) as typeof message;
    } catch {
      this.#socket?.close(1007, "undecodable message");
      return;
    }
    if (message.type === "peer" && typeof message.senderId === "string") {
      this.#remotePeer = message.senderId as PeerId;
      this.#attempt = 0;
      this.stats.connects++;
      this.#setReady();
      this.#options.onState?.("ready");
      this.emit("peer-candidate", {
        peerId: this.#remotePeer,
        peerMetadata: (message.peerMetadata ?? {}) as PeerMetadata,
      });
    } else if (message.type === "error") {
      this.#options.onError?.(new BridgeError("protocol", `the bridge: ${String(message.message).slice(0, 300)}`));
    } else if (this.#remotePeer !== undefined) {
      this.emit("message", message as Message);
    }
  }

  #lost(error: BridgeError): void {
    if (this.#state === "stopped") return;
    this.#socket = undefined;
    if (this.#remotePeer !== undefined) this.emit("peer-disconnected", { peerId: this.#remotePeer });
    this.#remotePeer = undefined;
    if (/^HTTP 40[13]/.test(error.message)) this.stats.refusals++;
    if (!error.retry) {
      this.#options.onError?.(error);
      this.#stop();
      return;
    }
    this.#state = "idle";
    this.#options.onError?.(error);
    this.#options.onState?.("offline");
    const initialMs = this.#options.backoff?.initialMs ?? BACKOFF_INITIAL_MS;
    const maxMs = this.#options.backoff?.maxMs ?? BACKOFF_MAX_MS;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt++, 20));
    this.#retryTimer = setTimeout(
      () => {
        if (this.#state === "idle") this.#dial();
      },
      base / 2 + Math.random() * (base / 2),
    );
  }

  #stop(): void {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    clearTimeout(this.#retryTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(1000, "client closed");
    if (this.#remotePeer !== undefined) this.emit("peer-disconnected", { peerId: this.#remotePeer });
    this.#remotePeer = undefined;
    this.#setReady();
    this.#options.onState?.("stopped");
  }

  #setReady(): void {
    if (this.#ready) return;
    this.#ready = true;
    this.#markReady();
  }
}

/** What a close means, in words a user can act on; only a certificate mismatch stops the adapter. */
function closeReason(code: number, reason: string, opened: boolean, origin: string): BridgeError {
  const status = /Unexpected server response: (\d+)/.exec(reason)?.[1];
  if (status !== undefined) {
    const advice =
      status === "403"
        ? ": the key is not (yet) in the vault's authorized_keys, or the vault is not served here; retrying"
        : status === "401"
          ? ": the token was refused (check the clocks and the certificate fingerprint); retrying with a fresh one"
          : ": retrying";
    return new BridgeError("network", `HTTP ${status} from ${origin}${advice}`, code);
  }
  if (/is not the expected/.test(reason)) return new BridgeError("mitm", reason, code);
  if (!opened)
    return new BridgeError("network", `cannot connect to ${origin}${reason ? `: ${reason}` : ""}; retrying`, code);
  return new BridgeError(
    "network",
    `the connection to ${origin} closed (code ${code})${reason ? `: ${reason}` : ""}; reconnecting`,
    code,
  );
}
