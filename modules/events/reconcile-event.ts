// How one event's Redis state is reconciled with MySQL and its streams (EventService.reconcile and
// friends); when it runs is decided by the Reconciler (reconcile.ts).
import { and, eq, gt } from "drizzle-orm";
import { couponEvents, couponIssues } from "../../src/db/schema";
import { globalKeys } from "../../src/redis";
import { entryFields } from "../issuer/service";
import type { EventMeta } from "./model";
import { metaFields, metaFromRow, ms, type EventService } from "./service";

/** reconcileFresh, shared by concurrent requests for the same event (a missing one, say); null: no such event. */
export function reconcile(this: EventService, id: number): Promise<EventMeta | null> {
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
export async function reconcileFresh(this: EventService, id: number, lossSuspected: boolean, release = false): Promise<EventMeta | null> {
  const r = await reconcileNow.call(this, id, lossSuspected, release);
  this.reconcileFailures.delete(id);
  return r;
}

/**
 * Units gone (stock − remaining) that no user in the issued hash holds. After a reconciliation the
 * hash names every user Redis, MySQL and the streams know: what is left then has no user anywhere,
 * and the event sells nothing (includes/take.lua, keys_lost) until the operator releases them.
 */
export async function unaccounted(this: EventService, id: number, m: Pick<EventMeta, "stock" | "remaining">): Promise<number> {
  // an issued key that is not a hash (WRONGTYPE) fails the event's reconciliation, and reconcileError
  // says so: the stats and the metrics of the event (and of the others) still answer
  const users = await this.redis.hlen(this.keys(id).issued).catch(() => null);
  return users === null ? 0 : Math.max(0, m.stock - Math.max(0, m.remaining) - users);
}

/**
 * The operator's way out of units gone with no user anywhere (POST /admin/events/:id/release-unaccounted):
 * a reconciliation that first puts back every user MySQL and the streams know, then sets remaining
 * to stock − those users, so the units nobody holds are sold again. Whoever got a 201 for one of them
 * holds a code no record has (docs/runbook.md, CouponUnitsUnaccounted).
 */
export async function releaseUnaccounted(this: EventService, id: number): Promise<EventMeta | null> {
  const before = await this.readMeta(id);
  const lost = before ? await unaccounted.call(this, id, before) : 0;
  const m = await this.reconcileFresh(id, true, true);
  if (m) console.error(`event ${id}: the operator released the units no user held anywhere (${lost} before the reconciliation); remaining is now ${m.remaining}`);
  return m;
}

/**
 * A partial loss found (the issued hash names fewer users than units gone: a key deleted or evicted
 * on its own), by the take scripts (includes/take.lua, which refuse meanwhile) or the Reconciler's
 * tick: the event is reconciled once, with loss suspected, however many find it at the same time.
 */
export function repairLoss(this: EventService, id: number, found: string): Promise<void> {
  let run = this.repairing.get(id);
  if (!run) {
    console.error(`event ${id}: ${found} (keys lost); reconciling before it sells again`);
    run = this.reconcileFresh(id, true)
      .then(async (m) => {
        const lost = m ? await unaccounted.call(this, id, m) : 0;
        // reconciled and still short: no user anywhere for these units, and repairing again cannot help
        if (lost > 0)
          console.error(`event ${id}: ${lost} units gone with no user for them in Redis, MySQL or the streams: it sells nothing until an operator releases them (POST /admin/events/${id}/release-unaccounted) or closes it`);
      }, (e) => this.recordFailure(id, e))
      .finally(() => this.repairing.delete(id));
    this.repairing.set(id, run);
  }
  return run;
}

export function recordFailure(this: EventService, id: number, e: unknown) {
  const why = String((e as Error)?.message ?? e).slice(0, 200);
  if (this.reconcileFailures.get(id) !== why) console.error(`reconcile of event ${id} failed: ${why}`);
  this.reconcileFailures.set(id, why);
}

/** An event that can no longer sell: only its end (closed, cancelled, endsAt) is put back, if Redis has it at all. */
export async function closeInRedis(this: EventService, ev: { id: number; closed: boolean; cancelled: boolean; endsAt: Date | null }) {
  await this.patchScript(this.keys(ev.id).meta, "closed", ev.closed ? "1" : "0", "cancelled", ev.cancelled ? "1" : "0", "endsAt", String(ms(ev.endsAt)));
  this.onChange?.(ev.id);
}

async function reconcileNow(this: EventService, id: number, lossSuspected: boolean, release: boolean): Promise<EventMeta | null> {
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
    await this.reconcileScript(k.meta, k.issued, Date.now(), this.opts.fenceMs, lossSuspected || added > 0 ? 1 : 0, release ? 1 : 0, ...fields);
    await this.redis.sadd(globalKeys(this.prefix).events, String(id));
    this.onChange?.(id);
    await this.settingsChanged();
    const rebuilt = await this.readMeta(id);
    if (!rebuilt) throw new Error(`event ${id}: meta missing right after reconciliation`);
    return rebuilt;
  });
}

/** Every event in MySQL with whether it can still sell (not cancelled, closed or past its end). */
export async function allEvents(this: EventService, now = Date.now()): Promise<{ id: number; live: boolean; closed: boolean; cancelled: boolean; endsAt: Date | null }[]> {
  const rows = await this.mysql.db
    .select({ id: couponEvents.id, closed: couponEvents.closed, cancelled: couponEvents.cancelled, endsAt: couponEvents.endsAt })
    .from(couponEvents)
    .orderBy(couponEvents.id);
  for (const r of rows) this.known.raise(r.id);
  return rows.map((r) => ({ ...r, live: !r.closed && !r.cancelled && !(r.endsAt && r.endsAt.getTime() <= now) }));
}
