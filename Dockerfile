# c2dns container: multi-stage build on Node.js 22 LTS; runs as an unprivileged user.
#   docker build -t c2dns .
#   docker run -d --name c2dns --cap-drop ALL --cap-add NET_BIND_SERVICE --read-only \
#     -e C2DNS_ADMIN_TOKEN="$(openssl rand -hex 24)" -p 53:53/udp -p 53:53/tcp -p 127.0.0.1:9553:9553 \
#     -v c2dns-state:/var/lib/c2dns -v c2dns-log:/var/log/c2dns c2dns
# Configuration: /etc/c2dns/c2dns.yaml (deploy/docker/c2dns.yaml; mount your own folder over /etc/c2dns).
FROM node:22-bookworm-slim AS build
# The native addons (native/: UDP batch I/O, malloc tuning; issue 11) are compiled by npm ci's install script against the
# image's Node headers; the build tools stay in this stage. Should it not build, the install line
# says why and c2dns serves UDP with the pure-JS path (server.udpBatch: auto).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ >/dev/null && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# build/ exists even when the addon did not build, for the COPY below.
RUN npm run build && npm prune --omit=dev && mkdir -p build

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build ./build
COPY package.json ./
COPY blocklists ./blocklists
COPY config ./config
COPY deploy/docker/c2dns.yaml /etc/c2dns/c2dns.yaml
# State (last good feed copies, history, quarantine, emergency blocks) and the query log live in
# volumes owned by the unprivileged user, so they survive the container being recreated.
RUN mkdir -p /var/lib/c2dns /var/log/c2dns && chown 1000:1000 /var/lib/c2dns /var/log/c2dns
VOLUME ["/var/lib/c2dns", "/var/log/c2dns"]
# The image's "node" user, by number so that Kubernetes' runAsNonRoot can check it. Port 53 needs
# no file capability: a container's network namespace lets unprivileged users bind low ports
# (net.ipv4.ip_unprivileged_port_start=0, Docker's default). It runs with --cap-drop ALL.
USER 1000:1000
# DNS on 53 (UDP and TCP); the admin listener (metrics, probes, API; token required) on 9553.
EXPOSE 53/udp 53/tcp 9553/tcp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9553/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve", "--config", "/etc/c2dns/c2dns.yaml"]
