# One image, four servers: ROLE selects router, queue, coupon or issuer (or "all").
# syntax=docker/dockerfile:1

FROM oven/bun:1 AS deps
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production

FROM oven/bun:1-slim AS run
WORKDIR /app
ENV NODE_ENV=production \
    PORT=3000 \
    ROLE=all
COPY --from=deps --chown=bun:bun /app/node_modules ./node_modules
COPY --chown=bun:bun package.json bun.lock tsconfig.json ./
COPY --chown=bun:bun src ./src
COPY --chown=bun:bun modules ./modules
USER bun
EXPOSE 3000
# ready = Redis (and MySQL for the roles that use it) reachable
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains: stop accepting, finish in-flight requests, the issuer acks its batch, exit 0
STOPSIGNAL SIGTERM
CMD ["bun", "run", "src/main.ts"]
