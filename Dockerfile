# An edgesync hub (or leaf, or peer) in a container: Debian, nats-server from Debian's archive, a
# non-root user, the state folder as a volume, and configuration from environment variables only
# (deploy/edgesync-start.sh checks them and starts `edgesync sync start`; deploy/README.md lists them).
#
#   docker build -t edgesync .
#   docker run -d --name edgesync-hub -p 4222:4222 -p 7422:7422 -v edgesync-hub:/var/lib/edgesync \
#     -e EDGESYNC_NATS_ROLE=hub -e EDGESYNC_TLS_HOSTNAMES=hub.example.org \
#     -e EDGESYNC_AUTHORIZED_KEYS="ssh-ed25519 AAAA… you@laptop" edgesync

# Build stage: dev dependencies (TypeScript, esbuild) compile dist/, then only runtime dependencies stay.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the postinstall would fetch a nats-server (the runtime image takes Debian's), and
# "prepare" would build before the sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
# nats-server from Debian (2.9.10 on bookworm; `edgesync doctor` explains its CVE-2023-47090 and why
# edgesync's configuration avoids it); util-linux for setpriv, which ties nats-server's life to the agent;
# tini as PID 1, so signals reach the agent and no exited child is left unreaped.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nats-server util-linux tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system edgesync \
 && useradd --system --gid edgesync --home-dir /var/lib/edgesync --shell /usr/sbin/nologin edgesync \
 && install -d -o edgesync -g edgesync -m 0700 /var/lib/edgesync
WORKDIR /opt/edgesync
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY deploy/edgesync-start.sh /usr/local/bin/edgesync-start
RUN ln -s /opt/edgesync/dist/cmd/edgesync.js /usr/local/bin/edgesync \
 && chmod 0755 /usr/local/bin/edgesync-start /opt/edgesync/dist/cmd/edgesync.js

ENV EDGESYNC_HOME=/var/lib/edgesync \
    EDGESYNC_NATS_SERVER=/usr/sbin/nats-server \
    NODE_ENV=production
# Keys, the hub's certificate, hosted vaults and nats-server's data: keep them across upgrades.
VOLUME ["/var/lib/edgesync"]
# Client (4222) and leafnode (7422) listeners of a hub.
EXPOSE 4222 7422
USER edgesync
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/edgesync-start"]
