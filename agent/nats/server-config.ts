/**
 * nats-server configuration for each role, with defaults applied and validated in one place
 * (`resolveServerConfig`). Listeners take port -1 for an ephemeral port; the supervisor reads the
 * real ones back. The one combination never written is `authorization{}` together with a system
 * account (CVE-2023-47090 in 2.9.10); operator mode carries its own accounts.
 */
import { resolve } from "node:path";
import { UserError } from "../errors.js";

export type NatsRole = "hub" | "leaf" | "peer";
export const NATS_ROLES: readonly NatsRole[] = ["hub", "leaf", "peer"];

export interface Listen {
  /** Interface to bind: `127.0.0.1` for this machine only, `0.0.0.0` for every interface. */
  host: string;
  /** TCP port, or -1 for an ephemeral one (read back after start). */
  port: number;
}

export interface WebsocketListen extends Listen {
  /**
   * Plain `ws://` even though `tls` is set: for a TLS-terminating proxy in front. Without `tls`
   * the listener is always plain (nats-server requires TLS files or `no_tls`).
   */
  noTls?: boolean;
}

export interface TlsFiles {
  /** PEM certificate (chain) presented by the client, leafnode and websocket listeners. */
  certFile: string;
  /** PEM private key for `certFile`; keep it mode 0600. */
  keyFile: string;
}

export interface LeafRemote {
  /** `nats-leaf://`, `tls://`, `ws://` or `wss://` URL of the hub's leafnode (or websocket) listener. */
  url: string;
  /**
   * Other hubs of the same cluster, tried in turn when the link to one is lost (nats-server redials
   * the next). All websocket or none: nats-server takes the scheme of the first for every one.
   */
  moreUrls?: string[];
  /** JWT + seed file this leaf authenticates with (operator mode). */
  credentialsFile?: string;
  /** Pin: the only CA (the hub's self-signed cert) trusted for this link; implies TLS. */
  caFile?: string;
}

export interface ClusterListen extends Listen {
  /** Route URLs (`nats-route://host:port`) of the other peers; empty for the first one. */
  routes: string[];
  /** Mutual TLS that admits only trusted device keys (agent/auth/route-tls.ts); without it any server may route in. */
  tls?: RouteTls;
}

/** Files and pins from agent/auth/route-tls.ts for the cluster's `tls {}` block. */
export interface RouteTls extends TlsFiles {
  /** The trusted devices' anchors: routes must present a certificate that chains to one. */
  caFile: string;
  /** Hex SHA-256 of each trusted key's SubjectPublicKeyInfo; a reload closes routes no longer listed. */
  pins: string[];
}

export interface NatsServerConfig {
  role: NatsRole;
  /** Folder for the config and the ports file (made absolute when resolved). */
  stateDir: string;
  /** Unique per server in a mesh: letters, digits, `.`, `_`, `-`. */
  serverName: string;
  /** Where local clients (the agent itself) connect. Leaves and peers keep it on loopback. */
  client: Listen;
  /** Hub: where leaves connect. */
  leafnode?: Listen;
  /** Hub: leafnodes (and websocket clients) over websocket, e.g. behind a TLS proxy; needs `leafnode`. */
  leafnodeWebsocket?: WebsocketListen;
  /** Leaf: the hub(s) it dials; required for the leaf role. */
  remotes?: LeafRemote[];
  /** Peer: cluster listener and routes to the other peers (omit for a lone peer). */
  cluster?: ClusterListen;
  /** Cluster name every peer of a mesh shares (default "edgesync"). */
  clusterName?: string;
  /** HTTP monitoring (/varz, /connz); off unless given. */
  monitoring?: Listen;
  /** TLS for the client, leafnode and websocket listeners. */
  tls?: TlsFiles;
  /** Largest message the server accepts (default and NATS's default: 1 MiB; at most 64 MiB). */
  maxPayloadBytes?: number;
  /** Raw config text appended verbatim: operator/JWT resolver blocks from the auth layer. */
  authConfig?: string;
  /**
   * Leaf and peer: the `U…` nkey users the client listener admits (agent/auth/local-credentials.ts);
   * any other client is refused. Not with `authConfig`, which brings its own (operator) auth.
   */
  clientNkeys?: string[];
}

/** Defaults filled in; what `renderConfig` writes. */
export type ResolvedServerConfig = NatsServerConfig & { maxPayloadBytes: number; clusterName: string };

