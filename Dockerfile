# c2dns container: multi-stage build, runs as the unprivileged "node" user, listens on 53/udp+tcp.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# Port 53 is privileged: give the node binary CAP_NET_BIND_SERVICE as a file capability so the
# non-root user can bind it. (Alternative: run with --sysctl net.ipv4.ip_unprivileged_port_start=53.)
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep "$(readlink -f /usr/local/bin/node)" \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY blocklists ./blocklists
COPY config ./config
USER node
EXPOSE 53/udp 53/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli.js"]
# Upstreams default to Quad9; pass --upstream to use your own. Mount a config with
# -v ./c2dns.yaml:/etc/c2dns.yaml:ro and add: --config /etc/c2dns.yaml
CMD ["serve", "--listen", "0.0.0.0:53"]
