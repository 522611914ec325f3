# syntax=docker/dockerfile:1
# An O'Chat node (one company). Build from the repository's root:
#   docker build -f deploy/node.Dockerfile -t ochat-node .
# Run it with a read-only root filesystem: only NODE_DATA_DIR (the SQLite file and attachments: a
# volume) and /tmp (tmpfs: tsx's compile cache, incoming mail's attachments) are written.
# Configuration: deploy/env/node.env.example.

FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles from source (.npmrc): no prebuilt binary is fetched.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=ochat-pnpm-store,target=/root/.local/share/pnpm/store \
  deploy/install.sh node /opt/ochat/node

FROM node:20-bookworm-slim
RUN groupadd --system --gid 10001 ochat \
  && useradd --system --uid 10001 --gid ochat --home-dir /nonexistent --shell /usr/sbin/nologin ochat \
  && mkdir -p /var/lib/ochat/node \
  && chown ochat:ochat /var/lib/ochat/node
# Owned by root and not writable by the server: the code cannot be changed by the process running it.
COPY --from=build /opt/ochat/node /opt/ochat/node
COPY deploy/healthcheck.mjs /opt/ochat/healthcheck.mjs
RUN ln -s /opt/ochat/node/bin/ochat-node.mjs /usr/local/bin/ochat-node
ENV NODE_ENV=production \
  NODE_HOST=0.0.0.0 \
  NODE_PORT=8800 \
  NODE_DATA_DIR=/var/lib/ochat/node
VOLUME ["/var/lib/ochat/node"]
USER 10001:10001
WORKDIR /opt/ochat/node
# 8800: web UI, REST API, O'Chat webhook. 2525: incoming mail, when NODE_SMTP_PORT=2525 is set.
EXPOSE 8800 2525
# serve finishes in-flight writes and closes the SQLite file cleanly on SIGTERM.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/opt/ochat/healthcheck.mjs", "http://127.0.0.1:8800/healthz"]
ENTRYPOINT ["node", "/opt/ochat/node/bin/ochat-node.mjs"]
CMD ["serve"]
