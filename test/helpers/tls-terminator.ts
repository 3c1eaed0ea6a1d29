/**
 * A TLS-terminating proxy, as Caddy or nginx in front of a hub: it ends the client's TLS with its own
 * certificate and relays the plaintext bytes to a plain TCP port (the hub's `ws://` listener).
 */
import { connect as netConnect } from "node:net";
import { createServer, type Server } from "node:tls";
import { generateHubCert } from "../../agent/auth/tls.js";

export interface TlsTerminator {
  port: number;
  /** SHA-256 hex of the proxy's certificate, which a leaf pins on first use. */
  fingerprint: string;
  /** Client connections that completed the TLS handshake. */
  connections(): number;
  close(): Promise<void>;
}

export async function startTlsTerminator(upstreamPort: number): Promise<TlsTerminator> {
  const { certPem, keyPem, fingerprint } = await generateHubCert({ commonName: "tls proxy" });
  let connections = 0;
  const sockets = new Set<import("node:net").Socket>();
  const server: Server = createServer({ cert: certPem, key: keyPem }, (client) => {
    connections += 1;
    const upstream = netConnect({ host: "127.0.0.1", port: upstreamPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    fingerprint,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
