import { and, desc, eq, gt, isNull, lt, lte, max, or, type SQL } from "drizzle-orm";
import type { Mysql } from "../../src/db";
import { couponEvents, couponIssues } from "../../src/db/schema";
import { ApiError } from "../../src/http";
import { eventKeys, globalKeys, runScript, type RedisClient } from "../../src/redis";
import { entryFields, pendingCount } from "../issuer/service";
import { deliveryCounts } from "../webhooks/service";
import { eventStatus, parseDate, publicEvent, refusal, type EventMeta, type EventStatus } from "./model";

export type CreateEventInput = {
  name: string;
  stock: number;
  trafficRpm: number;
  runningCapacity: number;
  admitPerSecond?: number;
  startsAt?: string;
  endsAt?: string | null;
  queueOpensAt?: string | null;
  maxWaiting?: number;
  couponValidUntil?: string | null;
  webhookUrl?: string | null;
};
export type PatchEventInput = Partial<{
  trafficRpm: number;
  runningCapacity: number;
  admitPerSecond: number;
  maxWaiting: number;
  endsAt: string | null;
  couponValidUntil: string | null;
  webhookUrl: string | null;
}>;

type EventRow = typeof couponEvents.$inferSelect;

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number) => (ms ? iso(ms) : null);
const ms = (d: Date | null | undefined) => (d ? d.getTime() : 0);

function badInput(fn: () => void) {
  try {
    fn();
  } catch (e) {
    if (e instanceof RangeError) throw new ApiError(400, "bad_request", e.message);
    throw e;
  }
}

/** Ids of all events known to Redis (the scheduler and the issuer walk these). */
export async function eventIds(redis: RedisClient, prefix: string): Promise<number[]> {
  return (await redis.smembers(globalKeys(prefix).events)).map(Number).filter((n) => n > 0);
}

export const notFound = () => refusal("event_not_found");

/** The operator's switches (POST /admin/events/:id/pause|resume|close, DELETE /admin/events/:id). */
export type ControlAction = "pause" | "resume" | "close" | "cancel";

/**
 * Why nobody is being admitted from a non-empty line, when the reason is one of the event's own
 * settings: paused, not started, every running slot held, or this second's admission budget spent.
 */
export type Stall = "paused" | "scheduled" | "capacity_full" | "admit_per_second" | null;

export function stallReason(s: { status: EventStatus; waiting: number; running: number; runningCapacity: number; admittedThisSecond: number; admittedLastSecond: number; admitPerSecond: number }): Stall {
  if (s.waiting === 0) return null;
  if (s.status === "paused") return "paused";
  if (s.status === "scheduled") return "scheduled";
  if (s.status !== "open") return null;
  if (s.running >= s.runningCapacity) return "capacity_full";
  if (Math.max(s.admittedThisSecond, s.admittedLastSecond) >= s.admitPerSecond) return "admit_per_second";
  return null;
}

/** How often the highest event id is re-read from MySQL at most, and how long an unknown id below it stays unknown. */
const MAX_ID_REFRESH_MS = 1000;
const UNKNOWN_ID_TTL_MS = 5000;
const UNKNOWN_IDS_KEPT = 10_000;

/**
 * Which event ids may exist, from memory, so an unknown id (anyone may ask for one, without a token)
 * never costs a MySQL query per request: ids above the highest known one are unknown (that bound is
 * re-read at most once a second, and raised by create), and an id below it that MySQL did not have is
 * remembered as unknown for a few seconds.
 */
class KnownIds {
  private maxId = 0;
  private readAt = -Infinity;
  private reading: Promise<void> | null = null;
  private readonly unknown = new Map<number, number>();

  constructor(private readonly readMax: () => Promise<number>) {}

  async mayExist(id: number): Promise<boolean> {
    if (id > this.maxId && performance.now() - this.readAt >= MAX_ID_REFRESH_MS) await this.refresh();
    if (id > this.maxId) return false;
    const until = this.unknown.get(id);
    if (until === undefined) return true;
    if (until > performance.now()) return false;
    this.unknown.delete(id);
    return true;
  }

