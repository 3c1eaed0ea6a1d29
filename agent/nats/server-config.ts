/**
 * Writes nats-server configuration for each role. Listeners take port -1 for an ephemeral port;
 * the supervisor reads the real ones back. The one combination we never write is `authorization{}`
 * together with a system account (CVE-2023-47090 in 2.9.10): operator mode carries its own accounts.
 */
export type NatsRole = "hub" | "leaf" | "peer";

export interface Listen {
  host: string;
  /** -1 for an ephemeral port. */
  port: number;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface LeafRemote {
  /** nats-leaf://, tls://, ws:// or wss:// URL of the hub's leafnode listener. */
  url: string;
  credentialsFile?: string;
  /** Pin: the only CA (the hub's self-signed cert) trusted for this link. */
  caFile?: string;
}

export interface NatsServerConfig {
  role: NatsRole;
  /** Folder for the config, ports file and log. */
  stateDir: string;
  serverName: string;
  client: Listen;
  /** Hub: where leaves connect. */
  leafnode?: Listen;
  /** Hub: leafnodes over websocket (e.g. behind a TLS-terminating proxy). */
  leafnodeWebsocket?: Listen;
  /** Leaf: the hub(s) it dials. */
  remotes?: LeafRemote[];
  /** Peer: cluster listener and routes to the other peers. */
  cluster?: Listen & { routes: string[] };
  /** TLS for client and leafnode listeners (hub). */
  tls?: TlsFiles;
  /** Largest message the server accepts; NATS's default is 1 MB. */
  maxPayloadBytes?: number;
  /** Operator/JWT blocks from the auth layer, appended verbatim. */
  authConfig?: string;
}

export class UnsafeConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnsafeConfigError";
  }
}

const q = (value: string) => JSON.stringify(value);
const listen = (l: Listen) => `host: ${q(l.host)}\n  port: ${l.port}`;

export function renderConfig(c: NatsServerConfig): string {
  const lines = [
    `# written by edgesync for the ${c.role} role; regenerated on every start`,
    `server_name: ${q(c.serverName)}`,
    `host: ${q(c.client.host)}`,
    `port: ${c.client.port}`,
    `ports_file_dir: ${q(c.stateDir)}`,
    `max_payload: ${c.maxPayloadBytes ?? 1024 * 1024}`,
    "ping_interval: \"20s\"",
    "write_deadline: \"10s\"",
  ];
  if (c.tls) lines.push(`tls {\n  cert_file: ${q(c.tls.certFile)}\n  key_file: ${q(c.tls.keyFile)}\n  timeout: 5\n}`);
  const leafBlocks: string[] = [];
  if (c.leafnode) {
    leafBlocks.push(`  ${listen(c.leafnode).replace("\n  ", "\n  ")}`);
    if (c.tls) leafBlocks.push(`  tls {\n    cert_file: ${q(c.tls.certFile)}\n    key_file: ${q(c.tls.keyFile)}\n    timeout: 5\n  }`);
  }
  if (c.remotes && c.remotes.length > 0) {
    const remotes = c.remotes.map((r) => {
      const parts = [`url: ${q(r.url)}`];
      if (r.credentialsFile) parts.push(`credentials: ${q(r.credentialsFile)}`);
      if (r.caFile) parts.push(`tls { ca_file: ${q(r.caFile)} }`);
      return `    { ${parts.join(", ")} }`;
    });
    leafBlocks.push(`  reconnect: 1\n  remotes: [\n${remotes.join(",\n")}\n  ]`);
  }
  if (leafBlocks.length > 0) lines.push(`leafnodes {\n${leafBlocks.join("\n")}\n}`);
  if (c.leafnodeWebsocket) lines.push(`websocket {\n  ${listen(c.leafnodeWebsocket)}\n  no_tls: true\n}`);
  if (c.cluster) {
    const routes = c.cluster.routes.map((r) => `    ${q(r)}`).join(",\n");
    lines.push(`cluster {\n  name: "edgesync"\n  ${listen(c.cluster)}\n  routes: [\n${routes}\n  ]\n}`);
  }
  if (c.authConfig) lines.push(c.authConfig);
  const text = `${lines.join("\n")}\n`;
  assertNoCve2023_47090(text);
  return text;
}

/** Refuses the configuration shape that 2.9.10's CVE-2023-47090 turns into an open door. */
export function assertNoCve2023_47090(text: string): void {
  const hasAuthorization = /(^|\n)\s*authorization\s*[{:]/.test(text);
  const hasSystemAccount = /(^|\n)\s*system_account\s*:/.test(text) || /accounts\s*[{:][\s\S]*\bSYS\b/.test(text);
  if (hasAuthorization && hasSystemAccount) {
    throw new UnsafeConfigError("refusing to write a nats-server config with authorization{} and a system account (CVE-2023-47090)");
  }
}