export class NatsConfigError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsConfigError";
  }
}

export class UnsafeConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnsafeConfigError";
  }
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** nats-server refuses a larger max_payload. */
const MAX_PAYLOAD_BYTES_LIMIT = 64 * 1024 * 1024;
const SERVER_NAME = /^[A-Za-z0-9._-]{1,128}$/;
const HOST = /^[A-Za-z0-9.:%[\]-]{1,255}$/;
// Paths go inside double quotes; these would end the string or the line.
const UNSAFE_PATH = /["\n\r\\]/;
const REMOTE_SCHEMES = new Set(["nats-leaf:", "nats:", "tls:", "ws:", "wss:"]);
const ROUTE_SCHEMES = new Set(["nats-route:", "nats:", "tls:"]);
const KEY_PIN = /^[0-9a-f]{64}$/;
const USER_NKEY = /^U[A-Z2-7]{55}$/;

function fail(message: string): never {
  throw new NatsConfigError(`nats-server config: ${message}`);
}

function checkListen(name: string, l: Listen): void {
  if (!HOST.test(l.host)) fail(`${name} host ${JSON.stringify(l.host)} is not an address`);
  // Port 0 means "the default port" to nats-server, never "any port": -1 is the ephemeral one.
  if (!Number.isInteger(l.port) || (l.port !== -1 && (l.port < 1 || l.port > 65_535)))
    fail(`${name} port ${l.port} must be 1-65535, or -1 for an ephemeral port`);
}

/** Paths are written absolute (nats-server would resolve relative ones against its own notion). */
function checkPath(name: string, path: string): string {
  if (path.length === 0 || UNSAFE_PATH.test(path))
    fail(`${name} must be a path without quotes or backslashes: ${JSON.stringify(path)}`);
  return resolve(path);
}

function checkUrl(name: string, url: string, schemes: Set<string>): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail(`${name} ${JSON.stringify(url)} is not a URL`);
  }
  if (!schemes.has(parsed.protocol))
    fail(`${name} ${JSON.stringify(url)} must start with ${[...schemes].map((s) => `${s}//`).join(", ")}`);
  if (!parsed.hostname || UNSAFE_PATH.test(url)) fail(`${name} ${JSON.stringify(url)} has no host or has quotes`);
}

/** Applies defaults and checks every field; throws NatsConfigError naming the first problem. */
export function resolveServerConfig(c: NatsServerConfig): ResolvedServerConfig {
  if (!NATS_ROLES.includes(c.role)) fail(`role ${JSON.stringify(c.role)} must be one of ${NATS_ROLES.join(", ")}`);
  const stateDir = checkPath("stateDir", c.stateDir);
  if (!SERVER_NAME.test(c.serverName))
    fail(`server name ${JSON.stringify(c.serverName)} may use letters, digits, ".", "_" and "-" only`);
  checkListen("client", c.client);
  if (c.leafnode) checkListen("leafnode", c.leafnode);
  if (c.leafnodeWebsocket) {
    checkListen("leafnode websocket", c.leafnodeWebsocket);
    // Measured on 2.9.10: without a leafnodes{} block the websocket side drops every leaf at once.
    if (!c.leafnode) fail("a leafnode websocket listener needs the leafnode listener too");
  }
  if (c.monitoring) checkListen("monitoring", c.monitoring);
  if (c.role === "leaf" && (c.remotes ?? []).length === 0) fail("the leaf role needs the hub's leafnode URL (remotes)");
  const remotes = c.remotes?.map((r) => {
    checkUrl("leafnode remote", r.url, REMOTE_SCHEMES);
    for (const more of r.moreUrls ?? []) {
      checkUrl("leafnode remote", more, REMOTE_SCHEMES);
      if (/^wss?:/.test(more) !== /^wss?:/.test(r.url))
        fail(
          `leafnode remotes ${JSON.stringify(r.url)} and ${JSON.stringify(more)} mix websocket and plain leafnode URLs; give hubs of one kind`,
        );
    }
    return {
      ...r,
      ...(r.credentialsFile !== undefined
        ? { credentialsFile: checkPath("leafnode credentials file", r.credentialsFile) }
        : {}),
      ...(r.caFile !== undefined ? { caFile: checkPath("leafnode CA file", r.caFile) } : {}),
    };
  });
  let cluster = c.cluster;
  if (cluster) {
    checkListen("cluster", cluster);
    for (const route of cluster.routes) checkUrl("cluster route", route, ROUTE_SCHEMES);
    const routeTls = cluster.tls;
    if (routeTls) {
      // An empty list would refuse every route, including the agent's own mesh: never meant.
      if (routeTls.pins.length === 0 || !routeTls.pins.every((pin) => KEY_PIN.test(pin)))
        fail("cluster TLS pins must be one or more SHA-256 hex digests");
      cluster = {
        ...cluster,
        tls: {
          certFile: checkPath("cluster TLS certificate file", routeTls.certFile),
          keyFile: checkPath("cluster TLS key file", routeTls.keyFile),
          caFile: checkPath("cluster TLS trust file", routeTls.caFile),
          pins: routeTls.pins,
        },
      };
    }
  }
  if (c.clientNkeys) {
    if (c.authConfig) fail("client nkeys and an auth config are exclusive (operator mode admits its own users)");
    if (c.clientNkeys.length === 0) fail("client nkeys must name at least one user, or be left out");
    for (const nkey of c.clientNkeys)
      if (!USER_NKEY.test(nkey)) fail(`client nkey ${JSON.stringify(nkey)} is not a user nkey (U…)`);
  }
  const clusterName = c.clusterName ?? "edgesync";
  if (!SERVER_NAME.test(clusterName))
    fail(`cluster name ${JSON.stringify(clusterName)} may use letters, digits, ".", "_" and "-" only`);
  const tls = c.tls && {
    certFile: checkPath("TLS certificate file", c.tls.certFile),
    keyFile: checkPath("TLS key file", c.tls.keyFile),
  };
  const maxPayloadBytes = c.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1024 || maxPayloadBytes > MAX_PAYLOAD_BYTES_LIMIT) {
    fail(`max payload ${maxPayloadBytes} must be 1024-${MAX_PAYLOAD_BYTES_LIMIT} bytes`);
  }
  return { ...c, stateDir, remotes, cluster, tls, maxPayloadBytes, clusterName };
}

