/**
 * `edgesync/automerge-repo`: sync a vault's document from an unmodified automerge-repo `Repo`
 * through an edgesync bridge, surviving disconnects (adapter.ts says how and why). Needs
 * `@automerge/automerge-repo` (a peer dependency); browser-ready, and on Node 20 pass
 * `socket: nodeSocket` from `edgesync/client/node`.
 */
export { BridgeRepoAdapter, type BridgeRepoAdapterOptions } from "./adapter.js";
export { vaultAccountOf, vaultAutomergeUrl, vaultDocumentId } from "../client/automerge-token.js";
export { keyFromSeed, sshPublicLineOf, type SigningKey } from "../client/handshake.js";
export { BridgeError } from "../client/session.js";
