// The operator's switches on an event: pause, resume, close, cancel (EventService.control).
import { eq } from "drizzle-orm";
import { couponEvents } from "../../src/db/schema";
import { ApiError } from "../../src/http";
import { eventStatus } from "./model";
import { metaFromRow, notFound, type EventService } from "./service";

/** The operator's switches (POST /admin/events/:id/pause|resume|close, DELETE /admin/events/:id). */
export type ControlAction = "pause" | "resume" | "close" | "cancel";

/**
 * Pause, resume, close or cancel. The event's MySQL row (the record) is locked, the action checked
 * against its status, the flags stored, and written to the Redis meta while the lock is still held,
 * so two operators' switches reach Redis in the order MySQL took them.
 * - pause / resume: any event that has not ended (closed or cancelled → 409 event_ended);
 * - close: ends the event now, whatever its status, unless it was cancelled (409 event_ended);
 * - cancel: only a scheduled event (the contract: anything else, a cancelled one included → 409 not_scheduled).
 */
export async function control(this: EventService, id: number, action: ControlAction) {
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