const q = (value: string) => JSON.stringify(value);
const tlsBlock = (t: TlsFiles, indent: string) =>
  `${indent}tls {\n${indent}  cert_file: ${q(t.certFile)}\n${indent}  key_file: ${q(t.keyFile)}\n${indent}  timeout: 5\n${indent}}`;

function leafnodesBlock(c: ResolvedServerConfig): string | undefined {
  const body: string[] = [];
  if (c.leafnode) {
    body.push(`  host: ${q(c.leafnode.host)}`, `  port: ${c.leafnode.port}`);
    if (c.tls) body.push(tlsBlock(c.tls, "  "));
  }
  if (c.remotes && c.remotes.length > 0) {
    const remotes = c.remotes.map((r) => {
      const parts = [
        r.moreUrls && r.moreUrls.length > 0
          ? `urls: [${[r.url, ...r.moreUrls].map(q).join(", ")}]`
          : `url: ${q(r.url)}`,
      ];
      if (r.credentialsFile) parts.push(`credentials: ${q(r.credentialsFile)}`);
      if (r.caFile) parts.push(`tls { ca_file: ${q(r.caFile)} }`);
      return `    { ${parts.join(", ")} }`;
    });
    // Seconds between redials of a lost hub; the leaf keeps serving local clients meanwhile.
    body.push("  reconnect: 1", `  remotes: [\n${remotes.join(",\n")}\n  ]`);
  }
  return body.length > 0 ? `leafnodes {\n${body.join("\n")}\n}` : undefined;
}

function websocketBlock(c: ResolvedServerConfig): string | undefined {
  const ws = c.leafnodeWebsocket;
  if (!ws) return undefined;
  const secure = c.tls !== undefined && ws.noTls !== true;
  return `websocket {\n  host: ${q(ws.host)}\n  port: ${ws.port}\n${secure && c.tls ? tlsBlock(c.tls, "  ") : "  no_tls: true"}\n}`;
}

/**
 * `verify: true` makes both ends of a route present a certificate that chains to `ca_file`;
 * `pinned_certs` is what a reload re-checks on routes already up (route-tls.ts says why both).
 */
