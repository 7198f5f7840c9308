// The operator's live edits of an event (EventService.patch, PATCH /admin/events/:id).
import { eq } from "drizzle-orm";
import { couponEvents } from "../../src/db/schema";
import { ApiError } from "../../src/http";
import { checkBrand, eventStatus, parseDate, type BrandValue, type Claim, type EventMeta } from "./model";
import { badInput, liveAgain, metaFromRow, ms, notFound, type BrandInput, type EventService } from "./service";

export type PatchEventInput = Partial<{
  name: string;
  stock: number;
  startsAt: string;
  queueOpensAt: string | null;
  message: string;
  trafficRpm: number;
  runningCapacity: number;
  admitPerSecond: number;
  maxWaiting: number;
  endsAt: string | null;
  couponValidUntil: string | null;
  webhookUrl: string | null;
  brand: BrandInput | null;
  botGate: { pow: number } | null;
  claim: Claim;
  slotSeconds: number | null;
  graceSeconds: number | null;
}>;

type Column = Partial<typeof couponEvents.$inferInsert>;

const NOT_SCHEDULED = "the event has started: startsAt, queueOpensAt and the claim can only change while it is scheduled";
const PREQUEUE_OPEN = "the pre-queue is open: queueOpensAt can no longer move (startsAt still can)";

/**
 * Changes settings of an event, live. Like the switches (controls.ts), the event's MySQL row is
 * locked, the change checked against it and stored, and written to Redis while the lock is held;
 * what only Redis knows (the coupons promised, whether the start or the pre-queue's opening has
 * passed at this instant) is checked by the same script that writes it (edit-event-1.lua), and a
 * refusal there rolls the MySQL change back: an edit the operator was told failed did not happen.
 * Routers see it within a flush (RATE_FLUSH_MS); this process's view at once.
 */
