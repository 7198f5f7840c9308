import { AuditTrail, type AuditEntry } from "../modules/audit/service";
import { Lockout } from "../modules/keys/lockout";
import { ApiKeys } from "../modules/keys/service";
import { FunnelTally } from "../modules/events/funnel";
import { Reconciler } from "../modules/events/reconcile";
import { BacklogBound } from "../modules/issuer/backlog";
import { eventIds, EventService } from "../modules/events/service";
import type { IssuerService } from "../modules/issuer/service";
import type { PreQueueDraw } from "../modules/queue/draw";
import type { AdmissionScheduler } from "../modules/queue/scheduler";
import { QueueService } from "../modules/queue/service";
import { callerResolver, Tickets } from "../modules/queue/ticket";
import type { EventView } from "../modules/router/view";
import type { WebhookDispatcher } from "../modules/webhooks/service";
import { createAuth } from "./auth";
import type { Config, Role } from "./config";
import { connectMysql, migrateDatabase, queryTimer, type Mysql } from "./db";
import { createMetrics, ExportLease } from "./metrics";
import { adminLimiter, clientResolver } from "./ratelimit";
import { checkEvictionPolicy, createRedis, scriptTimer } from "./redis";

type Step = () => unknown;

/**
 * The modules' start and stop steps, run by the app in a fixed order (Elysia's own onStart/onStop
 * run after the server listens and are not awaited): `prepare` steps (making state safe to serve)
 * before any `start` step, all before the server listens; `stop` steps once the server has drained,
 * in the order added, before the connections close.
 */
export class Lifecycle {
  private readonly prepares: Step[] = [];
  private readonly starts: Step[] = [];
  private readonly stops: Step[] = [];
  prepare = (step: Step) => void this.prepares.push(step);
  start = (step: Step) => void this.starts.push(step);
  stop = (step: Step) => void this.stops.push(step);
  async runStart() {
    for (const step of [...this.prepares, ...this.starts]) await step();
  }
  async runStop() {
    for (const step of this.stops) await step();
  }
}

/** What this process serves, whatever its ROLE says: a router without upstreams serves queue and coupon itself. */
function servedRoles(config: Config) {
  const has = (r: Role) => config.roles.has(r);
  const remoteQueue = has("router") && !has("queue") && !!config.queueUrl;
  const remoteCoupon = has("router") && !has("coupon") && !!config.couponUrl;
  const served = new Set(config.roles);
  if (has("queue") || (has("router") && !remoteQueue)) served.add("queue");
  if (has("coupon") || (has("router") && !remoteCoupon)) served.add("coupon");
  return { has, serves: (r: Role) => served.has(r), served, remoteQueue, remoteCoupon };
}

/**
 * What every module is handed: config, the roles, connections, auth, the metrics registry, the
 * services several roles share (events, the waiting room), the lifecycle, and `parts`, where a
 * module leaves what others (and the tests) reach.
 */
