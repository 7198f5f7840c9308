// What each role reads for its per-event metrics, cached by a Snapshot in src/metrics.ts. Nothing
// here runs per request, and nothing runs per scrape either: a snapshot is read at most every few
// seconds, whatever the number of scrapers.
import { inArray } from "drizzle-orm";
import { eventStatus } from "../modules/events/model";
import type { EventService } from "../modules/events/service";
import { entryFields, GROUP, pendingCount, type Entry } from "../modules/issuer/service";
import { readFunnel } from "../modules/events/funnel";
import { countGhostSlots } from "../modules/events/stats";
import type { RateMeter } from "../modules/router/rate";
import type { Mysql } from "./db";
import { couponEvents } from "./db/schema";
import { DEAD_REASONS, deadReason, type CouponEventStats, type DeadReason, type Metrics, type QueueEventStats, type RouterEventStats } from "./metrics";
import { eventKeys, type RedisClient } from "./redis";

// an event that is not exported (ended long ago, or idle) is looked at again only this often
const REST_MS = 30_000;

const entryTime = (id: string) => Number(id.split("-")[0]);

/** Redis time of the oldest issuance still owed to MySQL (see ack-1.lua: the stream is trimmed below it). */
async function oldestPending(redis: RedisClient, stream: string): Promise<number | null> {
  try {
    // delivered entries are older than undelivered ones, so the group's oldest pending entry, if any, is the oldest owed
    const [n, minId] = (await redis.xpending(stream, GROUP)) as [number, string | null];
    if (n > 0 && minId) return entryTime(minId);
  } catch (e) {
    if (!String((e as Error)?.message).startsWith("NOGROUP")) throw e;
  }
  // nothing delivered and unacknowledged: everything below the first undelivered entry is trimmed
  const [first] = (await redis.xrange(stream, "-", "+", "COUNT", 1)) as Entry[];
  return first ? entryTime(first[0]) : null;
}

/** Time of the event's last issuance (its stream's last id), or 0 without a stream. */
async function lastIssuance(redis: RedisClient, stream: string): Promise<number> {
  try {
    const info = (await redis.xinfo("STREAM", stream)) as unknown[];
    const i = info.indexOf("last-generated-id");
    return i >= 0 ? entryTime(String(info[i + 1])) : 0;
  } catch {
    return 0;
  }
}

async function deadByReason(redis: RedisClient, stream: string): Promise<Record<DeadReason, number>> {
  const out = Object.fromEntries(DEAD_REASONS.map((r) => [r, 0])) as Record<DeadReason, number>;
  let start = "-";
  for (;;) {
    const page = (await redis.xrange(stream, start, "+", "COUNT", 1000)) as Entry[];
    for (const [, fields] of page) out[deadReason(entryFields(fields).reason)]++;
    if (page.length < 1000) return out;
    start = `(${page[page.length - 1]![0]}`;
  }
}

type CouponState = { endedAt: number | null; restUntil: number; deadLen: number; dead: Record<DeadReason, number> };

/**
 * The coupon role's view of every event: settings and status from the Redis meta, pending and dead
 * letters from the streams, persisted rows from the events' `persisted` counters (one primary-key
 * read for all of them; the issuer keeps the counter in the transaction that inserts the rows).
 * An event that ended (closed, cancelled, or sold out with nothing pending) more than `retentionMs`
 * ago is left out; its end is when it closed or its last issuance, whichever is later.
 */
