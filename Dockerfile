# One image, four servers: ROLE selects router, queue, coupon or issuer (or "all").
# BUN_IMAGE / BUN_SLIM_IMAGE pick the base images (another registry, a mirror, or a local stand-in:
# docs/deployment.md); EXTRA_CA_CERTS (PEM text) lets `bun install` trust a TLS-intercepting proxy.
ARG BUN_IMAGE=oven/bun:1
ARG BUN_SLIM_IMAGE=oven/bun:1-slim

FROM ${BUN_IMAGE} AS deps
WORKDIR /app
COPY package.json bun.lock ./
# the certificates go to a file that only this step sees; the run image never holds them
ARG EXTRA_CA_CERTS=
RUN if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /tmp/extra-ca.pem; export NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem; fi \
 && bun install --frozen-lockfile --production \
 && rm -f /tmp/extra-ca.pem

FROM ${BUN_SLIM_IMAGE} AS run
WORKDIR /app
ENV NODE_ENV=production \
    PORT=3000 \
    ROLE=all
COPY --from=deps --chown=bun:bun /app/node_modules ./node_modules
# package.json, bun.lock, tsconfig.json, src/ and modules/ (.dockerignore lets nothing else in): one layer
COPY --chown=bun:bun . ./
USER bun
EXPOSE 3000
# ready = Redis (and MySQL for the roles that use it) reachable
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains: stop accepting, finish in-flight requests, the issuer acks its batch, exit 0
STOPSIGNAL SIGTERM
CMD ["bun", "run", "src/main.ts"]
