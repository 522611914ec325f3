# syntax=docker/dockerfile:1
# The O'Chat relay. Build from the repository's root:
#   docker build -f deploy/relay.Dockerfile -t ochat-relay .
# Run it with a read-only root filesystem: only RELAY_DATA_DIR (keys, blobs; a volume shared by every
# replica) and /tmp (tmpfs: tsx's compile cache) are written. Configuration: deploy/env/relay.env.example.

FROM node:20-bookworm-slim AS build
# better-sqlite3 is in the lockfile beside drizzle-orm and compiles from source (.npmrc).
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=ochat-pnpm-store,target=/root/.local/share/pnpm/store \
  deploy/install.sh relay /opt/ochat/relay

FROM node:20-bookworm-slim
RUN groupadd --system --gid 10001 ochat \
  && useradd --system --uid 10001 --gid ochat --home-dir /nonexistent --shell /usr/sbin/nologin ochat \
  && mkdir -p /var/lib/ochat/relay \
  && chown ochat:ochat /var/lib/ochat/relay
# Owned by root and not writable by the server: the code cannot be changed by the process running it.
COPY --from=build /opt/ochat/relay /opt/ochat/relay
COPY deploy/healthcheck.mjs /opt/ochat/healthcheck.mjs
RUN ln -s /opt/ochat/relay/bin/ochat-relay.mjs /usr/local/bin/ochat-relay
ENV NODE_ENV=production \
  RELAY_HOST=0.0.0.0 \
  RELAY_PORT=8700 \
  RELAY_DATA_DIR=/var/lib/ochat/relay
VOLUME ["/var/lib/ochat/relay"]
USER 10001:10001
WORKDIR /opt/ochat/relay
EXPOSE 8700
# serve stops taking work on SIGTERM and finishes what is in flight before it exits.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/opt/ochat/healthcheck.mjs", "http://127.0.0.1:8700/healthz"]
ENTRYPOINT ["node", "/opt/ochat/relay/bin/ochat-relay.mjs"]
CMD ["serve"]