export async function createKernel(config: Config) {
  const roles = servedRoles(config);
  const metrics = createMetrics({ roles: roles.served, mysql: roles.serves("coupon") || roles.has("issuer") });
  scriptTimer.observe = metrics.redisScript;
  queryTimer.observe = metrics.mysqlQuery;
  const redis = createRedis(config);
  try {
    await checkEvictionPolicy(redis);
  } catch (e) {
    redis.disconnect();
    throw e;
  }

  let mysql: Mysql | null = null;
  if (roles.serves("coupon") || roles.has("issuer")) {
    await migrateDatabase(config.databaseUrl);
    mysql = connectMysql(config.databaseUrl);
  }

  const clientOf = clientResolver(config.rateLimit.trustProxyHops, config.internalToken);
  // every process checks API keys (from memory) and the lockout (in Redis, shared by all)
  const apiKeys = new ApiKeys(redis, mysql, config.keyPrefix, config.apiKeyPepper);
  const auth = createAuth({
    secret: config.jwtSecret,
    adminToken: config.adminToken,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    clientOf,
    limit: adminLimiter(config.rateLimit),
    keys: apiKeys,
    lockout: new Lockout(redis, config.keyPrefix, config.lockout),
  });
  const tickets = new Tickets(config.jwtSecret);
  const auditTrail = mysql ? new AuditTrail(mysql) : null;
  // a slot's holder who was not told of it within two polls and a second is a ghost (stats.ts)
  const ghost = { slotTtlMs: config.queue.slotTtlMs, afterMs: 2 * config.queue.maxPollMs + 1000 };
  const events = mysql ? new EventService(redis, mysql, config.keyPrefix, { webhooks: !!config.webhookSecret, fenceMs: config.reconcile.fenceMs, webhookAllowPrivate: config.webhooks.allowPrivate, ghost }) : null;
  // the roles that sell (coupon) reconcile Redis with MySQL before they do; see modules/events/reconcile.ts
  // the issue script runs on its own strict connection (never queued offline, never re-sent after a reconnect)
  const issueRedis = roles.serves("coupon") && config.issueStrategy === "redis" ? createRedis(config, "issue", true) : null;
  const reconciler = events && roles.serves("coupon") ? new Reconciler(issueRedis ? [redis, issueRedis] : [redis], events, config.keyPrefix) : null;
  const lifecycle = new Lifecycle();
  // the funnel's counts this process makes (admissions, lapses, drops, leaves, refusals), added to Redis once per flush
  const funnel = new FunnelTally(redis, config.keyPrefix);
  lifecycle.start(() => funnel.start(config.router.rateFlushMs));
  lifecycle.stop(() => funnel.stop());
  lifecycle.prepare(() => apiKeys.start());
  lifecycle.stop(() => apiKeys.stop());
  // a Redis that comes back stale or empty (crash, failover, lost writes) is reconciled with MySQL
  // and the streams before this process sells again
  if (reconciler) {
    reconciler.backlog = new BacklogBound(redis, config.keyPrefix, config.issueBacklogMaxAgeMs).check;
    lifecycle.prepare(() => reconciler.start());
    lifecycle.stop(() => reconciler.stop());
  }
  const parts = {
    view: null as EventView | null,
    scheduler: null as AdmissionScheduler | null,
    draw: null as PreQueueDraw | null,
    issuer: null as IssuerService | null,
    webhooks: null as WebhookDispatcher | null,
  };
  return {
    config,
    roles,
    metrics,
    redis,
    issueRedis,
    mysql,
    auth,
    apiKeys,
    clientOf,
    tickets,
    caller: callerResolver(auth, tickets),
    events,
    reconciler,
    auditTrail,
    funnel,
    /**
     * Records an admin write in the audit trail, with the actor the admin guard found on `request`
     * (modules/audit). Call it once the write has taken effect.
     */
    audit(request: Request, entry: AuditEntry): Promise<void> {
      const who = auth.principal(request);
      if (!who) throw new Error(`audit ${entry.action}: the request did not pass the admin guard`);
      if (!auditTrail) throw new Error(`audit ${entry.action}: this process has no MySQL`);
      return auditTrail.record(who, entry).then(() => metrics.adminAction(entry.action));
    },
    queue: new QueueService(redis, config.keyPrefix, config.queue),
    listEvents: () => eventIds(redis, config.keyPrefix),
    lifecycle,
    parts,
    /**
     * Per-event gauges of a role are read from shared state, the same in every replica: only the
     * holder of the role's lease exports them (see ExportLease).
     */
    exportLease(role: "coupon" | "queue" | "router") {
      const lease = new ExportLease(redis, `${config.keyPrefix}:metrics:exporter:${role}`);
      metrics.sources.exporting[role] = () => lease.held;
      lifecycle.start(() => lease.start());
      lifecycle.stop(() => lease.stop());
    },
    /** Closes the connections (after every module has stopped). */
    async close() {
      // nothing reads MySQL or Redis for /metrics once they close
      for (const snap of [metrics.sources.coupon, metrics.sources.queue, metrics.sources.router]) snap?.close();
      await mysql?.close().catch(() => {});
      redis.disconnect();
      issueRedis?.disconnect();
    },
  };
}

export type Kernel = Awaited<ReturnType<typeof createKernel>>;
