import { t } from "elysia";
import { ApiError } from "../../src/http";

// Elysia's t.Integer also accepts numeric strings ("10"); the API takes JSON numbers only.
const Int = (opts: { minimum?: number; maximum?: number; description?: string } = {}) => t.Number({ multipleOf: 1, ...opts });

export const EventStatus = t.Union([t.Literal("scheduled"), t.Literal("open"), t.Literal("paused"), t.Literal("sold_out"), t.Literal("closed"), t.Literal("cancelled")]);
export type EventStatus = "scheduled" | "open" | "paused" | "sold_out" | "closed" | "cancelled";

const IsoDate = t.String({ maxLength: 40, description: "ISO-8601 date-time with an offset", examples: ["2026-12-01T12:00:00Z"] });
const NullableIsoDate = t.Union([IsoDate, t.Null()]);
const WebhookUrl = t.String({ minLength: 1, maxLength: 2048, description: "http(s) URL that receives signed batches of issuances" });

export const CreateEventBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 200 }),
    stock: Int({ minimum: 1, maximum: 10_000_000 }),
    trafficRpm: Int({ minimum: 0, maximum: 1_000_000_000, description: "0 = everyone goes through the waiting room" }),
    runningCapacity: Int({ minimum: 1, maximum: 10_000_000 }),
    admitPerSecond: t.Optional(Int({ minimum: 1, maximum: 1_000_000, description: "default: runningCapacity" })),
    startsAt: t.Optional(IsoDate),
    endsAt: t.Optional(NullableIsoDate),
    queueOpensAt: t.Optional(NullableIsoDate),
    maxWaiting: t.Optional(Int({ minimum: 0, maximum: 100_000_000, description: "0 = unlimited" })),
    couponValidUntil: t.Optional(NullableIsoDate),
    webhookUrl: t.Optional(t.Union([WebhookUrl, t.Null()])),
  },
  { additionalProperties: false },
);