  private refresh(): Promise<void> {
    // one query shared by everyone asking meanwhile; a failing MySQL is asked no more often
    this.readAt = performance.now();
    return (this.reading ??= this.readMax()
      .then((n) => this.raise(n))
      .finally(() => (this.reading = null)));
  }

  raise(id: number) {
    if (id > this.maxId) this.maxId = id;
    this.unknown.delete(id);
  }

  markUnknown(id: number) {
    if (this.unknown.size >= UNKNOWN_IDS_KEPT) this.unknown.delete(this.unknown.keys().next().value!);
    this.unknown.set(id, performance.now() + UNKNOWN_ID_TTL_MS);
  }
}

/**
 * Events live in MySQL (the record) and in one Redis hash per event (what the hot path reads).
 * Redis can always be rebuilt from MySQL plus what is still in the event's streams.
 */
export class EventService {
  private readonly patchScript;
  private readonly reconcileScript;
  private readonly rateScript;
  private readonly reconciling = new Map<number, Promise<EventMeta | null>>();
  /** Events whose last reconciliation failed, with why (shown in their stats and in /health/ready). */
  readonly reconcileFailures = new Map<number, string>();
  /** Called after this process changed an event's Redis state (its router's view drops what it knew). */
  onChange: ((id: number) => void) | null = null;
  private readonly known: KnownIds;

  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly prefix: string,
    private readonly opts: { webhooks: boolean; fenceMs: number },
  ) {
    this.patchScript = runScript(redis, "patchMeta");
    this.reconcileScript = runScript(redis, "reconcileEvent");
    this.rateScript = runScript(redis, "rate");
    this.known = new KnownIds(async () => {
      const [r] = await this.mysql.db.select({ n: max(couponEvents.id) }).from(couponEvents);
      return Number(r?.n ?? 0);
    });
  }

  keys(id: number) {
    return eventKeys(this.prefix, id);
  }

  async create(input: CreateEventInput) {
    let startsAt = new Date();
    let endsAt: Date | null = null;
    let queueOpensAt: Date | null = null;
    let couponValidUntil: Date | null = null;
    badInput(() => {
      startsAt = parseDate(input.startsAt, "startsAt") ?? startsAt;
      endsAt = parseDate(input.endsAt, "endsAt") ?? null;
      queueOpensAt = parseDate(input.queueOpensAt, "queueOpensAt") ?? null;
      couponValidUntil = parseDate(input.couponValidUntil, "couponValidUntil") ?? null;
      if (endsAt && endsAt <= startsAt) throw new RangeError("endsAt must be after startsAt");
      if (queueOpensAt && queueOpensAt > startsAt) throw new RangeError("queueOpensAt must not be after startsAt");
      if (couponValidUntil && couponValidUntil <= startsAt) throw new RangeError("couponValidUntil must be after startsAt");
      this.checkWebhook(input.webhookUrl);
    });
    const row = {
      name: input.name,
      stock: input.stock,
      persisted: 0,
      trafficRpm: input.trafficRpm,
      runningCapacity: input.runningCapacity,
      admitPerSecond: input.admitPerSecond ?? input.runningCapacity,
      maxWaiting: input.maxWaiting ?? 0,
      queueOpensAt,
      startsAt,
      endsAt,
      couponValidUntil,
      webhookUrl: input.webhookUrl ?? null,
      paused: false,
      closed: false,
      cancelled: false,
      redisEpoch: 0,
      createdAt: new Date(),
    };
    const [res] = await this.mysql.db.insert(couponEvents).values(row).$returningId();
    this.known.raise(res!.id);
    const meta = metaFromRow({ ...row, id: res!.id, drawSeed: null, drawnAt: null } as EventRow, row.stock);
    await this.redis.hset(this.keys(meta.id).meta, ...metaFields(meta));
    await this.redis.sadd(globalKeys(this.prefix).events, String(meta.id));
    this.onChange?.(meta.id);
    return this.adminView(meta);
  }

  private checkWebhook(url: string | null | undefined) {
    if (url === undefined || url === null) return;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new RangeError("webhookUrl must be an absolute http(s) URL");
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new RangeError("webhookUrl must be an absolute http(s) URL");
    if (u.username || u.password) throw new RangeError("webhookUrl must not carry credentials (deliveries are signed with WEBHOOK_SECRET)");
    if (!this.opts.webhooks) throw new RangeError("webhookUrl needs WEBHOOK_SECRET to be set on the server (deliveries are signed with it)");
  }

  /**
   * The event's Redis state, rebuilt first if it is missing (a new, wiped or partly written Redis).
   * Whether an id names an event at all is answered from Redis and memory: MySQL is asked only to
   * rebuild an event that may exist.
   */
  async ensureLoaded(id: number): Promise<EventMeta | null> {
    const meta = await this.readMeta(id);
    if (meta) return meta;
    if (!(await this.known.mayExist(id))) return null;
    const rebuilt = await this.reconcile(id);
    if (!rebuilt) this.known.markUnknown(id);
    return rebuilt;
  }

  /** reconcileFresh, shared by concurrent requests for the same event (a missing one, say); null: no such event. */
  reconcile(id: number): Promise<EventMeta | null> {
    let run = this.reconciling.get(id);
    if (!run) {
      run = this.reconcileFresh(id, false).finally(() => this.reconciling.delete(id));
      this.reconciling.set(id, run);
    }
    return run;
  }

  /**
   * Reconciles the event's Redis state with MySQL and its streams, so that a Redis that lost writes
   * can never sell what is gone: every user MySQL or a stream knows of goes back into the issued
   * hash, remaining is lowered to stock − everyone promised (never raised), and the settings are
   * rewritten from MySQL, the record. All of it happens while the event's MySQL row is locked and
   * its epoch bumped, so an issuer batch commits either before (its rows are read here) or after
   * (it sees the new epoch and checks its entries against the rebuilt state first). When anything
   * had been lost, or `lossSuspected`, sales wait `fenceMs` and then for such batches. Idempotent;
   * safe from many processes at once. A run of its own, never joined to one already running (see
   * Reconciler). Returns the event's meta as rebuilt, or null when MySQL has no such event.
   */
  async reconcileFresh(id: number, lossSuspected: boolean): Promise<EventMeta | null> {
    const r = await this.reconcileNow(id, lossSuspected);
    this.reconcileFailures.delete(id);
    return r;
  }

  recordFailure(id: number, e: unknown) {
    const why = String((e as Error)?.message ?? e).slice(0, 200);
    if (this.reconcileFailures.get(id) !== why) console.error(`reconcile of event ${id} failed: ${why}`);
    this.reconcileFailures.set(id, why);
  }

  /** An event that can no longer sell: only its end (closed, cancelled, endsAt) is put back, if Redis has it at all. */
  async closeInRedis(ev: { id: number; closed: boolean; cancelled: boolean; endsAt: Date | null }) {
    await this.patchScript(this.keys(ev.id).meta, "closed", ev.closed ? "1" : "0", "cancelled", ev.cancelled ? "1" : "0", "endsAt", String(ms(ev.endsAt)));
    this.onChange?.(ev.id);
  }

  private async reconcileNow(id: number, lossSuspected: boolean): Promise<EventMeta | null> {
    const k = this.keys(id);
    return this.mysql.db.transaction(async (tx) => {
      const [ev] = await tx.select().from(couponEvents).where(eq(couponEvents.id, id)).for("update");
      if (!ev) return null;
      const epoch = ev.redisEpoch + 1;
      await tx.update(couponEvents).set({ redisEpoch: epoch }).where(eq(couponEvents.id, id));
      let added = 0;
      // the streams first, MySQL last: for a user both know, the record's code wins
      for (const stream of [k.stream, k.dead]) {
        for (let start = "-"; ; ) {
          const entries = (await this.redis.xrange(stream, start, "+", "COUNT", 10_000)) as [string, string[]][];
          const pairs: string[] = [];
          for (const [, fields] of entries) {
            const f = entryFields(fields);
            if (f.u) pairs.push(f.u, f.c ?? "");
          }
          if (pairs.length) added += Number(await this.redis.hset(k.issued, ...pairs));
          if (entries.length < 10_000) break;
          start = `(${entries[entries.length - 1]![0]}`;
        }
      }
      for (let after = ""; ; ) {
        const rows = await tx
          .select({ u: couponIssues.userId, c: couponIssues.code })
          .from(couponIssues)
          .where(and(eq(couponIssues.eventId, id), gt(couponIssues.userId, after)))
          .orderBy(couponIssues.userId)
          .limit(20_000);
        if (rows.length) added += Number(await this.redis.hset(k.issued, ...rows.flatMap((r) => [r.u, r.c])));
        if (rows.length < 20_000) break;
        after = rows[rows.length - 1]!.u;
      }
      const meta = metaFromRow({ ...ev, redisEpoch: epoch }, 0);
      const fields = metaFields(meta).filter((_, i, all) => all[i - (i % 2)] !== "remaining");
      await this.reconcileScript(k.meta, k.issued, Date.now(), this.opts.fenceMs, lossSuspected || added > 0 ? 1 : 0, ...fields);
      await this.redis.sadd(globalKeys(this.prefix).events, String(id));
      this.onChange?.(id);
      await this.settingsChanged();
      const rebuilt = await this.readMeta(id);
      if (!rebuilt) throw new Error(`event ${id}: meta missing right after reconciliation`);
      return rebuilt;
    });
  }

  async readMeta(id: number): Promise<EventMeta | null> {
    const h = await this.redis.hgetall(this.keys(id).meta);
    // a hash without stock or remaining is not an event (a write raced a wipe): reconcile rebuilds it
    if (!h.stock || h.remaining === undefined) return null;
    return {
      id,
      name: h.name ?? "",
      stock: Number(h.stock),
      remaining: Number(h.remaining),
      trafficRpm: Number(h.trafficRpm),
      runningCapacity: Number(h.runningCapacity),
      admitPerSecond: Number(h.admitPerSecond),
      maxWaiting: Number(h.maxWaiting || 0),
      queueOpensAt: Number(h.queueOpensAt || 0),
      startsAt: Number(h.startsAt),
      endsAt: Number(h.endsAt || 0),
      couponValidUntil: Number(h.couponValidUntil || 0),
      webhookUrl: h.webhookUrl ?? "",
      paused: h.paused === "1",
      closed: h.closed === "1",
      cancelled: h.cancelled === "1",
      epoch: Number(h.epoch || 0),
      admitRate: Number(h.admitRate || 0),
    };
  }

  async patch(id: number, input: PatchEventInput) {
    const meta = await this.ensureLoaded(id);
    if (!meta) throw notFound();
    let endsAt: Date | null | undefined;
    let couponValidUntil: Date | null | undefined;
    badInput(() => {
      endsAt = parseDate(input.endsAt, "endsAt");
      couponValidUntil = parseDate(input.couponValidUntil, "couponValidUntil");
      if (endsAt && endsAt.getTime() <= meta.startsAt) throw new RangeError("endsAt must be after startsAt");
      if (couponValidUntil && couponValidUntil.getTime() <= meta.startsAt) throw new RangeError("couponValidUntil must be after startsAt");
      this.checkWebhook(input.webhookUrl);
    });
    const set: Partial<typeof couponEvents.$inferInsert> = {};
    const redis: string[] = [];
    const put = <K extends keyof EventMeta>(field: K, value: EventMeta[K], column: Partial<typeof couponEvents.$inferInsert>) => {
      meta[field] = value;
      Object.assign(set, column);
      redis.push(field, String(value));
    };
    if (input.trafficRpm !== undefined) put("trafficRpm", input.trafficRpm, { trafficRpm: input.trafficRpm });
    if (input.runningCapacity !== undefined) put("runningCapacity", input.runningCapacity, { runningCapacity: input.runningCapacity });
    if (input.admitPerSecond !== undefined) put("admitPerSecond", input.admitPerSecond, { admitPerSecond: input.admitPerSecond });
    if (input.maxWaiting !== undefined) put("maxWaiting", input.maxWaiting, { maxWaiting: input.maxWaiting });
    if (endsAt !== undefined) put("endsAt", ms(endsAt), { endsAt });
    if (couponValidUntil !== undefined) put("couponValidUntil", ms(couponValidUntil), { couponValidUntil });
    if (input.webhookUrl !== undefined) put("webhookUrl", input.webhookUrl ?? "", { webhookUrl: input.webhookUrl });
    await this.mysql.db.update(couponEvents).set(set).where(eq(couponEvents.id, id));
    // only onto a whole meta hash: a wiped one is rebuilt from MySQL (which has the change) by reconcile
    await this.patchScript(this.keys(id).meta, ...redis);
    this.onChange?.(id);
    await this.settingsChanged();
    return this.adminView(meta);
  }

  /** After any write of an event's settings to Redis: every scheduler looks at rested events again. */
  private async settingsChanged() {
    await this.redis.incr(globalKeys(this.prefix).settingsRev);
  }

  /**
   * Pause, resume, close or cancel. The event's MySQL row (the record) is locked, the action checked
   * against its status, the flags stored, and written to the Redis meta while the lock is still held,
   * so two operators' switches reach Redis in the order MySQL took them.
   * - pause / resume: any event that has not ended (closed or cancelled → 409 event_ended);
   * - close: ends the event now, whatever its status, unless it was cancelled (409 event_ended);
   * - cancel: only a scheduled event (the contract: anything else, a cancelled one included → 409 not_scheduled).
   */
  async control(id: number, action: ControlAction) {
    const loaded = await this.ensureLoaded(id);
    if (!loaded) throw notFound();
    const meta = await this.mysql.db.transaction(async (tx) => {
      const [row] = await tx.select().from(couponEvents).where(eq(couponEvents.id, id)).for("update");
      if (!row) throw notFound();
      const m = metaFromRow(row, loaded.remaining);
      const status = eventStatus(m);
      const ended = status === "closed" || status === "cancelled";
      if ((action === "pause" || action === "resume") && ended) throw new ApiError(409, "event_ended", `the event is ${status}: there is nothing to ${action}`);
      if (action === "close" && status === "cancelled") throw new ApiError(409, "event_ended", "the event was cancelled");
      if (action === "cancel" && status !== "scheduled")
        throw new ApiError(409, "not_scheduled", `only a scheduled event can be cancelled; this one is ${status.replace("_", " ")}${status === "closed" ? "" : " (close it instead)"}`);
      if (action === "pause") m.paused = true;
      if (action === "resume") m.paused = false;
      if (action === "close") m.closed = true;
      if (action === "cancel") m.cancelled = true;
      await tx.update(couponEvents).set({ paused: m.paused, closed: m.closed, cancelled: m.cancelled }).where(eq(couponEvents.id, id));
      await this.patchScript(this.keys(id).meta, "paused", m.paused ? "1" : "0", "closed", m.closed ? "1" : "0", "cancelled", m.cancelled ? "1" : "0");
      return m;
    });
    this.onChange?.(id);
    await this.settingsChanged();
    return this.adminView(meta);
  }

  /**
   * Events newest first, `limit` at a time after the cursor (an event id), optionally only those of
   * one status. The status is derived as everywhere else (eventStatus): MySQL narrows the candidates
   * by flags and times, and Redis's remaining stock tells sold out from open or paused.
   */
  async list(opts: { status?: EventStatus; limit: number; after?: number }) {
    const now = new Date();
    const live = and(eq(couponEvents.cancelled, false), eq(couponEvents.closed, false), or(isNull(couponEvents.endsAt), gt(couponEvents.endsAt, now)));
    const where: (SQL | undefined)[] = [];
    if (opts.after !== undefined) where.push(lt(couponEvents.id, opts.after));
    switch (opts.status) {
      case "cancelled":
        where.push(eq(couponEvents.cancelled, true));
        break;
      case "closed":
        where.push(eq(couponEvents.cancelled, false), or(eq(couponEvents.closed, true), lte(couponEvents.endsAt, now)));
        break;
      case "scheduled":
        where.push(live, gt(couponEvents.startsAt, now));
        break;
      case "open":
        where.push(live, lte(couponEvents.startsAt, now), eq(couponEvents.paused, false));
        break;
      case "paused":
        where.push(live, lte(couponEvents.startsAt, now), eq(couponEvents.paused, true));
        break;
      case "sold_out":
        where.push(live, lte(couponEvents.startsAt, now));
        break;
    }
    const found: (ReturnType<EventService["adminView"]> & { remaining: number })[] = [];
    const BATCH = Math.max(opts.limit + 1, 50);
    // one more than asked for, to know whether there is a next page
    for (let before = opts.after; found.length <= opts.limit; ) {
      const rows = await this.mysql.db
        .select()
        .from(couponEvents)
        .where(and(...where, before === undefined ? undefined : lt(couponEvents.id, before)))
        .orderBy(desc(couponEvents.id))
        .limit(BATCH);
      if (!rows.length) break;
      const remaining = await Promise.all(rows.map((r) => this.redis.hget(this.keys(r.id).meta, "remaining")));
      rows.forEach((row, i) => {
        // an event Redis does not hold (ended long ago, or a wiped Redis): MySQL's rows are what was sold
        const m = metaFromRow(row, remaining[i] == null ? row.stock - row.persisted : Number(remaining[i]));
        const view = this.adminView(m, now.getTime());
        if (!opts.status || view.status === opts.status) found.push({ ...view, remaining: Math.max(0, m.remaining) });
      });
      if (rows.length < BATCH) break;
      before = rows[rows.length - 1]!.id;
    }
    const events = found.slice(0, opts.limit);
    return { events, next: found.length > opts.limit ? String(events[events.length - 1]!.id) : null };
  }

  async publicView(id: number) {
    const meta = await this.ensureLoaded(id);
    if (!meta) throw notFound();
    return publicEvent(meta);
  }

  adminView(meta: EventMeta, now = Date.now()) {
    return {
      id: meta.id,
      name: meta.name,
      stock: meta.stock,
      trafficRpm: meta.trafficRpm,
      runningCapacity: meta.runningCapacity,
      admitPerSecond: meta.admitPerSecond,
      startsAt: iso(meta.startsAt),
      endsAt: isoOrNull(meta.endsAt),
      queueOpensAt: isoOrNull(meta.queueOpensAt),
      maxWaiting: meta.maxWaiting,
      couponValidUntil: isoOrNull(meta.couponValidUntil),
      webhookUrl: meta.webhookUrl || null,
      status: eventStatus(meta, now),
    };
  }

  /** Rows in MySQL for the event: the counter kept in the same transaction as the rows (one primary-key read). */
  async persistedCount(id: number): Promise<number> {
    const [r] = await this.mysql.db.select({ n: couponEvents.persisted }).from(couponEvents).where(eq(couponEvents.id, id));
    return Number(r?.n ?? 0);
  }

  async stats(id: number) {
    const meta = await this.ensureLoaded(id);
    if (!meta) throw notFound();
    const k = this.keys(id);
    const now = Date.now();
    const sec = Math.floor(now / 1000);
    const [persisted, draw, hooks, [waiting, running, pending, dead, requestRate, admitsNow, admitsBefore]] = await Promise.all([
      this.persistedCount(id),
      this.draw(id),
      deliveryCounts(this.mysql, id),
      Promise.all([
        this.redis.zcard(k.waiting),
        this.redis.zcount(k.running, `(${now}`, "+inf"),
        pendingCount(this.redis, k.stream),
        this.redis.xlen(k.dead),
        // the routers' shared per-second buckets, read without adding to them
        this.rateScript(k.rate, now, 0).then(Number),
        this.redis.hget(k.admitLog, String(sec)).then(Number),
        this.redis.hget(k.admitLog, String(sec - 1)).then(Number),
      ]),
    ]);
    const view = this.adminView(meta, now);
    const live = { status: view.status, waiting, running, runningCapacity: meta.runningCapacity, admittedThisSecond: admitsNow, admittedLastSecond: admitsBefore, admitPerSecond: meta.admitPerSecond };
    return {
      ...view,
      remaining: Math.max(0, meta.remaining),
      issued: meta.stock - Math.max(0, meta.remaining),
      persisted,
      pending,
      dead,
      waiting,
      running,
      paused: meta.paused,
      requestRate,
      admitRate: meta.admitRate,
      admittedThisSecond: admitsNow,
      admittedLastSecond: admitsBefore,
      stall: stallReason(live),
      webhooksDelivered: hooks.delivered,
      webhooksPending: hooks.pending,
      webhookFailedAttempts: hooks.failedAttempts,
      reconcileError: this.reconcileFailures.get(id) ?? null,
      draw,
    };
  }

  /**
   * The pre-queue draw, once its seed is drawn (null before): seed and time from MySQL, the record
   * (README: auditing the draw); how many places and how long from Redis, null while the places are
   * being written (or when Redis lost them).
   */
  private async draw(id: number) {
    const [row] = await this.mysql.db.select({ seed: couponEvents.drawSeed, at: couponEvents.drawnAt }).from(couponEvents).where(eq(couponEvents.id, id));
    if (!row?.seed || !row.at) return null;
    const [size, ms] = await this.redis.hmget(this.keys(id).meta, "drawSize", "drawMs");
    return { seed: row.seed, drawnAt: row.at.toISOString(), size: size === null ? null : Number(size), durationMs: ms === null ? null : Number(ms) };
  }

  ids(): Promise<number[]> {
    return eventIds(this.redis, this.prefix);
  }

  /** Every event in MySQL with whether it can still sell (not cancelled, closed or past its end). */
  async allEvents(now = Date.now()): Promise<{ id: number; live: boolean; closed: boolean; cancelled: boolean; endsAt: Date | null }[]> {
    const rows = await this.mysql.db
      .select({ id: couponEvents.id, closed: couponEvents.closed, cancelled: couponEvents.cancelled, endsAt: couponEvents.endsAt })
      .from(couponEvents)
      .orderBy(couponEvents.id);
    for (const r of rows) this.known.raise(r.id);
    return rows.map((r) => ({ ...r, live: !r.closed && !r.cancelled && !(r.endsAt && r.endsAt.getTime() <= now) }));
  }
}

