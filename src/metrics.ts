import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Role } from "./config";
import type { RedisClient } from "./redis";
import { OutageLog } from "./outage";
import { TURNED_AWAY, type Funnel } from "../modules/events/funnel";

// The metric list, with units, labels and the role that exports each, is docs/metrics.md.

const LATENCY = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const WAIT = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/** Every status an event can be in (CONTRACT.md); `coupon_event_status` has one series per status. */
export const EVENT_STATUSES = ["scheduled", "open", "paused", "sold_out", "closed", "cancelled"] as const;

/** Dead-letter reasons as metric labels: the MySQL-side stock guard's own, and every entry fault in one bucket. */
export const DEAD_REASONS = ["over_stock", "duplicate_user", "entry_fault"] as const;
export type DeadReason = (typeof DEAD_REASONS)[number];
export const deadReason = (reason: string | null | undefined): DeadReason => (reason === "over_stock" || reason === "duplicate_user" ? reason : "entry_fault");

/** Series of an event are dropped this long after it ended (or, for activity counters, after its last activity). */
export const EVENT_RETENTION_MS = 10 * 60_000;

/** Per-event state read by the coupon role (owner of the events and of MySQL). */
export type CouponEventStats = {
  eventId: number;
  status: string;
  stock: number;
  remaining: number;
  issued: number;
  persisted: number;
  pending: number;
  dead: Record<DeadReason, number>;
  /** Redis time (ms) of the oldest issuance not yet persisted; null when none is pending. */
  oldestPendingAt: number | null;
  trafficRpm: number;
  runningCapacity: number;
  admitPerSecond: number;
  maxWaiting: number;
  /** the funnel's counts (modules/events/funnel.ts) and the ghost slots */
  funnel: Funnel;
  ghostSlots: number;
  unaccounted: number;
};
/** Per-event state read by the queue role. */
export type QueueEventStats = { eventId: number; waiting: number; running: number; admitRate: number };
/** Per-event state of the router role: the all-routers request rate as this router sees it. */
export type RouterEventStats = { eventId: number; requestRate: number };

/**
 * A value read at most once per `maxAgeMs`: concurrent scrapes share one read, and a failed read
 * exports nothing rather than stale numbers.
 */
export class Snapshot<T> {
  private value: T | null = null;
  private at = 0;
  private reading: Promise<T | null> | null = null;
  private closed = false;
  private readonly outage = new OutageLog("metrics: snapshot");

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs = 2000,
  ) {}

  /** Reads nothing more (the process is stopping: its connections close next). */
  close() {
    this.closed = true;
  }

  get(): Promise<T | null> {
    if (this.closed) return Promise.resolve(null);
    if (this.value !== null && Date.now() - this.at < this.maxAgeMs) return Promise.resolve(this.value);
    this.reading ??= this.read()
      .then((v) => {
        this.value = v;
        this.at = Date.now();
        this.outage.ok();
        return v;
      })
      .catch((e) => {
        // a read cut short by the stop says nothing worth logging
        if (!this.closed) this.outage.failed(e);
        this.value = null;
        return null;
      })
      .finally(() => (this.reading = null));
    return this.reading;
  }
}

/**
 * Per-event gauges read from shared state (Redis, MySQL) are the same in every replica of a role;
 * only the holder of the role's lease exports them, so `sum by (event_id)` over all processes counts
 * each once. Renewed every `ttlMs / 3`; a holder that dies is replaced within `ttlMs`, one that stops
 * releases the lease at once.
 */
export class ExportLease {
  private heldUntil = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly id = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

  constructor(
    private readonly redis: RedisClient,
    readonly key: string,
    private readonly ttlMs = 15_000,
  ) {}

  get held() {
    return Date.now() < this.heldUntil;
  }

  async renew() {
    // the local deadline counts from before the call, so it never outlives the key in Redis
    const t0 = Date.now();
    try {
      let mine = (await this.redis.set(this.key, this.id, "PX", this.ttlMs, "NX")) === "OK";
      if (!mine && (await this.redis.get(this.key)) === this.id) mine = (await this.redis.pexpire(this.key, this.ttlMs)) === 1;
      this.heldUntil = mine ? t0 + this.ttlMs : 0;
    } catch {
      // Redis unreachable: keep what we had until it lapses
    }
  }

