// The operator's switches on an event: pause, resume, close, cancel (EventService.control).
import { eq } from "drizzle-orm";
import { couponEvents } from "../../src/db/schema";
import { ApiError } from "../../src/http";
import { globalKeys, runScript } from "../../src/redis";
import { eventStatus, type ControlAction, type EventMeta } from "./model";
import { metaFromRow, notFound, type EventService } from "./service";

export type { ControlAction };

// a control's lease on the event: renewed every LEASE_MS / 3 while its process lives; once lapsed, the
// control counts as abandoned (its process died) and any process settles it from MySQL
const LEASE_MS = 3_000;
// how long a control waits for another control of the same event to finish
const LOCK_WAIT_MS = 5_000;

const scripts = new WeakMap<EventService, Record<"begin" | "renew" | "end", ReturnType<typeof runScript>>>();
function lua(ev: EventService) {
  let s = scripts.get(ev);
  if (!s) scripts.set(ev, (s = { begin: runScript(ev.redis, "controlBegin"), renew: runScript(ev.redis, "controlRenew"), end: runScript(ev.redis, "controlEnd") }));
  return s;
}

const lapsed = () => new ApiError(503, "unavailable", "this control stalled past its lease and another process settled the event from the database; nothing was changed, try again");

const notScheduled = (status: string) =>
  new ApiError(409, "not_scheduled", `only a scheduled event can be cancelled; this one is ${status.replace("_", " ")}${status === "closed" || status === "cancelled" ? "" : " (close it instead)"}`);

/**
 * Pause, resume, close or cancel; MySQL (the record) first, then Redis, so a control the operator
 * was told failed never took effect anywhere and one told succeeded is in force, also after any
 * restart (issue #19, findings 2 and 3):
 * 1. control-begin-2.lua takes the event's control lease in Redis (controls reach Redis in the order
 *    MySQL commits them); a cancel is checked there, atomically against Redis's clock and sales, and
 *    holds the start, so it either takes effect before any sale or is refused (409 not_scheduled);
 * 2. the row is locked, the lease checked still ours, the action checked against its status, the
 *    flags committed;
 * 3. control-end-1.lua writes the committed flags to Redis and releases the lease. A control MySQL did
 *    not commit only releases it. A commit whose answer was lost is read back to learn which; if
 *    MySQL cannot tell, the lease is left to lapse and the control is settled from MySQL later.
 * The lease is short and renewed while this process works: if the process dies between its commit
 * and its Redis write, another settles the event from MySQL within seconds (settleAbandoned), and a
 * cancel's hold keeps the event from opening until then.
 * - pause / resume: any event that has not ended (closed or cancelled → 409 event_ended);
 * - close: ends the event now, whatever its status, unless it was cancelled (409 event_ended);
 * - cancel: only a scheduled event with nothing sold (anything else → 409 not_scheduled).
 */
export async function control(this: EventService, id: number, action: ControlAction) {
  const loaded = await this.ensureLoaded(id);
  if (!loaded) throw notFound();
  const k = this.keys(id);
  const { begin, renew, end } = lua(this);
  const token = crypto.randomUUID();
  // where the other processes look for a control whose process died (settleAbandoned)
  await this.redis.sadd(globalKeys(this.prefix).controls, String(id));
  for (const until = Date.now() + LOCK_WAIT_MS; ; ) {
    const [r, why] = (await begin(k.meta, k.issued, action, token, LEASE_MS)) as [string, string?];
    if (r === "ok") break;
    if (r === "not_scheduled") throw notScheduled(why === "sold" || why === "started" ? "open" : why!);
    if (r === "missing") {
      if (!(await this.reconcile(id))) throw notFound();
      continue;
    }
    if (Date.now() >= until) throw new ApiError(503, "unavailable", "another control of this event is still being applied; try again shortly");
    await Bun.sleep(50);
  }
  const renewal = setInterval(() => void renew(k.meta, token, LEASE_MS).catch(() => {}), LEASE_MS / 3);
  let meta: EventMeta;
  try {
    meta = await commit.call(this, id, action, loaded.remaining, () => renew(k.meta, token, LEASE_MS));
  } catch (e) {
    const committed = e instanceof ApiError ? null : await readBack.call(this, id, action, loaded.remaining);
    if (committed === undefined) {
      // MySQL may have it or not: the lease lapses and the control is settled from MySQL once it answers
      // (a cancel's hold keeps the event from opening meanwhile)
      clearInterval(renewal);
      throw new ApiError(504, "outcome_unknown", "the connection to the database dropped while the control was committed; read the event again to see whether it took effect");
    }
    if (!committed) {
      // not in MySQL, so not anywhere: release the lease (and a cancel's hold) and say so
      clearInterval(renewal);
      await end(k.meta, token).catch(() => {});
      throw e;
    }
    meta = committed;
  }
  clearInterval(renewal);
  await settle.call(this, id, token, meta);
  return this.adminView(meta);
}

