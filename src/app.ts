import { Elysia, t } from "elysia";
import { couponModule } from "../modules/coupon";
import { MyCoupons } from "../modules/coupon/mine";
import type { CouponApi } from "../modules/coupon/model";
import { DbLockCouponService, RedisCouponService } from "../modules/coupon/service";
import { eventsModule } from "../modules/events";
import { Err } from "../modules/events/model";
import { eventIds, EventService } from "../modules/events/service";
import { Winners } from "../modules/events/winners";
import { DeadLetters, deadLettersModule } from "../modules/issuer/dead-letters";
import { IssuerService } from "../modules/issuer/service";
import { Reconciler } from "../modules/events/reconcile";
import { queueModule } from "../modules/queue";
import { HttpQueueClient, queueInternalModule } from "../modules/queue/internal";
import type { QueueApi } from "../modules/queue/model";
import { mysqlSeedRecord, PreQueueDraw } from "../modules/queue/draw";
import { AdmissionScheduler } from "../modules/queue/scheduler";
import { QueueService } from "../modules/queue/service";
import { routerModule } from "../modules/router";
import { forwardModule } from "../modules/router/forward";
import { RateMeter } from "../modules/router/rate";
import { EventView } from "../modules/router/view";
import { callerResolver, Tickets } from "../modules/queue/ticket";
import { redemptionModule } from "../modules/redemption";
import { Redemption } from "../modules/redemption/service";
import { webModule } from "../modules/web";
import { WebhookDispatcher } from "../modules/webhooks/service";
import { assertAdminGuarded, authentication, bearerIs, createAuth } from "./auth";
import type { Config } from "./config";
import { connectMysql, migrateDatabase, queryTimer, type Mysql } from "./db";
import { docs, SECURITY } from "./docs";
import { ApiError, errors, routedAsSent } from "./http";
import { createMetrics, EVENT_RETENTION_MS, ExportLease, Snapshot } from "./metrics";
import { couponEventSource, queueEventSource, routerEventSource, startPings } from "./metrics-sources";
import { raiseListenBacklog } from "./listen-backlog";
import { rateLimit } from "./ratelimit";
import { createRedis, globalKeys, scriptTimer } from "./redis";

const ENTER_ROUTE = "/api/events/:id/enter";
const ReadyChecks = t.Object(
  { redis: t.String(), mysql: t.Optional(t.String()), events: t.Optional(t.String({ description: "events whose Redis state could not be reconciled (they sell nothing)" })) },
  { description: "`ok` or `down` per dependency" },
);

/**
 * Composes the process from its roles. Each module is mounted where its role runs; a router without
 * a local queue or coupon module reaches them through QUEUE_URL / COUPON_URL. In ROLE=all every
 * module talks to the others in process and nothing goes over HTTP.
 */
