import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertNoCve2023_47090,
  NatsConfigError,
  openListeners,
  renderConfig,
  resolveServerConfig,
  UnsafeConfigError,
  type NatsServerConfig,
} from "./server-config.js";

const base: NatsServerConfig = {
  role: "peer",
  stateDir: "/var/lib/es",
  serverName: "p1",
  client: { host: "127.0.0.1", port: -1 },
};
const hub: NatsServerConfig = {
  ...base,
  role: "hub",
  client: { host: "0.0.0.0", port: 4222 },
  leafnode: { host: "0.0.0.0", port: 7422 },
};
const tls = { certFile: "/srv/tls.crt", keyFile: "/srv/tls.key" };
const pin = "ab".repeat(32);
const routeTls = { certFile: "/s/route.crt", keyFile: "/s/route.key", caFile: "/s/trusted.pem", pins: [pin] };
const LOCAL_USER = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";

describe("resolveServerConfig", () => {
  it("fills in the defaults and makes paths absolute", () => {
    const c = resolveServerConfig(base);
    assert.equal(c.maxPayloadBytes, 1024 * 1024);
    assert.equal(c.clusterName, "edgesync");
    const relative = resolveServerConfig({ ...base, stateDir: "state", tls: { certFile: "t.crt", keyFile: "t.key" } });
    assert.equal(relative.stateDir, join(process.cwd(), "state"));
    assert.equal(relative.tls?.certFile, join(process.cwd(), "t.crt"));
  });

  it("rejects each invalid field with a NatsConfigError naming it", () => {
    const bad: [Partial<NatsServerConfig>, RegExp][] = [
      [{ client: { host: "127.0.0.1", port: 0 } }, /client port 0 .* -1 for an ephemeral/],
      [{ client: { host: "127.0.0.1", port: 70_000 } }, /client port 70000/],
      [{ client: { host: "127.0.0.1", port: 1.5 } }, /client port/],
      [{ client: { host: "a host", port: 1 } }, /client host/],
      [{ stateDir: "" }, /stateDir/],
      [{ stateDir: '/x"y' }, /stateDir/],
      [{ serverName: "has space" }, /server name/],
      [{ role: "leaf" }, /leaf role needs/],
      [{ role: "leaf", remotes: [{ url: "http://hub:7422" }] }, /leafnode remote/],
      [{ role: "leaf", remotes: [{ url: "nats-leaf://hub:7422", caFile: 'ca"x.pem' }] }, /CA file/],
      [{ leafnodeWebsocket: { host: "0.0.0.0", port: 443 } }, /needs the leafnode listener/],
      [{ cluster: { host: "0.0.0.0", port: 6222, routes: ["nats://"] } }, /cluster route/],
      [{ cluster: { host: "0.0.0.0", port: 6222, routes: ["ws://peer:6222"] } }, /cluster route/],
      [{ cluster: { host: "127.0.0.1", port: 6222, routes: [], tls: { ...routeTls, pins: [] } } }, /cluster TLS pins/],
      [
        { cluster: { host: "127.0.0.1", port: 6222, routes: [], tls: { ...routeTls, pins: ["AB".repeat(32)] } } },
        /cluster TLS pins/,
      ],
      [
        { cluster: { host: "127.0.0.1", port: 6222, routes: [], tls: { ...routeTls, caFile: 'x"y' } } },
        /cluster TLS trust file/,
      ],
      [{ maxPayloadBytes: 128 * 1024 * 1024 }, /max payload/],
      [{ tls: { certFile: "tls\\.crt", keyFile: "/k" } }, /TLS certificate file/],
      [{ role: "relay" as never }, /role "relay"/],
      [{ clientNkeys: [] }, /client nkeys must name/],
      [{ clientNkeys: ["SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4"] }, /not a user nkey/],
      [{ clientNkeys: [LOCAL_USER], authConfig: "operator: x" }, /exclusive/],
    ];
    for (const [patch, message] of bad) {
      assert.throws(
        () => resolveServerConfig({ ...base, ...patch }),
        (e: Error) => e instanceof NatsConfigError && message.test(e.message),
        JSON.stringify(patch),
      );
    }
  });
});