function routeTlsBlock(t: RouteTls): string {
  const pins = t.pins.map((p) => `      ${q(p)}`).join(",\n");
  return `  tls {\n    cert_file: ${q(t.certFile)}\n    key_file: ${q(t.keyFile)}\n    ca_file: ${q(t.caFile)}\n    verify: true\n    timeout: 5\n    pinned_certs: [\n${pins}\n    ]\n  }`;
}

/**
 * Top-level `authorization` guards the client listener only (routes and leafnodes have their own
 * blocks); its users live in the global account, which a leaf's remotes bind to the hub's accounts.
 */
function clientAuthorizationBlock(c: ResolvedServerConfig): string | undefined {
  if (!c.clientNkeys) return undefined;
  return `authorization {\n  users: [\n${c.clientNkeys.map((k) => `    { nkey: ${q(k)} }`).join(",\n")}\n  ]\n}`;
}

function clusterBlock(c: ResolvedServerConfig): string | undefined {
  if (!c.cluster) return undefined;
  const routes = c.cluster.routes.map((r) => `    ${q(r)}`).join(",\n");
  const tls = c.cluster.tls ? `\n${routeTlsBlock(c.cluster.tls)}` : "";
  return `cluster {\n  name: ${q(c.clusterName)}\n  host: ${q(c.cluster.host)}\n  port: ${c.cluster.port}\n  routes: [\n${routes}\n  ]${tls}\n}`;
}

/** The config file text; validates first and refuses the CVE-2023-47090 shape. */
export function renderConfig(config: NatsServerConfig): string {
  const c = resolveServerConfig(config);
  const lines = [
    `# written by edgesync for the ${c.role} role; regenerated on every start`,
    `server_name: ${q(c.serverName)}`,
    `host: ${q(c.client.host)}`,
    `port: ${c.client.port}`,
    `ports_file_dir: ${q(c.stateDir)}`,
    `max_payload: ${c.maxPayloadBytes}`,
    // Dead links are noticed within ~1 min (3 missed pings); a stuck reader is cut after 10 s.
    'ping_interval: "20s"',
    'write_deadline: "10s"',
  ];
  if (c.monitoring) lines.push(`http: ${q(`${c.monitoring.host}:${c.monitoring.port}`)}`);
  if (c.tls) lines.push(tlsBlock(c.tls, ""));
  for (const block of [clientAuthorizationBlock(c), leafnodesBlock(c), websocketBlock(c), clusterBlock(c)])
    if (block) lines.push(block);
  if (c.authConfig) lines.push(c.authConfig);
  const text = `${lines.join("\n")}\n`;
  assertNoCve2023_47090(text);
  return text;
}

/**
 * Refuses the configuration shape that 2.9.10's CVE-2023-47090 turns into an open door: an
 * `authorization` block (at any depth) in a config that also defines accounts with SYS or names a
 * system account. Deliberately broader than the bug: we never need both.
 */
export function assertNoCve2023_47090(text: string): void {
  const uncommented = text.replace(/(^|\n)\s*(#|\/\/)[^\n]*/g, "$1");
  const hasAuthorization = /(^|[\s{,])authorization\s*[{:=]/.test(uncommented);
  const hasSystemAccount =
    /(^|[\s{,])system_account\s*[:=]/.test(uncommented) ||
    /(^|[\s{,])accounts\s*[{:=][\s\S]*\$?\bSYS\b/.test(uncommented);
  if (hasAuthorization && hasSystemAccount) {
    throw new UnsafeConfigError(
      "refusing to write a nats-server config with authorization{} and a system account (CVE-2023-47090)",
    );
  }
}

/**
 * Listeners reachable from other machines while no auth config is set (the client listener counts
 * as guarded when it admits only `clientNkeys`): the agent warns about them, since anyone who can
 * reach them can read and write every vault subject.
 */
export function openListeners(config: NatsServerConfig): string[] {
  if (config.authConfig) return [];
  const loopback = (host: string) =>
    host === "localhost" || host === "::1" || host === "[::1]" || host.startsWith("127.");
  const named: [string, Listen | undefined][] = [
    ["client", config.client],
    ["leafnode", config.leafnode],
    ["leafnode websocket", config.leafnodeWebsocket],
    ["cluster", config.cluster?.tls ? undefined : config.cluster],
    ["monitoring", config.monitoring],
  ];
  return named
    .filter(([name, l]) => l !== undefined && !loopback(l.host) && !(name === "client" && config.clientNkeys))
    .map(([name, l]) => `${name} ${l?.host}:${l?.port}`);
}
