# keybroker: multi-stage build. The final image holds only what runs: compiled JavaScript,
# production dependencies, migrations and the CLI entry point; it runs as the unprivileged
# `node` user. Node 22 LTS (the code also runs on Node 20.19+, see package.json engines).

FROM node:22-bookworm-slim AS build
WORKDIR /app
# The workspace package's manifest before `npm ci`, which links it as node_modules/@keybroker/client
# (the service's own client: `keybroker aleph`, `cosmian`, `dev attest` use it).
COPY package.json package-lock.json ./
COPY packages/client/package.json packages/client/
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY packages/client/tsconfig.json packages/client/
COPY packages/client/src packages/client/src
COPY src src
COPY bench bench
COPY scripts scripts
# The build's last step makes the pre-initialized PGlite data directory from the migrations.
COPY migrations migrations
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    KEYBROKER_LISTEN=0.0.0.0:8443 \
    KEYBROKER_DATA_DIR=/var/lib/keybroker
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
# node_modules/@keybroker/client is a link to packages/client: its manifest and compiled code.
COPY --from=build /app/packages/client/package.json packages/client/
COPY --from=build /app/packages/client/dist packages/client/dist
COPY --from=build /app/dist/src dist/src
# A first start on an empty volume copies it instead of running initdb (README "Start-up and memory").
# Owner-only files (0600) made by root in the build stage: owned by the user that reads them.
COPY --from=build --chown=node:node /app/dist/pglite-template dist/pglite-template
COPY bin bin
COPY migrations migrations
COPY openapi openapi
COPY reference-values reference-values
RUN mkdir -p /var/lib/keybroker && chown node:node /var/lib/keybroker
USER node
VOLUME /var/lib/keybroker
EXPOSE 8443
# Ready (database reachable, keys loaded) on the port of KEYBROKER_LISTEN; plain HTTP only with
# KEYBROKER_INSECURE_HTTP=1 behind a TLS-terminating proxy. The probe runs inside the container,
# against its own loopback, so it does not check the certificate (clients do).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=4 \
  CMD ["node", "-e", "const p=(process.env.KEYBROKER_LISTEN||'').split(':').pop()||'8443';const h=process.env.KEYBROKER_INSECURE_HTTP==='1'?require('http'):require('https');h.get({host:'127.0.0.1',port:p,path:'/readyz',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
# --max-semi-space-size: V8 reads it only at a process's start (src/cli/young-generation.ts).
CMD ["node", "--max-semi-space-size=8", "bin/keybroker.js", "serve"]