  async start() {
    await this.renew();
    this.timer ??= setInterval(() => void this.renew(), Math.floor(this.ttlMs / 3));
  }

  async stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.held && (await this.redis.get(this.key).catch(() => null)) === this.id) await this.redis.del(this.key).catch(() => 0);
    this.heldUntil = 0;
  }
}

/** One label set of a LightHistogram: what an observation touches (no label validation, no hashing). */
export class LightChild {
  count = 0;
  sum = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
    /** per bucket, not cumulative: the observations with bounds[i-1] < v <= bounds[i] */
    readonly buckets = new Float64Array(bounds.length),
  ) {}
  observe(v: number) {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) this.buckets[i]!++;
    this.count++;
    this.sum += v;
  }
}

type Exported = { name: string; help: string; type: "counter" | "histogram"; aggregator: "sum"; values: { labels: Record<string, string | number>; value: number; metricName?: string }[] };

/**
 * A histogram on the hot path (every HTTP request, every Lua call, every MySQL statement): the caller
 * keeps the child of its label set, and an observation is a bucket search and three additions.
 * prom-client's `observe` validates and hashes the labels on every call — about 2 µs, and the HTTP
 * metrics paid it twice per request (bench/hooks.ts). Exported in the same text as prom-client's
 * own histogram (buckets cumulative, `le`, `_sum`, `_count`); `counter` also exports the counts as a
 * counter of its own name (the requests total), read from the same children.
 */
