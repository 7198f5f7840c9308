// The operator's switches on an event: pause, resume, close, cancel (EventService.control).
import { eq } from "drizzle-orm";
import { couponEvents } from "../../src/db/schema";
import { ApiError } from "../../src/http";
import { runScript } from "../../src/redis";
import { eventStatus, type EventMeta } from "./model";
import { metaFromRow, notFound, type EventService } from "./service";

/** The operator's switches (POST /admin/events/:id/pause|resume|close, DELETE /admin/events/:id). */
export type ControlAction = "pause" | "resume" | "close" | "cancel";

// how long a control may hold the event's lock (and a cancel its start) before it counts as abandoned
const CONTROL_TTL_MS = 30_000;
// how long a control waits for another control of the same event to finish
const LOCK_WAIT_MS = 5_000;

const scripts = new WeakMap<EventService, { begin: ReturnType<typeof runScript>; end: ReturnType<typeof runScript> }>();
function lua(ev: EventService) {
  let s = scripts.get(ev);
  if (!s) scripts.set(ev, (s = { begin: runScript(ev.redis, "controlBegin"), end: runScript(ev.redis, "controlEnd") }));
  return s;
}

const notScheduled = (status: string) =>
  new ApiError(409, "not_scheduled", `only a scheduled event can be cancelled; this one is ${status.replace("_", " ")}${status === "closed" || status === "cancelled" ? "" : " (close it instead)"}`);

/**
 * Pause, resume, close or cancel; MySQL (the record) first, then Redis, so a control the operator
 * was told failed never took effect anywhere and one told succeeded is in force, also after any
 * restart (issue #19, findings 2 and 3):
 * 1. control-begin-2.lua takes the event's control lock in Redis (controls reach Redis in the order
 *    MySQL commits them); a cancel is checked there, atomically against Redis's clock and sales, and
 *    holds the start, so it either takes effect before any sale or is refused (409 not_scheduled);
 * 2. the row is locked, the action checked against its status, the flags committed;
 * 3. control-end-1.lua writes the committed flags to Redis and releases the lock. A control MySQL did
 *    not commit only releases it. A commit whose answer was lost is read back to learn which.
 * - pause / resume: any event that has not ended (closed or cancelled → 409 event_ended);
 * - close: ends the event now, whatever its status, unless it was cancelled (409 event_ended);
 * - cancel: only a scheduled event with nothing sold (anything else → 409 not_scheduled).
 */
export async function control(this: EventService, id: number, action: ControlAction) {
  const loaded = await this.ensureLoaded(id);
  if (!loaded) throw notFound();
  const k = this.keys(id);
  const { begin, end } = lua(this);
  const token = crypto.randomUUID();
  for (const until = Date.now() + LOCK_WAIT_MS; ; ) {
    const [r, why] = (await begin(k.meta, k.issued, action, token, CONTROL_TTL_MS)) as [string, string?];
    if (r === "ok") break;
    if (r === "not_scheduled") throw notScheduled(why === "sold" || why === "started" ? "open" : why!);
    if (r === "missing") {
      if (!(await this.reconcile(id))) throw notFound();
      continue;
    }
    if (Date.now() >= until) throw new ApiError(503, "unavailable", "another control of this event is still being applied; try again shortly");
    await Bun.sleep(50);
  }
  let meta: EventMeta;
  try {
    meta = await commit.call(this, id, action, loaded.remaining);
  } catch (e) {
    const committed = e instanceof ApiError ? null : await readBack.call(this, id, action, loaded.remaining);
    if (!committed) {
      // not in MySQL, so not anywhere: release the lock (and a cancel's hold) and say so
      await end(k.meta, token).catch(() => {});
      if (committed === undefined) throw new ApiError(504, "outcome_unknown", "the connection to the database dropped while the control was committed; read the event again to see whether it took effect");
      throw e;
    }
    meta = committed;
  }
  await settle.call(this, id, token, meta);
  return this.adminView(meta);
}

/** The MySQL step: lock the row, check the action against its status, commit the flags. */
async function commit(this: EventService, id: number, action: ControlAction, remaining: number): Promise<EventMeta> {
  return this.mysql.db.transaction(async (tx) => {
    const [row] = await tx.select().from(couponEvents).where(eq(couponEvents.id, id)).for("update");
    if (!row) throw notFound();
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