describe("renderConfig", () => {
  it("writes a hub with client, leafnode and websocket listeners sharing the TLS files", () => {
    const text = renderConfig({ ...hub, tls, leafnodeWebsocket: { host: "0.0.0.0", port: 8443 } });
    assert.match(text, /^port: 4222$/m);
    assert.match(text, /^ports_file_dir: "\/var\/lib\/es"$/m);
    assert.match(
      text,
      /leafnodes \{\n {2}host: "0\.0\.0\.0"\n {2}port: 7422\n {2}tls \{\n {4}cert_file: "\/srv\/tls\.crt"/,
    );
    assert.match(text, /websocket \{\n {2}host: "0\.0\.0\.0"\n {2}port: 8443\n {2}tls \{/);
    assert.doesNotMatch(text, /no_tls/);
  });

  it("keeps the websocket listener plain behind a TLS proxy or without TLS files", () => {
    assert.match(
      renderConfig({ ...hub, tls, leafnodeWebsocket: { host: "127.0.0.1", port: 8080, noTls: true } }),
      /websocket \{[^}]*no_tls: true/,
    );
    assert.match(
      renderConfig({ ...hub, leafnodeWebsocket: { host: "127.0.0.1", port: 8080 } }),
      /websocket \{[^}]*no_tls: true/,
    );
  });

  it("writes a leaf's remotes with credentials and a pinned CA", () => {
    const text = renderConfig({
      ...base,
      role: "leaf",
      remotes: [{ url: "tls://hub.example:7422", credentialsFile: "/home/u/leaf.creds", caFile: "/home/u/hub-ca.pem" }],
    });
    assert.match(
      text,
      /remotes: \[\n {4}\{ url: "tls:\/\/hub\.example:7422", credentials: "\/home\/u\/leaf\.creds", tls \{ ca_file: "\/home\/u\/hub-ca\.pem" \} \}\n {2}\]/,
    );
    assert.doesNotMatch(text, /^tls \{/m, "no client TLS on a leaf without TLS files");
  });

  it("writes a leaf's other hubs as one remote's urls, so nats-server redials the next when one is lost", () => {
    const text = renderConfig({
      ...base,
      role: "leaf",
      remotes: [{ url: "tls://h1:7422", moreUrls: ["tls://h2:7422", "tls://h3:7422"], caFile: "/home/u/hub-ca.pem" }],
    });
    assert.match(
      text,
      /\{ urls: \["tls:\/\/h1:7422", "tls:\/\/h2:7422", "tls:\/\/h3:7422"\], tls \{ ca_file: "\/home\/u\/hub-ca\.pem" \} \}/,
    );
    assert.throws(
      () => renderConfig({ ...base, role: "leaf", remotes: [{ url: "wss://h1", moreUrls: ["tls://h2:7422"] }] }),
      /mix websocket and plain/,
    );
  });

  it("writes a hub's cluster with route TLS under the hubs' cluster name", () => {
    const text = renderConfig({
      ...hub,
      clusterName: "edgesync-hubs",
      cluster: { host: "0.0.0.0", port: 6222, routes: ["nats-route://h2:6222"], tls: routeTls },
    });
    assert.match(
      text,
      /cluster \{\n {2}name: "edgesync-hubs"[\s\S]*routes: \[\n {4}"nats-route:\/\/h2:6222"\n {2}\][\s\S]*verify: true/,
    );
  });

  it("writes a peer's cluster with its routes and name", () => {
    const text = renderConfig({
      ...base,
      clusterName: "home",
      cluster: { host: "0.0.0.0", port: 6222, routes: ["nats-route://10.0.0.2:6222", "nats-route://10.0.0.3:6222"] },
    });
    assert.match(
      text,
      /cluster \{\n {2}name: "home"\n {2}host: "0\.0\.0\.0"\n {2}port: 6222\n {2}routes: \[\n {4}"nats-route:\/\/10\.0\.0\.2:6222",\n {4}"nats-route:\/\/10\.0\.0\.3:6222"\n {2}\]\n\}/,
    );
  });

  it("writes a peer's route TLS: its certificate, the trusted devices, verification both ways and the pins", () => {
    const text = renderConfig({ ...base, cluster: { host: "127.0.0.1", port: 6222, routes: [], tls: routeTls } });
    const block = /cluster \{[\s\S]*\n\}/.exec(text)?.[0] ?? "";
    assert.match(
      block,
      /\n {2}tls \{\n {4}cert_file: "\/s\/route\.crt"\n {4}key_file: "\/s\/route\.key"\n {4}ca_file: "\/s\/trusted\.pem"\n {4}verify: true\n {4}timeout: 5\n {4}pinned_certs: \[\n {6}"(ab){32}"\n {4}\]\n {2}\}\n\}$/,
    );
    assert.doesNotMatch(text, /^tls \{/m, "the route TLS stays inside the cluster block");
  });

  it("admits only the local nkey users on a leaf's client listener, leaving its remotes and a peer's routes to their own blocks", () => {
    const leaf = renderConfig({
      ...base,
      role: "leaf",
      clientNkeys: [LOCAL_USER],
      remotes: [{ url: "tls://hub.example:7422", credentialsFile: "/home/u/leaf.creds" }],
    });
    assert.match(
      leaf,
      new RegExp(`^authorization \\{\n {2}users: \\[\n {4}\\{ nkey: "${LOCAL_USER}" \\}\n {2}\\]\n\\}$`, "m"),
    );
    assert.doesNotMatch(
      leaf,
      /accounts|system_account|no_auth_user/,
      "local clients stay in the global account the remotes bind",
    );
    const peer = renderConfig({
      ...base,
      clientNkeys: [LOCAL_USER],
      cluster: { host: "127.0.0.1", port: 6222, routes: [] },
    });
    assert.match(peer, /^authorization \{/m);
    assert.doesNotMatch(peer, /cluster \{[^}]*authorization/);
  });

  it("appends the auth layer's text verbatim", () => {
    const auth = 'operator: "/x/op.jwt"\nsystem_account: ADSYS\nresolver { type: full, dir: "/x/jwt" }';
    assert.ok(renderConfig({ ...hub, authConfig: auth }).endsWith(`${auth}\n`));
  });
});

describe("CVE-2023-47090 guard", () => {
  it("never writes authorization{} together with a system account", () => {
    assert.throws(() => assertNoCve2023_47090("authorization { user: a }\nsystem_account: SYS\n"), UnsafeConfigError);
    assert.throws(
      () => assertNoCve2023_47090("authorization: { token: x }\naccounts { $SYS { users: [{user: s}] } }\n"),
      UnsafeConfigError,
    );
    assert.throws(
      () => assertNoCve2023_47090("leafnodes { authorization { user: a } }\naccounts: { SYS: {} }\n"),
      UnsafeConfigError,
    );
    assert.throws(
      () =>
        renderConfig({
          ...hub,
          authConfig: "authorization { token: x }\naccounts { SYS { users: [] } }\nsystem_account: SYS",
        }),
      UnsafeConfigError,
    );
  });

  it("allows either one alone, and ignores commented-out lines", () => {
    assert.doesNotThrow(() => assertNoCve2023_47090("authorization { user: a, password: b }\n"));
    assert.doesNotThrow(() => assertNoCve2023_47090('operator: "/op.jwt"\nsystem_account: ADSYS\n'));
    assert.doesNotThrow(() => assertNoCve2023_47090("# authorization { user: a }\nsystem_account: SYS\n"));
  });
});

describe("openListeners", () => {
  it("lists the listeners other machines can reach while no auth is configured", () => {
    assert.deepEqual(openListeners(hub), ["client 0.0.0.0:4222", "leafnode 0.0.0.0:7422"]);
    assert.deepEqual(openListeners(base), []);
    assert.deepEqual(openListeners({ ...hub, authConfig: "operator: x" }), []);
    assert.deepEqual(openListeners({ ...base, cluster: { host: "0.0.0.0", port: 6222, routes: [] } }), [
      "cluster 0.0.0.0:6222",
    ]);
    assert.deepEqual(
      openListeners({ ...base, cluster: { host: "0.0.0.0", port: 6222, routes: [], tls: routeTls } }),
      [],
      "routes then admit trusted keys only",
    );
    assert.deepEqual(
      openListeners({
        ...base,
        client: { host: "0.0.0.0", port: 4222 },
        clientNkeys: [LOCAL_USER],
        cluster: { host: "0.0.0.0", port: 6222, routes: [] },
      }),
      ["cluster 0.0.0.0:6222"],
    );
  });
});
