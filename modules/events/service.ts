import { eq, max } from "drizzle-orm";
import type { Mysql } from "../../src/db";
import { couponEvents } from "../../src/db/schema";
import { ApiError } from "../../src/http";
import { eventKeys, globalKeys, runScript, type RedisClient } from "../../src/redis";
import { control, settleAbandoned } from "./controls";
import { patch } from "./edit";
import { botGate, checkBrand, type ControlAction, eventStatus, parseBrand, parseDate, publicEvent, refusal, type BrandValue, type Claim, type EventMeta } from "./model";
import { allEvents, closeInRedis, reconcile, reconcileFresh, recordFailure, releaseUnaccounted, repairLoss, unaccounted } from "./reconcile-event";
import { list, persistedCount, stats } from "./stats";
import { checkTarget, ForbiddenTarget } from "../webhooks/guard";

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
  claim?: Claim;
  slotSeconds?: number | null;
  graceSeconds?: number | null;
  message?: string;
  brand?: BrandInput | null;
  botGate?: { pow: number } | null;
};
export type BrandInput = { shopName: string; logoUrl?: string | null; accentColor?: string | null; returnUrl?: string | null };

export type EventRow = typeof couponEvents.$inferSelect;

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number) => (ms ? iso(ms) : null);
export const ms = (d: Date | null | undefined) => (d ? d.getTime() : 0);

/** Runs checks that throw RangeError; their message becomes a 400 bad_request. */
export function badInput(fn: () => void) {
  try {
    fn();
  } catch (e) {
    if (e instanceof RangeError) throw new ApiError(400, "bad_request", e.message);
    throw e;
  }
}

/** Ids of the live set: events that have not ended, or still have issuances to store (modules/issuer/retire.ts); the scheduler and the issuer walk these. */
export async function eventIds(redis: RedisClient, prefix: string): Promise<number[]> {
  return (await redis.smembers(globalKeys(prefix).events)).map(Number).filter((n) => n > 0);
}

/**
 * Puts an event back into the live set (ended, drained events leave it: modules/issuer/retire.ts),
 * after whatever made it sell or added to its stream again — never before, so a sweep between the
 * two sees the change and keeps it.
 */
export function liveAgain(redis: RedisClient, prefix: string, id: number): Promise<number> {
  return redis.sadd(globalKeys(prefix).events, String(id));
}

