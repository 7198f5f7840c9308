// Configuration comes only from the environment; every value is checked once at start so a bad
// deployment fails with one clear line instead of misbehaving under load. No message ever carries
// a secret or a URL's credentials.
import { readFileSync } from "node:fs";
import { EXAMPLE_SECRETS, redactUrl } from "./secrets";

export const ROLES = ["router", "queue", "coupon", "issuer"] as const;
export type Role = (typeof ROLES)[number];

export class ConfigError extends Error {}

function int(env: Record<string, string | undefined>, name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer in ${min}..${max}, got "${raw}"`);
  return n;
}

function url(env: Record<string, string | undefined>, name: string, def: string | undefined, protocols: string[]): string | undefined {
  const raw = env[name] || def;
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    // the value itself may hold a password: never echo it
    throw new ConfigError(`${name} is not a valid URL (expected ${protocols[0]}//[user:password@]host[:port]…)`);
  }
  if (!protocols.includes(u.protocol)) throw new ConfigError(redactUrl(`${name} must use ${protocols.join(" or ")}, got "${u.protocol}"`));
  return raw.replace(/\/$/, "");
}

function onOff(env: Record<string, string | undefined>, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return def;
  if (raw !== "on" && raw !== "off") throw new ConfigError(`${name} must be "on" or "off", got "${raw}"`);
  return raw === "on";
}

/** How many proxies in front of the router append to X-Forwarded-For (0 = trust none of it). */
function trustProxy(raw: string | undefined): number {
  if (raw === undefined || raw === "" || raw === "off") return 0;
  if (!/^[1-9][0-9]?$/.test(raw))
    throw new ConfigError(`TRUST_PROXY must be "off" or the number of trusted proxy hops in front of the router (1-99), got "${raw}"`);
  return Number(raw);
}

/**
 * Origins that may show the pages in a frame (CSP frame-ancestors): a comma list of scheme://host[:port],
 * nothing else (a path, a wildcard or a quote would change what the policy allows).
 */