export function couponEventSource(redis: RedisClient, mysql: Mysql, events: EventService, prefix: string, retentionMs: number) {
  const state = new Map<number, CouponState>();
  return async (): Promise<CouponEventStats[]> => {
    const now = Date.now();
    // an event retired from the live set once drained (modules/issuer/retire.ts, seconds after it ends) keeps
    // its keys: it is still exported until its retention ends, so dashboards show how it ended
    const inSet = new Set(await events.ids());
    for (const [id, st] of state) if (!inSet.has(id) && st.restUntil > 0) state.delete(id);
    const all = new Set([...inSet, ...state.keys()]);
    const ids = [...all].filter((id) => (state.get(id)?.restUntil ?? 0) <= now);
    const read = await Promise.all(
      ids.map(async (id) => {
        const meta = await events.readMeta(id);
        if (!meta) {
          state.delete(id);
          return null;
        }
        const k = eventKeys(prefix, id);
        const st = state.get(id) ?? { endedAt: null, restUntil: 0, deadLen: -1, dead: { over_stock: 0, duplicate_user: 0, entry_fault: 0 } };
        state.set(id, st);
        const status = eventStatus(meta, now);
        const [pending, deadLen, funnel, ghostSlots, unaccounted] = await Promise.all([pendingCount(redis, k.stream), redis.xlen(k.dead), readFunnel(redis, prefix, id), countGhostSlots(redis, prefix, id, events.opts.ghost, now), events.unaccounted(id, meta)]);
        const ended = pending === 0 && !["scheduled", "open", "paused"].includes(status);
        if (!ended) st.endedAt = null;
        else if (st.endedAt === null) st.endedAt = Math.max(meta.endsAt > 0 && meta.endsAt <= now ? meta.endsAt : 0, await lastIssuance(redis, k.stream)) || now;
        st.restUntil = ended && now - st.endedAt! > retentionMs ? now + REST_MS : 0;
        if (st.restUntil) return null;
        if (deadLen !== st.deadLen) [st.dead, st.deadLen] = [await deadByReason(redis, k.dead), deadLen];
        const remaining = Math.max(0, meta.remaining);
        return {
          eventId: id,
          status,
          stock: meta.stock,
          remaining,
          issued: meta.stock - remaining,
          persisted: 0,
          pending,
          dead: { ...st.dead },
          oldestPendingAt: pending > 0 ? await oldestPending(redis, k.stream) : null,
          trafficRpm: meta.trafficRpm,
          runningCapacity: meta.runningCapacity,
          admitPerSecond: meta.admitPerSecond,
          maxWaiting: meta.maxWaiting,
          funnel,
          ghostSlots,
          unaccounted,
        } satisfies CouponEventStats;
      }),
    );
    const live = read.filter((r) => r !== null);
    if (!live.length) return [];
    const rows = await mysql.db.select({ id: couponEvents.id, persisted: couponEvents.persisted }).from(couponEvents).where(inArray(couponEvents.id, live.map((r) => r.eventId)));
    const persisted = new Map(rows.map((r) => [r.id, r.persisted]));
    return live.map((r) => ({ ...r, persisted: persisted.get(r.eventId) ?? 0 }));
  };
}

/**
 * The queue role's view: line length, live slots and the measured admission rate. An event is
 * exported while it has anyone waiting or running (or a non-zero admission rate) and for
 * `retentionMs` after. An idle one is looked at again after a pause that doubles up to 30 s (so a
 * year of past events costs little), and at once after `wake` (this process admitted someone for it).
 */
export function queueEventSource(redis: RedisClient, prefix: string, listEvents: () => Promise<number[]>, retentionMs: number) {
  const state = new Map<number, { lastActive: number; pause: number; restUntil: number }>();
  const read = async (): Promise<QueueEventStats[]> => {
    const now = Date.now();
    const ids = (await listEvents()).filter((id) => (state.get(id)?.restUntil ?? 0) <= now);
    const rows = await Promise.all(
      ids.map(async (id) => {
        const k = eventKeys(prefix, id);
        const [waiting, running, rate] = await Promise.all([redis.zcard(k.waiting), redis.zcount(k.running, `(${now}`, "+inf"), redis.hget(k.meta, "admitRate")]);
        const admitRate = Number(rate) || 0;
        const st = state.get(id) ?? { lastActive: 0, pause: 0, restUntil: 0 };
        state.set(id, st);
        if (waiting > 0 || running > 0 || admitRate > 0) st.lastActive = now;
        const exported = now - st.lastActive <= retentionMs;
        st.pause = exported ? 0 : Math.min(REST_MS, Math.max(2000, st.pause * 2));
        st.restUntil = now + st.pause;
        return exported ? { eventId: id, waiting, running, admitRate } : null;
      }),
    );
    return rows.filter((r) => r !== null);
  };
  return {
    read,
    wake(eventId: number) {
      const st = state.get(eventId);
      if (st) st.restUntil = 0;
    },
  };
}

/** The router's view: each event's request rate as its RateMeter sees it, for events it has answered enters for. */
export function routerEventSource(meter: RateMeter, knows: (eventId: number) => boolean) {
  return async (): Promise<RouterEventStats[]> =>
    [...meter.rates()].filter(([id]) => knows(id)).map(([eventId, requestRate]) => ({ eventId, requestRate }));
}

const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true, () => false), Bun.sleep(ms).then(() => false)]);

async function pingMysql(mysql: Mysql) {
  const c = await mysql.pool.getConnection();
  try {
    await c.ping();
  } finally {
    c.release();
  }
}

/** Pings Redis (and MySQL where the role uses it) every `everyMs` for `coupon_redis_up` / `coupon_mysql_up`. */
export function startPings(redis: RedisClient, mysql: Mysql | null, metrics: Metrics, everyMs = 5000) {
  const ping = async () => {
    const [r, m] = await Promise.all([within(redis.ping(), 2000), mysql ? within(pingMysql(mysql), 2000) : null]);
    metrics.redisUp(r);
    if (m !== null) metrics.mysqlUp(m);
  };
  void ping();
  const timer = setInterval(() => void ping(), everyMs);
  return () => clearInterval(timer);
}