/** The MySQL step: lock the row, check the lease is still this control's, check the action against its status, commit the flags. */
async function commit(this: EventService, id: number, action: ControlAction, remaining: number, stillOurs: () => Promise<unknown>): Promise<EventMeta> {
  return this.mysql.db.transaction(async (tx) => {
    const [row] = await tx.select().from(couponEvents).where(eq(couponEvents.id, id)).for("update");
    if (!row) throw notFound();
    // under the row lock: a process settling this control as abandoned holds it too, so either it
    // read MySQL before (and took the lease: nothing is committed here) or it reads this commit
    if (!Number(await stillOurs())) throw lapsed();
    const m = metaFromRow(row, remaining);
    // a cancel's "still scheduled" was decided in Redis, where its hold now keeps the start back:
    // the clock here, a slow MySQL later, must not undo that decision
    const status = eventStatus(m, action === "cancel" ? Math.min(Date.now(), m.startsAt - 1) : Date.now());
    const ended = status === "closed" || status === "cancelled";
    if ((action === "pause" || action === "resume") && ended) throw new ApiError(409, "event_ended", `the event is ${status}: there is nothing to ${action}`);
    if (action === "close" && status === "cancelled") throw new ApiError(409, "event_ended", "the event was cancelled");
    if (action === "cancel" && status !== "scheduled") throw notScheduled(status);
    if (action === "pause") m.paused = true;
    if (action === "resume") m.paused = false;
    if (action === "close") m.closed = true;
    if (action === "cancel") m.cancelled = true;
    await tx.update(couponEvents).set({ paused: m.paused, closed: m.closed, cancelled: m.cancelled }).where(eq(couponEvents.id, id));
    return m;
  });
}

/**
 * After the MySQL step failed on its connection: the row read again (for about three seconds) tells
 * whether the commit happened. Returns the meta when MySQL has the action, null when it has not,
 * undefined when MySQL cannot be read.
 */
async function readBack(this: EventService, id: number, action: ControlAction, remaining: number): Promise<EventMeta | null | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt) await Bun.sleep(200 * attempt);
    try {
      const [row] = await this.mysql.db.select().from(couponEvents).where(eq(couponEvents.id, id));
      if (!row) return null;
      const m = metaFromRow(row, remaining);
      const done = action === "pause" ? m.paused : action === "resume" ? !m.paused : action === "close" ? m.closed : m.cancelled;
      return done ? m : null;
    } catch {
      /* try again */
    }
  }
  return undefined;
}

/**
 * The Redis step once MySQL has the control: the committed flags onto the meta, the lock released.
 * Retried for a few seconds; if Redis stays away the event is left to reconciliation (every
 * reconnect rewrites the flags from MySQL, and the reconciler retries it every second meanwhile),
 * and nothing sells on a Redis this process cannot reach — so the control is in force either way.
 */
async function settle(this: EventService, id: number, token: string, m: EventMeta) {
  const flags = ["paused", m.paused ? "1" : "0", "closed", m.closed ? "1" : "0", "cancelled", m.cancelled ? "1" : "0"];
  for (let attempt = 0; ; attempt++) {
    try {
      if (!Number(await lua(this).end(this.keys(id).meta, token, ...flags))) await this.reconcile(id);
      break;
    } catch (e) {
      if (attempt >= 4) {
        this.recordFailure(id, e);
        break;
      }
      await Bun.sleep(200 * (attempt + 1));
    }
  }
  this.onChange?.(id);
  await this.settingsChanged().catch(() => {});
}

/**
 * Settles every control whose process died between taking its lease and writing Redis (the lease
 * lapsed): under the event's MySQL row lock, so a commit still on its way lands first, MySQL's flags
 * are written to Redis and the lease and a cancel's hold released — unless another control has taken
 * the lease meanwhile (it writes MySQL's flags itself). Run every tick by each selling process
 * (Reconciler), so such a control is in force everywhere within about LEASE_MS + a tick; while MySQL
 * is away it waits (a cancel's hold keeps the event closed to sales meanwhile).
 */
export async function settleAbandoned(this: EventService) {
  const pending = globalKeys(this.prefix).controls;
  const ids = await this.redis.smembers(pending);
  if (!ids.length) return;
  const [s, us] = await this.redis.time();
  const now = Number(s) * 1000 + Math.floor(Number(us) / 1000);
  for (const member of ids) {
    const id = Number(member);
    const meta = this.keys(id).meta;
    const [token, until] = await this.redis.hmget(meta, "ctlToken", "ctlUntil");
    if (!token) {
      await this.redis.srem(pending, member);
      // a control that began in between keeps its entry
      if (await this.redis.hexists(meta, "ctlToken")) await this.redis.sadd(pending, member);
      continue;
    }
    if (Number(until) > now) continue;
    const flags = await this.mysql.db.transaction(async (tx) => {
      const [row] = await tx.select().from(couponEvents).where(eq(couponEvents.id, id)).for("update");
      if (!row) return null;
      const f = ["paused", row.paused ? "1" : "0", "closed", row.closed ? "1" : "0", "cancelled", row.cancelled ? "1" : "0"];
      return Number(await lua(this).end(meta, token, ...f)) ? f : null;
    });
    if (!flags) continue;
    console.error(`event ${id}: a control whose process died before writing Redis was settled from MySQL (${flags.join(" ")})`);
    this.onChange?.(id);
    await this.settingsChanged().catch(() => {});
  }
}