function embedOrigins(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === "") return [];
  return raw.split(",").map((part) => {
    const o = part.trim();
    let u: URL | null = null;
    try {
      u = new URL(o);
    } catch {}
    if (!u || (u.protocol !== "https:" && u.protocol !== "http:") || u.origin !== o.replace(/\/$/, "").toLowerCase() || u.username || u.password || !/^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(u.hostname))
      throw new ConfigError(`EMBED_ORIGINS must be a comma list of origins like https://shop.example (scheme, host and port only), got "${o}"`);
    return u.origin;
  });
}

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  const dev = env.NODE_ENV === "development";
  const roleRaw = (env.ROLE || "all").trim();
  const roles = new Set<Role>();
  if (roleRaw === "all") ROLES.forEach((r) => roles.add(r));
  else
    for (const part of roleRaw.split(",").map((s) => s.trim())) {
      if (!(ROLES as readonly string[]).includes(part)) throw new ConfigError(`ROLE must be "all" or a comma list of ${ROLES.join(", ")}, got "${roleRaw}"`);
      roles.add(part as Role);
    }

  // production unless said otherwise: a forgotten NODE_ENV must not relax the checks on secrets
  const production = env.NODE_ENV === undefined || env.NODE_ENV === "" || env.NODE_ENV === "production";
  const secret = (name: string, value: string | undefined, minLength: number, prodMinLength = minLength, unit = "characters") => {
    if (value === undefined) return undefined;
    const length = unit === "bytes" ? Buffer.byteLength(value) : value.length;
    const min = production ? prodMinLength : minLength;
    if (length < min) throw new ConfigError(`${name} must be at least ${min} ${unit}${production && min > minLength ? " in production (NODE_ENV=production or unset)" : ""}`);
    if (production && EXAMPLE_SECRETS.includes(value)) throw new ConfigError(`${name} is an example value from the docs; in production (NODE_ENV=production or unset) use a secret of your own (e.g. openssl rand -base64 32)`);
    return value;
  };

  const adminToken = secret("ADMIN_TOKEN", env.ADMIN_TOKEN || (dev ? "dev-admin-token" : undefined), 8, 24);
  if (!adminToken) throw new ConfigError("ADMIN_TOKEN is required (or set NODE_ENV=development)");
  const jwtSecret = secret("AUTH_JWT_SECRET", env.AUTH_JWT_SECRET || (dev ? "dev-jwt-secret-change-me" : undefined), 16, 32, "bytes");
  if (!jwtSecret) throw new ConfigError("AUTH_JWT_SECRET is required (or set NODE_ENV=development)");

  const issuer = env.AUTH_JWT_ISSUER || undefined;
  const audience = env.AUTH_JWT_AUDIENCE || undefined;
  const metricsToken = secret("METRICS_TOKEN", env.METRICS_TOKEN || undefined, 8);
  const webhookSecret = secret("WEBHOOK_SECRET", env.WEBHOOK_SECRET || undefined, 16);
  // whsec_<base64> is the Standard Webhooks form (the key is the decoded bytes); anything else is used as raw bytes
  if (webhookSecret?.startsWith("whsec_") && !/^whsec_(?:[A-Za-z0-9+/]{4}){4,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(webhookSecret))
    throw new ConfigError("WEBHOOK_SECRET starting with whsec_ must be whsec_ followed by the base64 of at least 12 bytes (Standard Webhooks)");
  const webhookCaFile = env.WEBHOOK_CA_FILE || undefined;
  let webhookCa: string | undefined;
  if (webhookCaFile) {
    try {
      webhookCa = readFileSync(webhookCaFile, "utf8");
    } catch {
      throw new ConfigError(`WEBHOOK_CA_FILE cannot be read: ${webhookCaFile}`);
    }
    if (!webhookCa.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`WEBHOOK_CA_FILE must hold PEM certificates: ${webhookCaFile}`);
  }
  // the bot gate's challenges are signed with this (every router the same); by default a key derived from AUTH_JWT_SECRET
  const botGateSecret = secret("BOT_GATE_SECRET", env.BOT_GATE_SECRET || undefined, 16, 32, "bytes") ?? `bot-gate:${jwtSecret}`;
  const apiKeyPepper = secret("API_KEY_PEPPER", env.API_KEY_PEPPER || undefined, 16, 32, "bytes");
  const strategy = env.ISSUE_STRATEGY || "redis";
  if (strategy !== "redis" && strategy !== "db-lock") throw new ConfigError(`ISSUE_STRATEGY must be "redis" or "db-lock", got "${strategy}"`);

  let clusterNodes: { host: string; port: number }[] | undefined;
  if (env.REDIS_CLUSTER_NODES) {
    clusterNodes = env.REDIS_CLUSTER_NODES.split(",").map((hp) => {
      const m = /^\s*([^:\s]+):(\d{1,5})\s*$/.exec(hp);
      if (!m) throw new ConfigError(`REDIS_CLUSTER_NODES must be host:port,host:port…, got "${env.REDIS_CLUSTER_NODES}"`);
      return { host: m[1]!, port: Number(m[2]) };
    });
  }

  // a phone that loses its signal for a minute keeps its place (Cloudflare's waiting room holds 5 minutes)
  const waiterTimeoutMs = int(env, "QUEUE_WAITER_TIMEOUT_MS", 120_000, 1000, 3_600_000);
  const maxPollMs = int(env, "QUEUE_MAX_POLL_MS", Math.max(100, Math.min(5000, Math.floor(waiterTimeoutMs / 3))), 100);
  const minPollMs = int(env, "QUEUE_MIN_POLL_MS", Math.min(300, maxPollMs), 50);
  // a waiter told to come back later than the timeout would be dropped for obeying
  if (maxPollMs * 2 > waiterTimeoutMs) throw new ConfigError(`QUEUE_MAX_POLL_MS (${maxPollMs}) must be at most half of QUEUE_WAITER_TIMEOUT_MS (${waiterTimeoutMs})`);
  if (minPollMs > maxPollMs) throw new ConfigError(`QUEUE_MIN_POLL_MS (${minPollMs}) must not exceed QUEUE_MAX_POLL_MS (${maxPollMs})`);

  // Service to service (a router's calls to queue and coupon processes): a credential of its own,
  // never the root token. Every process of a split deployment needs it: a router that forwards, and
  // a queue or coupon process that serves routers elsewhere.
  const queueUrl = url(env, "QUEUE_URL", undefined, ["http:", "https:"]);
  const couponUrl = url(env, "COUPON_URL", undefined, ["http:", "https:"]);
  const split = (roles.has("router") && !!(queueUrl || couponUrl)) || (!roles.has("router") && (roles.has("queue") || roles.has("coupon")));
  const internalToken = secret("INTERNAL_TOKEN", env.INTERNAL_TOKEN || (dev && split ? "dev-internal-token-change-me" : undefined), 16, 24);
  if (split && !internalToken) throw new ConfigError("INTERNAL_TOKEN is required in a split deployment (a router with QUEUE_URL/COUPON_URL, or a queue or coupon process without the router role): the same value on every process");
  if (internalToken !== undefined && internalToken === adminToken) throw new ConfigError("INTERNAL_TOKEN must differ from ADMIN_TOKEN (a process that holds one must not hold the other's powers)");

  const retryBaseMs = int(env, "WEBHOOK_RETRY_BASE_MS", 1000, 10, 3_600_000);
  const retryMaxMs = int(env, "WEBHOOK_RETRY_MAX_MS", 600_000, 10, 86_400_000);
  if (retryBaseMs > retryMaxMs) throw new ConfigError(`WEBHOOK_RETRY_BASE_MS (${retryBaseMs}) must not exceed WEBHOOK_RETRY_MAX_MS (${retryMaxMs})`);

  return {
    dev,
    roles,
    port: int(env, "PORT", 3000, 0, 65535),
    // several processes on one port (routers behind one address, issuer replicas on a host network)
    reusePort: onOff(env, "REUSE_PORT", false),
    // Bun listens with a backlog of 512; a flash crowd's connects overflow it (src/listen-backlog.ts)
    listenBacklog: int(env, "LISTEN_BACKLOG", 4096, 0, 1_000_000),
    redisUrl: url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", ["redis:", "rediss:"])!,
    redisClusterNodes: clusterNodes,
    // Every key the app writes lives under this prefix, so tests and tenants can share one Redis.
    keyPrefix: env.REDIS_KEY_PREFIX ?? "cp",
    databaseUrl: url(env, "DATABASE_URL", "mysql://root@127.0.0.1:3306/coupon", ["mysql:"])!,
    production,
    adminToken,
    jwtSecret,
    internalToken,
    apiKeyPepper,
    botGateSecret,
    jwtIssuer: issuer,
    jwtAudience: audience,
    metricsToken,
    swagger: onOff(env, "SWAGGER", true),
    // the pages may be framed by these origins only (none: by nobody)
    embedOrigins: embedOrigins(env.EMBED_ORIGINS),
    webhookSecret,
    queueUrl,
    couponUrl,
    issueStrategy: strategy as "redis" | "db-lock",
    // the coupon role refuses issue (503, Retry-After) once a promise has waited this long for MySQL; 0 = never
    issueBacklogMaxAgeMs: int(env, "ISSUE_BACKLOG_MAX_AGE_MS", 60_000, 0, 86_400_000),
    upstreamTimeoutMs: int(env, "UPSTREAM_TIMEOUT_MS", 5000, 100, 120000),
    maxBodyBytes: int(env, "MAX_BODY_BYTES", 16 * 1024, 256, 10 * 1024 * 1024),
    queue: {
      // How long an admitted user may hold a running slot without issuing.
      // bounded: a slot must expire within a day, and the expiry must stay a representable date
      slotTtlMs: int(env, "QUEUE_SLOT_TTL_MS", 120_000, 1000, 86_400_000),
      // A waiter who has not polled for this long is dropped from the line.
      waiterTimeoutMs,
      schedulerCron: env.QUEUE_SCHEDULER_CRON || "* * * * * *",
      schedulerEnabled: env.QUEUE_SCHEDULER !== "off",
      minPollMs,
      maxPollMs,
      // Most departures (places given up) an event's list keeps ahead of the head; past it a view
      // sends the oldest ones' tickets to the exact poll (modules/queue/leave-7.lua).
      departuresMax: int(env, "QUEUE_DEPARTURES_MAX", 100_000, 10, 10_000_000),
    },
    rateLimit: {
      // a real user polls every 300 ms at most and issues once: 20/s with a burst of 40 is far above
      // any honest client (scripts that poll in a tight loop included) and far below a hammering one
      userPerSec: int(env, "RATE_LIMIT_USER_PER_SEC", 20, 0),
      userBurst: int(env, "RATE_LIMIT_USER_BURST", 40, 1),
      ipPerSec: int(env, "RATE_LIMIT_IP_PER_SEC", 1000, 0),
      ipBurst: int(env, "RATE_LIMIT_IP_BURST", 2000, 1),
      limitLoopback: env.RATE_LIMIT_LOOPBACK === "on",
      trustProxyHops: trustProxy(env.TRUST_PROXY),
      // per API key (root included) on /admin/*: a checkout that redeems at a rush's pace fits in it
      adminPerSec: int(env, "RATE_LIMIT_ADMIN_PER_SEC", 200, 0),
      adminBurst: int(env, "RATE_LIMIT_ADMIN_BURST", 400, 1),
    },
    lockout: {
      // more than this many failed admin authentications from one address within the window: 429 for the rest of it
      failures: int(env, "ADMIN_LOCKOUT_FAILURES", 10, 0, 1_000_000),
      windowMs: int(env, "ADMIN_LOCKOUT_WINDOW_MS", 60_000, 1000, 86_400_000),
    },
    reconcile: {
      // after a reconciliation that found (or suspects) lost writes, sales of the event wait this long
      // (and then for every issuer still holding entries from before): issuers renew their holder
      // announcements every 200 ms, so the fence must outlast a renewal lost with Redis's last writes
      fenceMs: int(env, "RECONCILE_FENCE_MS", 1000, 500, 60_000),
    },
    history: {
      // how often each event's numbers are sampled for the admin chart (GET /admin/events/:id/history); kept 24 h
      stepMs: int(env, "HISTORY_STEP_MS", 5000, 1000, 60_000),
    },
    router: {
      // How often each router flushes its local request counts and reads the aggregate back.
      rateFlushMs: int(env, "RATE_FLUSH_MS", 250, 20, 5000),
    },
    webhooks: {
      // a receiver that has not answered within this is retried later (its lease lasts 30 s longer)
      timeoutMs: int(env, "WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
      // deliveries in flight at once per process: bounds sockets and MySQL work whatever the receivers do
      concurrency: int(env, "WEBHOOK_CONCURRENCY", 8, 1, 256),
      // retries back off exponentially from the base to the cap, with jitter
      retryBaseMs,
      retryMaxMs,
      // how often the outbox is looked at when no batch was persisted in this process
      pollMs: int(env, "WEBHOOK_POLL_MS", 500, 10, 60_000),
      // lifts the SSRF guard's address rules (loopback, private, link-local…): tests, private networks
      allowPrivate: onOff(env, "WEBHOOK_ALLOW_PRIVATE", false),
      // PEM certificates trusted for receivers besides the system's (a private CA, a test receiver)
      ca: webhookCa,
    },
    issuer: {
      enabled: env.ISSUER !== "off",
      // one multi-row INSERT per batch; 2,000 measured fastest here (bench drain)
      batchSize: int(env, "ISSUER_BATCH_SIZE", 2000, 1, 10000),
      // Entries a dead consumer left pending are reclaimed once idle this long.
      claimIdleMs: int(env, "ISSUER_CLAIM_IDLE_MS", 30_000, 10),
      // how long a trickle may wait to share one INSERT (adds at most this to the persist lag)
      lingerMs: int(env, "ISSUER_LINGER_MS", 20, 0, 5000),
      maxDeliveries: int(env, "ISSUER_MAX_DELIVERIES", 5, 1, 1000),
      consumerName: env.ISSUER_CONSUMER || `issuer-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    },
  };
}

export type Config = ReturnType<typeof loadConfig>;