export async function createApp(config: Config) {
  const has = (r: "router" | "queue" | "coupon" | "issuer") => config.roles.has(r);
  const remoteQueue = has("router") && !has("queue") && !!config.queueUrl;
  const remoteCoupon = has("router") && !has("coupon") && !!config.couponUrl;
  // a router with no upstream configured serves that part itself
  const serveQueue = has("queue") || (has("router") && !remoteQueue);
  const serveCoupon = has("coupon") || (has("router") && !remoteCoupon);

  // what this process serves, whatever its ROLE says (a router without upstreams serves queue and coupon itself)
  const servedRoles = new Set(config.roles);
  if (serveQueue) servedRoles.add("queue");
  if (serveCoupon) servedRoles.add("coupon");
  const metrics = createMetrics({ roles: servedRoles, mysql: serveCoupon || has("issuer") });
  scriptTimer.observe = metrics.redisScript;
  queryTimer.observe = metrics.mysqlQuery;
  const redis = createRedis(config);

  let mysql: Mysql | null = null;
  if (serveCoupon || has("issuer")) {
    await migrateDatabase(config.databaseUrl);
    mysql = connectMysql(config.databaseUrl);
  }

  const auth = createAuth({ secret: config.jwtSecret, adminToken: config.adminToken, issuer: config.jwtIssuer, audience: config.jwtAudience });
  const listEvents = () => eventIds(redis, config.keyPrefix);
  const events = mysql ? new EventService(redis, mysql, config.keyPrefix, { webhooks: !!config.webhookSecret, fenceMs: config.reconcile.fenceMs }) : null;
  // the roles that sell (coupon) reconcile Redis with MySQL before they do; see modules/events/reconcile.ts
  // the issue script runs on its own strict connection (never queued offline, never re-sent after a reconnect)
  const issueRedis = serveCoupon && config.issueStrategy === "redis" ? createRedis(config, "issue", true) : null;
  const reconciler = events && serveCoupon ? new Reconciler(issueRedis ? [redis, issueRedis] : [redis], events, config.keyPrefix) : null;
  const queue = new QueueService(redis, config.keyPrefix, config.queue);
  const served: QueueApi = remoteQueue ? new HttpQueueClient(config.queueUrl!, config.adminToken, config.upstreamTimeoutMs) : queue;
  // where MySQL is at hand, an event Redis lost (or holds half-written) is rebuilt before the answer
  const queueApi: QueueApi = events
    ? {
        enter: async (id, user, rpm) => {
          const r = await served.enter(id, user, rpm);
          return r.status === "event_not_found" && (await events.ensureLoaded(id)) ? served.enter(id, user, rpm) : r;
        },
        poll: async (id, user) => {
          const r = await served.poll(id, user);
          return r.status === "event_not_found" && (await events.ensureLoaded(id)) ? served.poll(id, user) : r;
        },
        leave: (id, user) => served.leave(id, user),
      }
    : served;
  const meter = new RateMeter(redis, config.keyPrefix, config.router.rateFlushMs);
  const tickets = new Tickets(config.jwtSecret);
  const caller = callerResolver(auth, tickets);
  // the router's view of live events, refreshed with the rate counts (one round trip per flush)
  const view = has("router") ? new EventView(redis, config.keyPrefix, config.router.rateFlushMs) : null;
  if (view) meter.onFlush = () => view.refresh();
  if (events && view) {
    events.onChange = (id) => view.invalidate(id);
    view.rebuild = async (id) => !!(await events.ensureLoaded(id));
  }
  const settingsRev = globalKeys(config.keyPrefix).settingsRev;
  // the pre-queue draw keeps its seed in MySQL; a queue process without MySQL of its own gets a small
  // pool that connects on first use and is not part of its readiness (only a draw needs it)
  const drawMysql = has("queue") && config.queue.schedulerEnabled ? (mysql ?? connectMysql(config.databaseUrl, 2)) : null;
  const draw = drawMysql ? new PreQueueDraw(redis, config.keyPrefix, mysqlSeedRecord(drawMysql)) : null;
  const scheduler = has("queue") && config.queue.schedulerEnabled ? new AdmissionScheduler(queue, listEvents, () => redis.get(settingsRev), draw) : null;
  const issuer = has("issuer") && config.issuer.enabled && mysql ? new IssuerService(redis, mysql, config.keyPrefix, listEvents, config.issuer) : null;
  if (issuer) {
    issuer.onBatch = (rows) => metrics.issuerBatch(rows);
    // the issuer logs each dead letter with its reason itself
    issuer.onDeadLetter = (reason) => metrics.issuerDeadLettered(reason);
  }

  // webhook deliveries run beside the issuer (never inside its loop); signing needs the secret
  const persists = has("issuer") && config.issuer.enabled;
  if (persists && mysql && !config.webhookSecret) {
    const [rows] = (await mysql.pool.query("SELECT id FROM coupon_events WHERE webhook_url IS NOT NULL ORDER BY id LIMIT 5")) as [{ id: number }[], unknown];
    if (rows.length) {
      await mysql.close().catch(() => {});
      redis.disconnect();
      throw new Error(`WEBHOOK_SECRET required when any event has a webhookUrl (events ${rows.map((r) => r.id).join(", ")}${rows.length === 5 ? ", …" : ""})`);
    }
  }
  const webhooks = persists && mysql && config.webhookSecret ? new WebhookDispatcher(mysql, config.webhookSecret, config.webhooks) : null;
  if (webhooks) {
    webhooks.onAttempt = (outcome) => (outcome === "delivered" ? metrics.webhookDelivered() : metrics.webhookFailed());
    webhooks.onPending = (n) => metrics.webhookOutboxPending(n);
    // a persisted batch may have queued a delivery: look now rather than at the next poll
    const onBatch = issuer?.onBatch;
    if (issuer) issuer.onBatch = (size, lagMs) => (onBatch?.(size, lagMs), webhooks.poke());
  }

  // per-event gauges from cached snapshots, each exported by one process of its role (the lease holder)
  const leases = (["coupon", "queue", "router"] as const).filter((r) => servedRoles.has(r)).map((role) => {
    const lease = new ExportLease(redis, `${config.keyPrefix}:metrics:exporter:${role}`);
    metrics.sources.exporting[role] = () => lease.held;
    return lease;
  });
  if (events && mysql && servedRoles.has("coupon")) metrics.sources.coupon = new Snapshot(couponEventSource(redis, mysql, events, config.keyPrefix, EVENT_RETENTION_MS));
  const queueSource = queueEventSource(redis, config.keyPrefix, listEvents, EVENT_RETENTION_MS);
  if (servedRoles.has("queue")) metrics.sources.queue = new Snapshot(queueSource.read);
  queue.onAdmitted = (eventId, n, source) => {
    metrics.admitted(eventId, n, source);
    queueSource.wake(eventId);
  };
  if (has("router")) metrics.sources.router = new Snapshot(routerEventSource(meter, metrics.routerKnows));
  // the router counts each enter's outcome for the event it names (refusals that prove no event are left out)
  const door: QueueApi = {
    async enter(eventId, userId, rpm) {
      try {
        const r = await queueApi.enter(eventId, userId, rpm);
        metrics.doorOutcome(eventId, r.status);
        return r;
      } catch (e) {
        metrics.doorRefused(eventId, e instanceof ApiError ? e.code : "error");
        throw e;
      }
    },
    poll: (eventId, userId) => queueApi.poll(eventId, userId),
    leave: (eventId, userId) => queueApi.leave(eventId, userId),
  };
  let stopPings = () => {};
  const metricsToken = config.metricsToken ? Buffer.from(config.metricsToken) : null;

  // a split router documents the coupon role's routes it forwards (the modules are built for their route table only)
  const unused = null as never;
  const forwardedDocs = () =>
    remoteCoupon
      ? [eventsModule(unused, unused, auth, false), couponModule(unused, unused, auth, caller), redemptionModule(unused, auth), deadLettersModule(unused, auth)]
      : [];

  const started = new WeakMap<Request, number>();
  const app = new Elysia({
    // reject unknown fields instead of silently dropping them (bad input is a 4xx, never a partial change)
    normalize: false,
    // compile every route's handler at start, not on its first request (the first second of a rush);
    // no schema transforms its value, so encoding replies would be pure overhead
    precompile: true,
    encodeSchema: false,
    // the limit is ours (413/411 as JSON in `errors`, before any body is read); Bun's would answer with an empty body
    serve: { maxRequestBodySize: Number.MAX_SAFE_INTEGER },
    // Elysia's own router finds the path after "http://<host>"; by default it assumes a host of at
    // least four characters and cuts "http://x/api/…" wrong
    handler: { standardHostname: false },
  })
    .onRequest(({ request }) => void started.set(request, performance.now()))
    .onAfterResponse({ as: "global" }, ({ request, route, set, params }) => {
      const t0 = started.get(request);
      if (t0 === undefined) return;
      metrics.observeHttp(request.method, route || "unmatched", String(set.status ?? 200), (performance.now() - t0) / 1000);
      if (set.status === 429 && route === ENTER_ROUTE) metrics.doorRefused(Number((params as { id?: string })?.id), "rate_limited");
    })
    .use(routedAsSent())
    .use(errors(config.maxBodyBytes))
    // before every route: verifies the bearer token once, so handlers and limits read it from memory
    // (a waiting ticket is not a user token: its routes verify it themselves, modules/queue/ticket.ts)
    .use(authentication({ ...auth, authenticate: (h) => (tickets.carries(h) ? Promise.resolve() : auth.authenticate(h)) }))
    .use(config.swagger ? docs(forwardedDocs) : new Elysia())
    .get("/health/live", () => ({ status: "ok" as const }), {
      response: { 200: t.Object({ status: t.Literal("ok") }, { $id: "Live", description: "the process is up" }) },
      detail: { tags: ["ops"], operationId: "getLiveness", security: SECURITY.public, summary: "Liveness: the process answers" },
    })
    .get(
      "/health/ready",
      async ({ set }) => {
        // "down", never the client's own error text: that can carry addresses and credentials
        const ping = (p: () => Promise<unknown>) => p().then(
          () => "ok",
          () => "down",
        );
        const [redisCheck, mysqlCheck] = await Promise.all([ping(() => redis.ping()), mysql && ping(() => mysql!.pool.query("SELECT 1"))]);
        const checks: { redis: string; mysql?: string; events?: string } = { redis: redisCheck };
        if (mysqlCheck) checks.mysql = mysqlCheck;
        // events whose Redis state could not be reconciled sell nothing; the process still serves the rest
        const failed = reconciler ? [...reconciler.failures.keys()] : [];
        if (failed.length) checks.events = `not reconciled: ${failed.slice(0, 20).join(", ")}`;
        const down = (["redis", "mysql"] as const).filter((k) => k in checks && checks[k] !== "ok");
        if (!down.length) return { status: "ready" as const, checks };
        set.status = 503;
        return { error: "not_ready" as const, message: `${down.join(", ")} unavailable`, checks };
      },
      {
        response: {
          200: t.Object({ status: t.Literal("ready"), checks: ReadyChecks }, { $id: "Ready", description: "Redis and, for roles that need it, MySQL are reachable" }),
          503: t.Object({ error: t.Literal("not_ready"), message: t.String(), checks: ReadyChecks }, { $id: "NotReady", description: "`not_ready`: the message names what is down" }),
        },
        detail: { tags: ["ops"], operationId: "getReadiness", security: SECURITY.public, summary: "Readiness: Redis and, for roles that need it, MySQL reachable" },
      },
    )
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = metrics.registry.contentType;
        return metrics.registry.metrics();
      },
      {
        transform: ({ request }) => {
          if (metricsToken && !bearerIs(request.headers.get("authorization"), metricsToken)) throw new ApiError(401, "unauthorized", "metrics token required");
        },
        response: { 200: t.String({ description: "Prometheus text exposition format" }), 401: Err("unauthorized") },
        detail: { tags: ["ops"], operationId: "getMetrics", security: SECURITY.metrics, summary: "Prometheus metrics (Authorization: Bearer <METRICS_TOKEN> when that is set)" },
      },
    );

  // clients reach only the router, so that is where they are limited (a backend sees the router's IP)
  if (view)
    app
      // per-user limits know ticket holders too (from tickets already verified), at no cost per request
      .use(rateLimit(config.rateLimit, { ...auth, userOrNull: (h) => tickets.knownUser(h) ?? auth.userOrNull(h) }))
      .use(routerModule({ queue: door, meter, auth, view, tickets, caller, redis, prefix: config.keyPrefix, cfg: config.queue, onRefused: (id, code) => metrics.doorOutcome(id, code), onWaited: (id, seconds) => metrics.observeWait(id, seconds) }))
      .use(webModule(config));
  if (serveQueue) app.use(queueModule(scheduler, config.queue.schedulerCron));
  if (has("queue")) app.use(queueInternalModule(queue, auth));
  if (serveCoupon && events && mysql) {
    const coupons =
      config.issueStrategy === "db-lock"
        ? new DbLockCouponService(redis, mysql, events, config.keyPrefix)
        : new RedisCouponService(redis, issueRedis!, mysql, events, config.keyPrefix, config.queue, reconciler!.gate);
    if (coupons instanceof RedisCouponService) coupons.onRefill = (eventId, n) => metrics.admitted(eventId, n, "refill");
    const counted: CouponApi = {
      issue: async (eventId, userId) => {
        const r = await coupons.issue(eventId, userId);
        metrics.issueOutcome(eventId, r.status);
        return r;
      },
      coupon: (eventId, userId) => coupons.coupon(eventId, userId),
    };
    app
      .use(eventsModule(events, new Winners(mysql), auth, !view))
      .use(couponModule(counted, new MyCoupons(redis, mysql, config.keyPrefix, listEvents), auth, caller))
      .use(redemptionModule(new Redemption(mysql), auth))
      .use(deadLettersModule(new DeadLetters(redis, events, config.keyPrefix), auth));
  }
  if (remoteQueue || remoteCoupon)
    // poll and leave are the router's own (answered from its view, or through QueueApi), never forwarded
    app.use(forwardModule({ queue: undefined, coupon: remoteCoupon ? config.couponUrl : undefined }, auth, config.upstreamTimeoutMs));
  assertAdminGuarded(app.routes, auth);

  return {
    app,
    auth,
    redis,
    issueRedis,
    reconciler,
    mysql,
    queue,
    view,
    tickets,
    scheduler,
    draw,
    issuer,
    webhooks,
    events,
    metrics,
    async start(port = config.port) {
      // a Redis that comes back stale or empty (crash, failover, lost writes) is reconciled with MySQL
      // and the streams before this process sells again
      await reconciler?.start();
      if (has("router")) meter.start();
      issuer?.start();
      webhooks?.start();
      await Promise.all(leases.map((l) => l.start()));
      stopPings = startPings(redis, mysql, metrics);
      app.listen({ port, hostname: process.env.HOST || "0.0.0.0", reusePort: config.reusePort });
      raiseListenBacklog(app.server!.port as number, config.listenBacklog);
      return app.server!.port as number;
    },
    /** Graceful: stop taking requests, let in-flight ones finish, let the issuer ack its batch. */
    async stop() {
      await app.stop(false);
      meter.stop();
      stopPings();
      await Promise.all(leases.map((l) => l.stop()));
      reconciler?.stop();
      await issuer?.stop();
      await webhooks?.stop();
      await mysql?.close().catch(() => {});
      if (drawMysql && drawMysql !== mysql) await drawMysql.close().catch(() => {});
      redis.disconnect();
      issueRedis?.disconnect();
    },
  };
}
