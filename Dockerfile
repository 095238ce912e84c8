# wagate: the gateway in a container.
#
#   podman build -t wagate .        (or docker build)
#   podman run -p 3000:3000 -v wagate-data:/data wagate start --sandbox
#
# NODE_IMAGE is any image with Node.js 20 (or newer), npm, and the tools
# useradd comes with; the default is the official one. See docs/deploy.md.
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim

# Dependencies only: the runtime stage copies the result, never the build's caches.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    WAGATE_DATA_DIR=/data
# A user of its own (the embedded PostgreSQL refuses to run as root, and so should the gateway).
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin wagate \
 && mkdir -p /data && chown wagate:wagate /data && chmod 0700 /data
WORKDIR /app
# Owned by root, read-only to the gateway: it writes only under /data.
COPY --from=build /app ./
USER wagate
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node handles SIGTERM itself (wagate drains and exits 0); no init process is needed.
ENTRYPOINT ["node", "bin/wagate.mjs"]
CMD ["start"]
