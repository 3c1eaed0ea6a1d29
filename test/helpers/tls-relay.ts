/**
 * A man in the middle for NATS over TLS: it relays the server's plaintext INFO line, then ends the
 * client's TLS with its own certificate and opens its own TLS to the real server — exactly what an
 * attacker on the path can do. It counts the application bytes it carried after the handshake.
 */
import { createServer, connect as netConnect, type Server } from "node:net";
import { TLSSocket, connect as tlsConnect, createSecureContext } from "node:tls";
import { generateHubCert } from "../../agent/auth/tls.js";

export interface TlsRelay {
  port: number;
  /** Bytes from the client that reached the real server after the TLS handshake. */
  forwardedBytes(): number;
  close(): Promise<void>;
}

export async function startTlsRelay(upstreamPort: number): Promise<TlsRelay> {
  const { certPem, keyPem } = await generateHubCert({ commonName: "mallory" });
  let forwarded = 0;
  const server: Server = createServer((client) => {
    const upstream = netConnect({ host: "127.0.0.1", port: upstreamPort });
    let buffered = Buffer.alloc(0);
    const onInfo = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n");
      if (end < 0) return;
      upstream.off("data", onInfo);
      const toClient = new TLSSocket(client, {
        isServer: true,
        secureContext: createSecureContext({ cert: certPem, key: keyPem }),
      });
      // Reading the real server's certificate is not the attacker's problem: accept anything.
      const toServer = tlsConnect({ socket: upstream, rejectUnauthorized: false });
      client.write(buffered.subarray(0, end + 2));
      toClient.on("data", (data: Buffer) => {
        forwarded += data.length;
        toServer.write(data);
      });
      toServer.on("data", (data: Buffer) => toClient.write(data));
      for (const s of [toClient, toServer])
        s.on("error", () => {
          toClient.destroy();
          toServer.destroy();
        });
    };
    upstream.on("data", onInfo);
    for (const s of [client, upstream])
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    forwardedBytes: () => forwarded,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
