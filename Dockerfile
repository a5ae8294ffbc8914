# syntax=docker/dockerfile:1
#
# Tether: one image for the agent and the registry.
#
#   docker build -t tether-sidecar .
#   docker run -d --name tether-registry -p 8470:8470 -v tether-registry:/var/lib/tether \
#     -e TETHER_HEALTHCHECK_URL=http://127.0.0.1:8470/healthz --entrypoint tini \
#     tether-sidecar -- node --max-semi-space-size=8 /usr/local/bin/tether registry --listen 0.0.0.0:8470 --data /var/lib/tether/registry
#   # (the registry's young generation capped as in systemd/tether-registry.service)
#   docker run -d --name tether-agent --network host -v /etc/tether:/etc/tether:ro -e MALLOC_MMAP_THRESHOLD_=32768 \
#     --entrypoint tini tether-sidecar -- node --max-semi-space-size=2 --max-old-space-size=256 /usr/local/bin/tether agent --config /etc/tether/tether.yaml
#   # (the agent's V8 heap sized for what it keeps alive and malloc returning V8's freed
#   # compiler memory, as in systemd/tether.service; not for the registry. node's arguments,
#   # not NODE_OPTIONS, which the agent's checks, hooks and actions would inherit)
#   # The application as tether's child: an image FROM this one that adds the app, with
#   #   ENTRYPOINT ["tether", "exec", "--config", "/etc/tether/tether.yaml", "--"]  CMD ["web", "--port", "8080"]
#   # (tether is PID 1: it reaps orphans itself); CMD is the application's command:
#   docker run -d --name web -v /etc/tether:/etc/tether:ro web-with-tether
#   # Or keep this image's entrypoint (tini in front) and give exec and the command as arguments:
#   docker run -d --name web -v /etc/tether:/etc/tether:ro web-with-tether \
#     exec --config /etc/tether/tether.yaml -- web --port 8080
#
# No Docker engine runs in CI: test/deploy/clean-copy.test.ts runs this file's
# COPY and RUN steps (the apt-get and useradd lines aside) in a clean copy of
# the repository, then starts `tether` from the runtime stage and runs the
# HEALTHCHECK command. Keep the steps plain shell so that stays true.

# The exact Node CI tests the image with: the version in .node-version, which
# `npm test` (scripts/test.sh) installs and runs the whole suite on
# (test/lib/node-version.test.ts holds this line and that file equal).
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---- build: all dependencies, better-sqlite3 compiled from source, dist/ ----
FROM ${NODE_IMAGE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
ENV npm_config_build_from_source=true
WORKDIR /app
# Dependencies first, in their own layers: a source change does not recompile
# better-sqlite3. Its install script is the only one in the lockfile; the
# root's `prepare` (the build) waits for the sources.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build
# The orphan reaper addon (`tether exec` as PID 1): Node-API, built with the
# node-gyp that npm bundles against this Node's own headers; a failure fails the build.
COPY native ./native
RUN node native/build.mjs

# ---- prod-deps: the same node_modules without the dev dependencies ----
# Pruning keeps the better-sqlite3 binary compiled above (no second compile).
FROM build AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime: production dependencies, dist/, a non-root user, tini ----
FROM ${NODE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/tether --create-home --shell /usr/sbin/nologin tether
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/build/Release/tether_reaper.node ./native/build/Release/
# `tether` on PATH, for the ENTRYPOINT and for `docker exec ... tether services list`.
RUN chmod 755 dist/cli/main.js && ln -s /app/dist/cli/main.js /usr/local/bin/tether
USER 10001:10001
# 8470: `tether registry`; 8471: the agent's local API (listen on 0.0.0.0:8471 to reach it from outside,
# with TETHER_AGENT_TOKEN set: the agent refuses a non-loopback address without it).
EXPOSE 8470 8471
# Liveness: the agent's /healthz by default; for the registry, set
# TETHER_HEALTHCHECK_URL=http://127.0.0.1:8470/healthz (its port, its /healthz).
ENV TETHER_HEALTHCHECK_URL=http://127.0.0.1:8471/healthz
# Slim images have no curl; Node's fetch does the request.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.TETHER_HEALTHCHECK_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini is PID 1: it forwards SIGTERM/SIGINT/SIGHUP to tether (which deregisters
# its services and exits 0) and reaps the exec probes' and actions' orphans.
# (`tether exec` needs no init: as PID 1 it forwards signals and reaps orphans itself.)
ENTRYPOINT ["tini", "--", "tether"]
CMD ["--help"]