export const notFound = () => refusal("event_not_found");

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
  // the members below are shared with the module's other files (controls.ts, stats.ts, reconcile-event.ts)
  readonly patchScript;
  readonly editScript;
  readonly reconcileScript;
  readonly rateScript;
  readonly reconciling = new Map<number, Promise<EventMeta | null>>();
  readonly repairing = new Map<number, Promise<void>>();
  /** Events whose last reconciliation failed, with why (shown in their stats and in /health/ready). */
  readonly reconcileFailures = new Map<number, string>();
  /** Called after this process changed an event's Redis state (its router's view drops what it knew). */
  onChange: ((id: number) => void) | null = null;
  readonly known: KnownIds;

  constructor(
    readonly redis: RedisClient,
    readonly mysql: Mysql,
    readonly prefix: string,
    readonly opts: { webhooks: boolean; fenceMs: number; webhookAllowPrivate?: boolean; ghost: { slotTtlMs: number; afterMs: number } },
  ) {
    this.patchScript = runScript(redis, "patchMeta");
    this.editScript = runScript(redis, "editEvent");
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
    let brand: BrandValue | null = null;
    badInput(() => {
      brand = checkBrand(input.brand) ?? null;
      startsAt = parseDate(input.startsAt, "startsAt") ?? startsAt;
      endsAt = parseDate(input.endsAt, "endsAt") ?? null;
      queueOpensAt = parseDate(input.queueOpensAt, "queueOpensAt") ?? null;
      couponValidUntil = parseDate(input.couponValidUntil, "couponValidUntil") ?? null;
      if (endsAt && endsAt <= startsAt) throw new RangeError("endsAt must be after startsAt");
      if (queueOpensAt && queueOpensAt > startsAt) throw new RangeError("queueOpensAt must not be after startsAt");
      if (couponValidUntil && couponValidUntil <= startsAt) throw new RangeError("couponValidUntil must be after startsAt");
    });
    await this.checkWebhook(input.webhookUrl);
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
      claim: input.claim ?? "manual",
      slotSeconds: input.slotSeconds ?? null,
      graceSeconds: input.graceSeconds ?? null,
      message: input.message ?? "",
      brand: brand ? JSON.stringify(brand) : null,
      botPow: input.botGate?.pow ?? null,
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

  /** A webhookUrl as it is set: WEBHOOK_SECRET on the server, then the SSRF guard (modules/webhooks/guard.ts). */
  async checkWebhook(url: string | null | undefined) {
    if (url === undefined || url === null) return;
    if (!URL.canParse(url)) throw new ApiError(400, "bad_request", "webhookUrl must be an absolute https:// URL");
    if (!this.opts.webhooks) throw new ApiError(400, "bad_request", "webhookUrl needs WEBHOOK_SECRET to be set on the server (deliveries are signed with it)");
    await checkTarget(url, this.opts.webhookAllowPrivate ?? false).catch((e) => {
      throw e instanceof ForbiddenTarget ? new ApiError(400, "webhook_url_forbidden", e.message) : e;
    });
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
      claim: h.claim === "on_turn" ? "on_turn" : "manual",
      slotSeconds: Number(h.slotSeconds || 0),
      graceSeconds: Number(h.graceSeconds || 0),
      message: h.message ?? "",
      brand: parseBrand(h.brand),
      botPow: Number(h.botPow || 0),
      paused: h.paused === "1",
      closed: h.closed === "1",
      cancelled: h.cancelled === "1",
      epoch: Number(h.epoch || 0),
      admitRate: Number(h.admitRate || 0),
      hold: h.hold === "1",
      control: CONTROLS.has(h.ctlAction as ControlAction) ? (h.ctlAction as ControlAction) : null,
    };
  }

  /** After any write of an event's settings to Redis: every scheduler looks at rested events again. */
  async settingsChanged() {
    await this.redis.incr(globalKeys(this.prefix).settingsRev);
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
      claim: meta.claim,
      slotSeconds: meta.slotSeconds || null,
      graceSeconds: meta.graceSeconds || null,
      message: meta.message,
      brand: meta.brand,
      botGate: botGate(meta.botPow),
      status: eventStatus(meta, now),
    };
  }

  ids(): Promise<number[]> {
    return eventIds(this.redis, this.prefix);
  }

  /** The operator's switches (controls.ts) and live edits (edit.ts). */
  control = control;
  settleAbandoned = settleAbandoned;
  patch = patch;
  /** What the operator reads: the list, the stats (stats.ts). */
  list = list;
  stats = stats;
  persistedCount = persistedCount;
  /** Reconciliation with MySQL and the streams (reconcile-event.ts; when it runs: reconcile.ts). */
  reconcile = reconcile;
  reconcileFresh = reconcileFresh;
  recordFailure = recordFailure;
  repairLoss = repairLoss;
  releaseUnaccounted = releaseUnaccounted;
  unaccounted = unaccounted;
  closeInRedis = closeInRedis;
  allEvents = allEvents;
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
    claim: ev.claim === "on_turn" ? "on_turn" : "manual",
    slotSeconds: ev.slotSeconds ?? 0,
    graceSeconds: ev.graceSeconds ?? 0,
    message: ev.message,
    brand: parseBrand(ev.brand),
    botPow: ev.botPow ?? 0,
    paused: ev.paused,
    closed: ev.closed,
    cancelled: ev.cancelled,
    epoch: ev.redisEpoch,
    admitRate: 0,
  };
}

/** The whole meta hash as field, value pairs (admitRate belongs to the scheduler and is left out). */
const CONTROLS = new Set<ControlAction>(["pause", "resume", "close", "cancel"]);

export function metaFields(m: EventMeta): string[] {
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
    "claim", m.claim,
    "slotSeconds", String(m.slotSeconds),
    "graceSeconds", String(m.graceSeconds),
    "message", m.message,
    "brand", m.brand ? JSON.stringify(m.brand) : "",
    "botPow", String(m.botPow),
    "paused", m.paused ? "1" : "0",
    "closed", m.closed ? "1" : "0",
    "cancelled", m.cancelled ? "1" : "0",
    "epoch", String(m.epoch),
  ];
}