export async function patch(this: EventService, id: number, input: PatchEventInput) {
  const loaded = await this.ensureLoaded(id);
  if (!loaded) throw notFound();
  // before the row lock: the SSRF guard may wait on DNS
  await this.checkWebhook(input.webhookUrl);
  const meta = await this.mysql.db.transaction(async (tx) => {
    const [row] = await tx.select().from(couponEvents).where(eq(couponEvents.id, id)).for("update");
    if (!row) throw notFound();
    const m: EventMeta = { ...metaFromRow(row, loaded.remaining), admitRate: loaded.admitRate };
    const now = Date.now();
    const set: Column = {};
    const fields: string[] = [];
    const put = <K extends keyof EventMeta>(field: K, value: EventMeta[K], column: Column) => {
      m[field] = value;
      Object.assign(set, column);
      fields.push(field, String(value));
    };
    // a line half served one way cannot go on the other (who holds a slot, who was issued): the claim
    // changes only before the start, checked like the times (here and, atomically, in the script)
    const claimMoves = input.claim !== undefined && input.claim !== m.claim;
    const times = input.startsAt !== undefined || input.queueOpensAt !== undefined || claimMoves;
    if (times && eventStatus(m, now) !== "scheduled") throw new ApiError(409, "not_scheduled", NOT_SCHEDULED);
    if (input.queueOpensAt !== undefined && m.queueOpensAt > 0 && now >= m.queueOpensAt) throw new ApiError(409, "not_scheduled", PREQUEUE_OPEN);
    let brand: BrandValue | null | undefined;
    badInput(() => {
      brand = checkBrand(input.brand);
      const startsAt = parseDate(input.startsAt, "startsAt");
      const queueOpensAt = parseDate(input.queueOpensAt, "queueOpensAt");
      const endsAt = parseDate(input.endsAt, "endsAt");
      const couponValidUntil = parseDate(input.couponValidUntil, "couponValidUntil");
      if (startsAt) {
        if (startsAt.getTime() <= now) throw new RangeError("startsAt must be in the future (to start now, set it a few seconds ahead)");
        put("startsAt", startsAt.getTime(), { startsAt });
      }
      if (queueOpensAt !== undefined) put("queueOpensAt", ms(queueOpensAt), { queueOpensAt });
      if (endsAt !== undefined) put("endsAt", ms(endsAt), { endsAt });
      if (couponValidUntil !== undefined) put("couponValidUntil", ms(couponValidUntil), { couponValidUntil });
      // checked on the result, so moving startsAt and its neighbours together works
      if (m.endsAt && m.endsAt <= m.startsAt) throw new RangeError("endsAt must be after startsAt");
      if (m.queueOpensAt && m.queueOpensAt > m.startsAt) throw new RangeError("queueOpensAt must not be after startsAt");
      if (m.couponValidUntil && m.couponValidUntil <= m.startsAt) throw new RangeError("couponValidUntil must be after startsAt");
    });
    if (input.name !== undefined) put("name", input.name, { name: input.name });
    if (input.message !== undefined) put("message", input.message, { message: input.message });
    if (input.trafficRpm !== undefined) put("trafficRpm", input.trafficRpm, { trafficRpm: input.trafficRpm });
    if (input.runningCapacity !== undefined) put("runningCapacity", input.runningCapacity, { runningCapacity: input.runningCapacity });
    if (input.admitPerSecond !== undefined) put("admitPerSecond", input.admitPerSecond, { admitPerSecond: input.admitPerSecond });
    if (input.maxWaiting !== undefined) put("maxWaiting", input.maxWaiting, { maxWaiting: input.maxWaiting });
    if (input.webhookUrl !== undefined) put("webhookUrl", input.webhookUrl ?? "", { webhookUrl: input.webhookUrl });
    if (claimMoves) put("claim", input.claim!, { claim: input.claim });
    if (input.slotSeconds !== undefined) put("slotSeconds", input.slotSeconds ?? 0, { slotSeconds: input.slotSeconds });
    if (input.graceSeconds !== undefined) put("graceSeconds", input.graceSeconds ?? 0, { graceSeconds: input.graceSeconds });
    if (input.botGate !== undefined) put("botPow", input.botGate?.pow ?? 0, { botPow: input.botGate?.pow ?? null });
    if (brand !== undefined) {
      m.brand = brand;
      set.brand = brand ? JSON.stringify(brand) : null;
      fields.push("brand", set.brand ?? "");
    }
    if (input.stock !== undefined) {
      m.stock = input.stock;
      set.stock = input.stock;
    }
    // MySQL's own guard: never fewer coupons than rows already stored (the issuer keeps persisted <= stock)
    if (set.stock !== undefined && set.stock < row.persisted) throw belowIssued(row.persisted);
    if (Object.keys(set).length) await tx.update(couponEvents).set(set).where(eq(couponEvents.id, id));
    const queueMoves = input.queueOpensAt !== undefined;
    const r = (await this.editScript(this.keys(id).meta, now, times ? "1" : "0", queueMoves ? "1" : "0", input.stock ?? "", ...fields)) as [string, number?];
    if (r[0] === "not_scheduled") throw new ApiError(409, "not_scheduled", NOT_SCHEDULED);
    if (r[0] === "prequeue_open") throw new ApiError(409, "not_scheduled", PREQUEUE_OPEN);
    if (r[0] === "stock_below_issued") throw belowIssued(Number(r[1]));
    if (r[0] !== "ok") throw new ApiError(503, "unavailable", "the event's Redis state is being rebuilt; nothing changed, try again shortly");
    m.remaining = Number(r[1]);
    return m;
  });
  // more stock or a later end may make an ended event sell again: back into the live set, after the change
  await liveAgain(this.redis, this.prefix, id);
  this.onChange?.(id);
  await this.settingsChanged();
  return this.adminView(meta);
}

const belowIssued = (issued: number) => new ApiError(409, "stock_below_issued", `${issued} coupons are already promised: stock cannot go below that`, { issued });