export const PatchEventBody = t.Object(
  {
    trafficRpm: t.Optional(Int({ minimum: 0, maximum: 1_000_000_000 })),
    runningCapacity: t.Optional(Int({ minimum: 1, maximum: 10_000_000 })),
    admitPerSecond: t.Optional(Int({ minimum: 1, maximum: 1_000_000 })),
    maxWaiting: t.Optional(Int({ minimum: 0, maximum: 100_000_000 })),
    endsAt: t.Optional(NullableIsoDate),
    couponValidUntil: t.Optional(NullableIsoDate),
    webhookUrl: t.Optional(t.Union([WebhookUrl, t.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);

// Any string: `parseEventId` decides, so every garbage id is the same 404 on every route.
export const EventIdParams = t.Object({ id: t.String() });

const NullableString = t.Union([t.String(), t.Null()]);
const Config = {
  id: t.Integer(),
  name: t.String(),
  stock: t.Integer(),
  trafficRpm: t.Integer(),
  runningCapacity: t.Integer(),
  admitPerSecond: t.Integer(),
  startsAt: t.String(),
  endsAt: NullableString,
  queueOpensAt: NullableString,
  maxWaiting: t.Integer({ description: "0 = unlimited" }),
  couponValidUntil: NullableString,
  webhookUrl: NullableString,
  status: EventStatus,
};
export const AdminEvent = t.Object(Config);
export const EventStats = t.Object({
  ...Config,
  remaining: t.Integer(),
  issued: t.Integer({ description: "accepted by Redis" }),
  persisted: t.Integer({ description: "rows in MySQL" }),
  pending: t.Integer({ description: "accepted, not yet persisted" }),
  dead: t.Integer({ description: "dead-lettered" }),
  waiting: t.Integer(),
  running: t.Integer(),
  paused: t.Boolean({ description: "paused by the operator (a scheduled event may be paused before it starts)" }),
  requestRate: t.Integer({ description: "the event's live request rate per minute, over every router (what trafficRpm is compared with)" }),
  admitRate: t.Number({ description: "measured admissions per second from the waiting room (last 30 s; 0 when nobody was admitted in the last 10 s)" }),
  admittedThisSecond: t.Integer({ description: "admitted from the line in the current second (counts against admitPerSecond)" }),
  admittedLastSecond: t.Integer({ description: "admitted from the line in the second before" }),
  stall: t.Union([t.Literal("paused"), t.Literal("scheduled"), t.Literal("capacity_full"), t.Literal("admit_per_second"), t.Null()], {
    description: "why users are waiting and nobody is admitted: paused, not started, every running slot held, or admitPerSecond reached; null when the line moves or is empty",
  }),
  webhooksDelivered: t.Integer({ description: "webhook deliveries (one per persisted batch) the receiver accepted" }),
  webhooksPending: t.Integer({ description: "webhook deliveries not yet accepted (waiting for their next attempt)" }),
  webhookFailedAttempts: t.Integer({ description: "attempts that failed (non-2xx, timeout, unreachable)" }),
  reconcileError: t.Union([t.String(), t.Null()], { description: "why the event's Redis state could not be reconciled with MySQL (it sells nothing until it is)" }),
  draw: t.Union(
    [
      t.Object({
        seed: t.String({ description: "64 hex digits from the CSPRNG, drawn at the start: the order is recomputable from it and the pre-queued user ids (README)" }),
        drawnAt: t.String(),
        size: t.Union([t.Integer(), t.Null()], { description: "users the draw gave a place (null while it runs)" }),
        durationMs: t.Union([t.Integer(), t.Null()]),
      }),
      t.Null(),
    ],
    { description: "the pre-queue's draw; null before it (or without a pre-queue)" },
  ),
});
export const PublicEvent = t.Object({
  id: t.Integer(),
  name: t.String(),
  stock: t.Integer(),
  remaining: t.Integer(),
  status: EventStatus,
  startsAt: t.String(),
  endsAt: NullableString,
  queueOpensAt: NullableString,
  serverTime: t.String({ description: "the server's clock, for countdowns" }),
});
export const ErrorReply = t.Object({ error: t.String(), message: t.String() });

const STATUSES: readonly EventStatus[] = ["scheduled", "open", "paused", "sold_out", "closed", "cancelled"];
// query values are strings; limits and cursors are checked as text, so "1e2", " 5" or "0x10" are a 400
const Digits = (description: string) => t.String({ pattern: "^[1-9][0-9]{0,9}$", description });
export const ListEventsQuery = t.Object(
  {
    status: t.Optional(t.String({ maxLength: 20, description: STATUSES.join(", ") })),
    limit: t.Optional(Digits("1…100, default 20")),
    after: t.Optional(Digits("the `next` of the page before")),
  },
  { additionalProperties: false },
);
export const EventList = t.Object({
  events: t.Array(t.Object({ ...Config, remaining: t.Integer() })),
  next: t.Union([t.String(), t.Null()], { description: "cursor of the next page (pass as `after`), null on the last page" }),
});
export const IssuesQuery = t.Object(
  {
    after: t.Optional(t.String({ maxLength: 64, description: "the `next` of the page before" })),
    limit: t.Optional(Digits("1…1000, default 100")),
  },
  { additionalProperties: false },
);
export const IssuesPage = t.Object({
  issues: t.Array(
    t.Object({ userId: t.String(), code: t.String(), issuedAt: t.String(), redeemedAt: t.Union([t.String(), t.Null()]), orderId: t.Union([t.String(), t.Null()]) }),
  ),
  next: t.Union([t.String(), t.Null()], { description: "opaque cursor of the next page, null on the last page" }),
});

export function statusFilter(raw: string | undefined): EventStatus | undefined {
  if (raw === undefined || (STATUSES as readonly string[]).includes(raw)) return raw as EventStatus | undefined;
  throw new ApiError(400, "bad_request", `status must be one of ${STATUSES.join(", ")}`);
}

/** A decimal query number in [min, max] (the schema has already checked it is digits). */
export function queryInt(raw: string | undefined, def: number, max: number, name: string): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (n > max) throw new ApiError(400, "bad_request", `${name} must be at most ${max}`);
  return n;
}

/**
 * The event as kept in its Redis meta hash (times in ms since epoch; 0 = none). The hash is only
 * ever written whole (create, reconcile) or through scripts that check it exists, never partly.
 */
export type EventMeta = {
  id: number;
  name: string;
  stock: number;
  remaining: number;
  trafficRpm: number;
  runningCapacity: number;
  admitPerSecond: number;
  maxWaiting: number;
  queueOpensAt: number;
  startsAt: number;
  endsAt: number;
  couponValidUntil: number;
  webhookUrl: string;
  paused: boolean;
  closed: boolean;
  cancelled: boolean;
  /** the reconciliation this state comes from (coupon_events.redis_epoch) */
  epoch: number;
  admitRate: number;
};

/** Same rule as `eventStatus` in lua/event.lua. */
export function eventStatus(ev: Pick<EventMeta, "cancelled" | "closed" | "endsAt" | "startsAt" | "remaining" | "paused">, now = Date.now()): EventStatus {
  if (ev.cancelled) return "cancelled";
  if (ev.closed || (ev.endsAt > 0 && now >= ev.endsAt)) return "closed";
  if (now < ev.startsAt) return "scheduled";
  if (ev.remaining <= 0) return "sold_out";
  if (ev.paused) return "paused";
  return "open";
}

const MAX_ID = 2 ** 31 - 1;
/** Event ids are positive integers; anything else names no event. */
export function parseEventId(raw: string): number | null {
  if (!/^[1-9][0-9]{0,9}$/.test(raw)) return null;
  const id = Number(raw);
  return id <= MAX_ID ? id : null;
}

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;
// MySQL DATETIME ends with year 9999; nothing in this system predates 1970.
const MIN_DATE = Date.UTC(1970, 0, 1);
const MAX_DATE = Date.UTC(10000, 0, 1) - 1;

/**
 * An RFC 3339 date-time with an explicit offset ("2026-12-01T12:00:00Z"). `Date.parse` alone would
 * roll 2030-02-30 over into March and read an offset-less time in the server's own time zone.
 */
export function parseDate(raw: string | null | undefined, field: string): Date | null | undefined {
  if (raw === undefined || raw === null) return raw;
  const m = ISO_DATE_TIME.exec(raw);
  const bad = () => new RangeError(`${field} must be an ISO-8601 date-time with an offset, like 2026-12-01T12:00:00Z`);
  if (!m) throw bad();
  const [y, mo, d, h, mi, sec = 0, oh = 0, om = 0] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x))) as number[];
  const daysInMonth = new Date(Date.UTC(y!, mo!, 0)).getUTCDate();
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysInMonth || h! > 23 || mi! > 59 || sec > 59 || oh > 23 || om > 59) throw bad();
  const ms = Date.parse(raw);
  if (!(ms >= MIN_DATE && ms <= MAX_DATE)) throw new RangeError(`${field} must be between 1970 and 9999`);
  return new Date(ms);
}

/** The contract's refusals of a user request: one status and one message each, wherever they arise. */
const REFUSALS = {
  event_not_found: [404, "no such event"],
  not_open: [409, "the event is not open"],
  line_full: [410, "the waiting line is full"],
  sold_out: [410, "no coupons left"],
  already_issued: [409, "you already have this event's coupon"],
  not_admitted: [403, "you hold no running slot for this event; enter (and wait) first"],
  not_in_queue: [404, "you are not in this event's queue; enter first"],
} as const;

export function refusal(code: keyof typeof REFUSALS): ApiError {
  const [status, message] = REFUSALS[code];
  return new ApiError(status, code, message);
}