export class LightHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly children = new Map<string, LightChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
    registers: Registry[],
    counter?: { name: string; help: string },
  ) {
    for (const r of registers) {
      r.registerMetric(this as never);
      if (counter) r.registerMetric({ ...counter, type: "counter", aggregator: "sum", get: () => this.counts(counter), reset: () => this.reset() } as never);
    }
  }

  /** The child of these label values (in labelNames' order), made on first use. */
  child(...values: string[]): LightChild {
    const key = values.join("\u0000");
    let c = this.children.get(key);
    if (!c) this.children.set(key, (c = new LightChild(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i] ?? ""])), this.bounds)));
    return c;
  }

  get(): Exported {
    const values: Exported["values"] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.children.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => values.push({ labels: { ...c.labels, le }, value: (acc += c.buckets[i]!), metricName: bucket }));
      values.push({ labels: { ...c.labels, le: "+Inf" }, value: c.count, metricName: bucket });
      values.push({ labels: c.labels, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: c.labels, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  private counts(counter: { name: string; help: string }): Exported {
    return { ...counter, type: "counter", aggregator: "sum", values: [...this.children.values()].map((c) => ({ labels: c.labels, value: c.count })) };
  }

  reset() {
    this.children.clear();
  }
}

/**
 * A counter labelled by event and one more label, on the hot path (each enter's and each issue's
 * outcome): an increment is two Map lookups. prom-client's `inc` validated and hashed the labels on
 * every call, after a JSON key of its own here (~2 µs in a sold-out rush, bench/results/2026-12-07-door.md).
 * An event's series leave (at scrape time) once it has been idle for the retention time; ids that
 * name no event are never counted (callers pass only outcomes that prove the event exists).
 */
class EventCounter {
  readonly type = "counter";
  readonly aggregator = "sum";
  private readonly events = new Map<number, { at: number; counts: Map<string, number> }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly retentionMs: number,
    registers: Registry[],
  ) {
    for (const r of registers) r.registerMetric(this as never);
  }

  inc(eventId: number, value: string, n = 1) {
    let ev = this.events.get(eventId);
    if (!ev) this.events.set(eventId, (ev = { at: 0, counts: new Map() }));
    ev.at = Date.now();
    ev.counts.set(value, (ev.counts.get(value) ?? 0) + n);
  }

  knows(eventId: number) {
    return this.events.has(eventId);
  }

  get(): Exported {
    const now = Date.now();
    const values: Exported["values"] = [];
    for (const [id, ev] of this.events) {
      if (now - ev.at > this.retentionMs) this.events.delete(id);
      else for (const [v, n] of ev.counts) values.push({ labels: { event_id: String(id), [this.label]: v }, value: n });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset() {
    this.events.clear();
  }
}

/**
 * A histogram labelled by event: the children of an event are removed (at scrape time) once it has
 * been idle for the retention time, so past events leave the series.
 */
class PerEvent<M extends Histogram<string>> {
  private readonly seen = new Map<number, { at: number; labels: Map<string, Record<string, string>> }>();
  readonly metric: M;

  constructor(make: (collect: () => void) => M, retentionMs: number) {
    this.metric = make(() => {
      const now = Date.now();
      for (const [id, ev] of this.seen) {
        if (now - ev.at <= retentionMs) continue;
        for (const l of ev.labels.values()) this.metric.remove(l);
        this.seen.delete(id);
      }
    });
  }

  labels(eventId: number, labels: Record<string, string> = {}): Record<string, string> {
    const key = JSON.stringify(labels);
    let ev = this.seen.get(eventId);
    if (!ev) this.seen.set(eventId, (ev = { at: 0, labels: new Map() }));
    ev.at = Date.now();
    let l = ev.labels.get(key);
    if (!l) ev.labels.set(key, (l = { event_id: String(eventId), ...labels }));
    return l;
  }

  knows(eventId: number) {
    return this.seen.has(eventId);
  }
}

export type MetricsOptions = { roles: ReadonlySet<Role>; mysql: boolean; retentionMs?: number };

/**
 * One registry per process, holding only what its roles do. Labels stay small: route is the pattern
 * (never the raw path), events are labelled by id only, reasons and outcomes are fixed sets.
 * Modules feed it through the methods returned here; per-event state comes from the `sources`
 * each module sets for its role, read at scrape time through a `Snapshot`.
 */
export function createMetrics(opts: MetricsOptions) {
  const retentionMs = opts.retentionMs ?? EVENT_RETENTION_MS;
  const has = (r: Role) => opts.roles.has(r);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const all = [registry];
  const only = (cond: boolean) => (cond ? all : []);

  const sources = {
    coupon: null as null | Snapshot<CouponEventStats[]>,
    queue: null as null | Snapshot<QueueEventStats[]>,
    router: null as null | Snapshot<RouterEventStats[]>,
    /** Events whose last reconciliation in this process failed, with why (the events service's map). */
    reconcileFailures: null as null | (() => ReadonlyMap<number, string>),
    /** Whether this process exports the role's shared-state gauges (see ExportLease). */
    exporting: { coupon: () => true, queue: () => true, router: () => true } as Record<"coupon" | "queue" | "router", () => boolean>,
  };

  // ---- every process
  const httpDuration = new LightHistogram("coupon_http_request_duration_seconds", "HTTP request latency in seconds, from the request's arrival to the response, by method, route pattern and status", ["method", "route", "status"], LATENCY, all, {
    name: "coupon_http_requests_total",
    help: "HTTP requests answered, by method, route pattern and status code",
  });
  const redisScript = new LightHistogram("coupon_redis_script_duration_seconds", "Latency in seconds of the Lua scripts this process runs on Redis, by script", ["script"], LATENCY, all);
  const redisUp = new Gauge({ name: "coupon_redis_up", help: "1 when this process's last Redis ping (every 5 s) succeeded, else 0", registers: all });
  const mysqlQuery = new LightHistogram("coupon_mysql_query_duration_seconds", "Latency in seconds of this process's MySQL statements, by statement verb", ["statement"], LATENCY, only(opts.mysql));
  const mysqlUp = new Gauge({ name: "coupon_mysql_up", help: "1 when this process's last MySQL ping (every 5 s) succeeded, else 0", registers: only(opts.mysql) });

  // ---- issuer
  const issuerPersisted = new Counter({ name: "coupon_issuer_persisted_total", help: "Issuances this issuer committed to MySQL (rows)", registers: only(has("issuer")) });
  const issuerBatch = new Histogram({ name: "coupon_issuer_batch_rows", help: "Rows per batch this issuer committed to MySQL", buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000], registers: only(has("issuer")) });
  const issuerDead = new Counter({ name: "coupon_issuer_dead_lettered_total", help: "Stream entries this issuer moved to a dead-letter stream, by reason (over_stock, duplicate_user, entry_fault)", labelNames: ["reason"], registers: only(has("issuer")) });
  for (const reason of DEAD_REASONS) issuerDead.inc({ reason }, 0);
  // webhooks are sent after persistence: the issuer role's work
  const webhookDeliveries = new Counter({ name: "coupon_webhook_deliveries_total", help: "Webhook deliveries attempted by this process, by outcome (delivered, failed)", labelNames: ["outcome"], registers: only(has("issuer")) });
  for (const outcome of ["delivered", "failed"]) webhookDeliveries.inc({ outcome }, 0);
  const webhookPending = new Gauge({ name: "coupon_webhook_outbox_pending", help: "Webhook deliveries waiting in the outbox (not yet delivered)", registers: only(has("issuer")) });
  webhookPending.set(0);
  const webhookOldest = new Gauge({ name: "coupon_webhook_outbox_oldest_seconds", help: "Age of the oldest webhook delivery not yet delivered (0 when none is owed)", registers: only(has("issuer")) });
  webhookOldest.set(0);

  // ---- coupon: counters of this process, gauges from the cached snapshot
  const couponGauges = has("coupon");
  const issueOutcomes = new EventCounter("coupon_issue_outcomes_total", "Issue attempts this process decided, by event and outcome (issued, sold_out, already_issued, not_admitted, not_open, …)", "outcome", retentionMs, only(couponGauges));
  const admissions = new EventCounter("coupon_event_admissions_total", "Users this process moved into a running slot, by event and source: direct (at enter, nobody waiting), scheduler (tick from the line), refill (a slot freed by an issue, refilled from the line); on_turn: users of an on_turn line issued their coupon on their turn (no slot)", "source", retentionMs, only(has("queue") || has("coupon")));
  const waitTime = new PerEvent((collect) => new Histogram({ name: "coupon_queue_wait_seconds", help: "Seconds a user waited in the line, from joining it to admission", labelNames: ["event_id"], buckets: WAIT, registers: only(has("router")), collect }), retentionMs);
  const doorOutcomes = new EventCounter("coupon_door_outcomes_total", "Enter requests this router answered, by event and outcome (admitted, issued (on_turn), waiting, sold_out, not_open, already_issued, rate_limited, …)", "outcome", retentionMs, only(has("router")));

  /** A gauge set from a snapshot at each scrape, by the lease holder of its role only (others export no sample at all). */
  function snapshotGauge<T>(role: "coupon" | "queue" | "router", name: string, help: string, labelNames: string[], fill: (g: Gauge<string>, rows: T[]) => void) {
    let filled = false;
    const gauge = new Gauge({
      name,
      help,
      labelNames,
      registers: only(has(role)),
      async collect() {
        this.reset();
        const snap = sources[role] as Snapshot<T[]> | null;
        const rows = snap && sources.exporting[role]!() ? await snap.get() : null;
        filled = rows !== null;
        if (rows) fill(this, rows);
      },
    });
    // prom-client writes 0 for an unlabelled gauge that has no value: a process that does not export it says nothing instead
    const get = gauge.get.bind(gauge);
    gauge.get = async () => {
      const out = await get();
      return filled ? out : { ...out, values: [] };
    };
  }
  const byEvent = <T extends { eventId: number }>(pick: (r: T) => number | undefined) => (g: Gauge<string>, rows: T[]) => {
    for (const r of rows) {
      const v = pick(r);
      if (v !== undefined) g.set({ event_id: String(r.eventId) }, v);
    }
  };
  const coupon = (name: string, help: string, pick: (r: CouponEventStats) => number | undefined) => snapshotGauge<CouponEventStats>("coupon", name, help, ["event_id"], byEvent(pick));
  coupon("coupon_event_stock", "Coupons the event has in all", (r) => r.stock);
  coupon("coupon_event_remaining", "Coupons not yet issued", (r) => r.remaining);
  coupon("coupon_event_issued", "Coupons issued (accepted by Redis, each a 201)", (r) => r.issued);
  coupon("coupon_event_persisted", "Issued coupons whose row is in MySQL", (r) => r.persisted);
  coupon("coupon_event_pending", "Issued coupons not yet persisted (in the stream)", (r) => r.pending);
  coupon("coupon_event_persist_lag_seconds", "Age in seconds of the event's oldest issuance not yet persisted; 0 when none is pending", (r) => (r.oldestPendingAt === null ? 0 : Math.max(0, (Date.now() - r.oldestPendingAt) / 1000)));
  coupon("coupon_event_traffic_threshold_per_minute", "Setting trafficRpm: at this many requests per minute new users go to the waiting room", (r) => r.trafficRpm);
  coupon("coupon_event_running_capacity", "Setting runningCapacity: most users holding a running slot at once", (r) => r.runningCapacity);
  coupon("coupon_event_admit_limit_per_second", "Setting admitPerSecond: most users admitted from the line per second", (r) => r.admitPerSecond);
  coupon("coupon_event_max_waiting", "Setting maxWaiting: most users in the line (0 = unlimited)", (r) => r.maxWaiting);
  snapshotGauge<CouponEventStats>("coupon", "coupon_event_dead_letters", "Issuances in the event's dead-letter stream (not replayed), by reason (over_stock, duplicate_user, entry_fault)", ["event_id", "reason"], (g, rows) => {
    for (const r of rows) for (const reason of DEAD_REASONS) g.set({ event_id: String(r.eventId), reason }, r.dead[reason]);
  });
  snapshotGauge<CouponEventStats>("coupon", "coupon_event_status", "1 for the event's current status, 0 for the others", ["event_id", "status"], (g, rows) => {
    for (const r of rows) for (const s of EVENT_STATUSES) g.set({ event_id: String(r.eventId), status: s }, r.status === s ? 1 : 0);
  });
  // not per event: what an alert on persistence watches; 0 when nothing is pending
  snapshotGauge<CouponEventStats>("coupon", "coupon_issuer_lag_seconds", "Age in seconds of the oldest issuance (any event) accepted but not yet persisted to MySQL; 0 when nothing is pending", [], (g, rows) => {
    const oldest = Math.min(...rows.map((r) => r.oldestPendingAt ?? Infinity));
    g.set(oldest === Infinity ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
  });

  coupon("coupon_event_unaccounted_units", "Units gone (stock - remaining) that no issued user in Redis holds; after a reconciliation, no user anywhere (Redis, MySQL, streams): the event sells nothing while it is above 0, until an operator releases them (POST /admin/events/:id/release-unaccounted) or closes it", (r) => r.unaccounted);
  coupon("coupon_event_ghost_slots", "Running slots held by users admitted from the line who never came back (they stopped polling): each frees only when it lapses", (r) => r.ghostSlots);
  const STAGES = [["joined", "joined"], ["admitted", "admitted"], ["issued", "issued"], ["slots_lapsed", "slotsLapsed"], ["dropped_silent", "droppedSilent"], ["left", "left"]] as const;
  snapshotGauge<CouponEventStats>("coupon", "coupon_event_funnel_users", "The event's funnel, counted by the server: users who joined, were admitted, hold a coupon (issued), whose slot lapsed unused (slots_lapsed), were dropped for not polling (dropped_silent), or left; by stage", ["event_id", "stage"], (g, rows) => {
    for (const r of rows) for (const [stage, field] of STAGES) g.set({ event_id: String(r.eventId), stage }, r.funnel[field]);
  });
  snapshotGauge<CouponEventStats>("coupon", "coupon_event_turned_away", "Enter requests the event turned away, by reason (sold_out, line_full, not_open, rate_limited, bot_check_failed), all routers together", ["event_id", "reason"], (g, rows) => {
    for (const r of rows) for (const reason of TURNED_AWAY) g.set({ event_id: String(r.eventId), reason }, r.funnel.turnedAway[reason]);
  });
  // per process (each knows its own reconciliations): 1 per event whose last reconciliation here failed
  new Gauge({
    name: "coupon_event_reconcile_failed",
    help: "1 for each event whose last reconciliation of its Redis state with MySQL failed in this process (it sells nothing until one succeeds; the stats' reconcileError says why)",
    labelNames: ["event_id"],
    registers: only(couponGauges),
    collect() {
      this.reset();
      for (const id of sources.reconcileFailures?.().keys() ?? []) this.set({ event_id: String(id) }, 1);
    },
  });
  const adminActions = new Counter({ name: "coupon_admin_actions_total", help: "Admin writes this process recorded in the audit trail, by action (create, patch, pause, resume, close, cancel, grant, …): operator actions for dashboard annotations", labelNames: ["action"], registers: all });

  const queue = (name: string, help: string, pick: (r: QueueEventStats) => number) => snapshotGauge<QueueEventStats>("queue", name, help, ["event_id"], byEvent(pick));
  queue("coupon_event_waiting", "Users in the waiting line", (r) => r.waiting);
  queue("coupon_event_running", "Users holding a live running slot", (r) => r.running);
  queue("coupon_event_admit_rate_per_second", "Measured admissions from the line per second over the last 30 s, 0 when nobody was admitted in the last 10 s (what waiters' ETAs use)", (r) => r.admitRate);
  snapshotGauge<RouterEventStats>("router", "coupon_event_request_rate_per_minute", "Enter requests per minute over the last 60 s, all routers together, as compared with trafficRpm", ["event_id"], byEvent((r) => r.requestRate));

  return {
    registry,
    sources,
    /** Redis and MySQL reachability from the periodic pings. */
    redisUp: (up: boolean) => redisUp.set(up ? 1 : 0),
    mysqlUp: (up: boolean) => mysqlUp.set(up ? 1 : 0),
    observeHttp(method: string, route: string, status: string, seconds: number) {
      httpDuration.child(method, route, status).observe(seconds);
    },
    redisScript: (script: string, seconds: number) => redisScript.child(script).observe(seconds),
    mysqlQuery: (statement: string, seconds: number) => mysqlQuery.child(statement).observe(seconds),
    issuerBatch(rows: number) {
      issuerPersisted.inc(rows);
      issuerBatch.observe(rows);
    },
    issuerDeadLettered: (reason: string) => issuerDead.inc({ reason: deadReason(reason) }),
    /** One issue attempt's outcome; `event_not_found` names no event and is not counted per event. */
    issueOutcome(eventId: number, outcome: string) {
      if (outcome !== "event_not_found") issueOutcomes.inc(eventId, outcome);
    },
    /** One enter request's outcome at the router. */
    doorOutcome(eventId: number, outcome: string) {
      if (outcome !== "event_not_found" && outcome !== "not_found") doorOutcomes.inc(eventId, outcome);
    },
    /**
     * An enter that failed before the event was looked at (rate limited, upstream down): the id is
     * unchecked, so it is counted only for events this router has already answered for.
     */
    doorRefused(eventId: number, outcome: string) {
      if (doorOutcomes.knows(eventId)) doorOutcomes.inc(eventId, outcome);
    },
    admitted(eventId: number, n: number, source: "direct" | "scheduler" | "refill" | "on_turn") {
      if (n > 0) admissions.inc(eventId, source, n);
    },
    /** Time from joining the line to admission (fed once waiters carry their join time). */
    observeWait: (eventId: number, seconds: number) => waitTime.metric.observe(waitTime.labels(eventId), seconds),
    webhookDelivered: (n = 1) => webhookDeliveries.inc({ outcome: "delivered" }, n),
    webhookFailed: (n = 1) => webhookDeliveries.inc({ outcome: "failed" }, n),
    /** An admin write recorded in the audit trail. */
    adminAction: (action: string) => adminActions.inc({ action }),
    webhookOutboxPending: (n: number, oldestSeconds = 0) => {
      webhookPending.set(n);
      webhookOldest.set(oldestSeconds);
    },
    /** Events this process counts activity for (the router uses it to filter its request rates). */
    routerKnows: (eventId: number) => doorOutcomes.knows(eventId),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