/** An event's meta from its MySQL row (`remaining` given: MySQL does not know what Redis promised). */
export function metaFromRow(ev: EventRow, remaining: number): EventMeta {
  return {
    id: ev.id,
    name: ev.name,
    stock: ev.stock,
    remaining,
    trafficRpm: ev.trafficRpm,
    runningCapacity: ev.runningCapacity,
    admitPerSecond: ev.admitPerSecond,
    maxWaiting: ev.maxWaiting,
    queueOpensAt: ms(ev.queueOpensAt),
    startsAt: ev.startsAt.getTime(),
    endsAt: ms(ev.endsAt),
    couponValidUntil: ms(ev.couponValidUntil),
    webhookUrl: ev.webhookUrl ?? "",
    paused: ev.paused,
    closed: ev.closed,
    cancelled: ev.cancelled,
    epoch: ev.redisEpoch,
    admitRate: 0,
  };
}

/** The whole meta hash as field, value pairs (admitRate belongs to the scheduler and is left out). */
function metaFields(m: EventMeta): string[] {
  return [
    "name", m.name,
    "stock", String(m.stock),
    "remaining", String(m.remaining),
    "trafficRpm", String(m.trafficRpm),
    "runningCapacity", String(m.runningCapacity),
    "admitPerSecond", String(m.admitPerSecond),
    "maxWaiting", String(m.maxWaiting),
    "queueOpensAt", String(m.queueOpensAt),
    "startsAt", String(m.startsAt),
    "endsAt", String(m.endsAt),
    "couponValidUntil", String(m.couponValidUntil),
    "webhookUrl", m.webhookUrl,
    "paused", m.paused ? "1" : "0",
    "closed", m.closed ? "1" : "0",
    "cancelled", m.cancelled ? "1" : "0",
    "epoch", String(m.epoch),
  ];
}
