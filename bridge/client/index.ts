/**
 * `edgesync/client`: sync a vault over an edgesync bridge from a browser tab, an editor plug-in or
 * a script — no NATS, no Node built-ins (Node 20 scripts pass `socket: nodeSocket` from
 * `edgesync/client/node`).
 */
export {
  BridgeVault,
  connect,
  sessionUrl,
  CLIENT_FILE_BYTES_MAX,
  type ConnectOptions,
  type FileInfo,
  type VaultChange,
} from "./vault.js";
export { BridgeTransport, type BridgeTransportOptions } from "./transport.js";
export {
  BridgeError,
  memoryPins,
  localStoragePins,
  openSession,
  type KeyValueStorage,
  type BridgeErrorKind,
  type HubPins,
  type HubPinRecord,
} from "./session.js";
export {
  keyFromSeed,
  ephemeralNatsUser,
  peerIdOf,
  sshFingerprintOf,
  sshPublicLineOf,
  randomBytes,
  type SigningKey,
} from "./handshake.js";
export { browserSocket, type SocketFactory, type BridgeSocket } from "./socket.js";
export { CloseCode } from "./frames.js";
export {
  automergeEndpointUrl,
  vaultAccountOf,
  vaultAutomergeUrl,
  vaultDocumentId,
  AUTOMERGE_PATH,
  type AutomergeUrlOptions,
} from "./automerge-token.js";
