import { Type, type IntegerOptions } from "@sinclair/typebox";
import { t } from "elysia";
import { documentedAs } from "../../src/docs";
import { ApiError } from "../../src/http";

/**
 * A whole JSON number: TypeBox's own Integer, documented as `integer`. Elysia's t.Integer also
 * accepts numeric strings ("10"), which the API refuses, and is documented as a string-or-integer.
 */
export const Int = (opts: IntegerOptions = {}) => Type.Integer(opts);

/** What an error code means, for the docs of every status that can carry it. */
export const ERROR_CODES = {
  bad_request: "the input is malformed, of the wrong type or out of range",
  invalid_json: "the request body is not valid JSON",
  length_required: "a body sent without a Content-Length",
  payload_too_large: "the body is over MAX_BODY_BYTES",
  unauthorized: "the bearer token is missing, malformed, badly signed, not yet valid or expired",
  forbidden: "the API key lacks the scope this needs (the message names it)",
  name_taken: "a live API key already has this name",
  key_not_found: "no API key with this id",
  wrong_event: "the waiting ticket is for another event",
  not_admitted: "no live running slot for this event: enter (and wait) first; on_turn events have no slots (the platform issues at the user's turn: enter or poll answers 200 issued)",
  event_not_found: "no such event (any id that is not a positive integer names none)",
  not_in_queue: "not in this event's queue: enter first",
  not_found: "no such thing",
  not_open: "the event is not open: not yet started (outside a pre-queue), closed or cancelled",
  already_issued: "this user already has this event's coupon",
  event_ended: "the event is closed or cancelled",
  not_scheduled: "the event has started: only a scheduled event can be cancelled (close a started one) or have its startsAt or queueOpensAt moved (queueOpensAt only before the pre-queue opens) or its claim changed",
  stock_below_issued: "stock may not go below the coupons already promised (the body carries `issued`)",
  already_redeemed: "redeemed on another order (the body carries `redeemedAt`)",
  sold_out: "no coupons left",
  line_full: "the waiting line already holds maxWaiting users",
  expired: "past the event's couponValidUntil",
  bot_check_failed: "this event's bot gate needs a fresh proof of work (X-Bot-Proof, from GET /api/events/{id}/challenge) for this event and user: missing, malformed, expired, another's, forged or already used",
  no_bot_gate: "this event has no bot gate: enter without a proof",
  unprocessable_entry: "the entry is malformed and stays dead-lettered",
  rate_limited: "too many requests from this user, key or address, or (admin routes) too many failed authentications from this address",
  unavailable: "a backing service (Redis, MySQL) is unavailable or the event is being reconciled; nothing changed, try again shortly",
  upstream_unavailable: "a split router could not reach the queue or coupon server; nothing changed, try again shortly",
  outcome_unknown: "the request may or may not have taken effect (a split router's connection to its owner dropped, or the owner did not answer in time): read the state before trying again (an issue: GET /api/events/{id}/coupon tells; a request with an Idempotency-Key may simply be sent again)",
  not_ready: "Redis or MySQL is unreachable",
  // the shop's side (modules/redemption, modules/grants, modules/webhooks)
  webhook_url_forbidden: "webhookUrl is not https://, or points at (or resolves to) a loopback, private, link-local, CGNAT, multicast, unspecified or metadata address",
  pending: "the code was promised (201) but its row is not persisted yet: retry after `Retry-After` seconds",
  voided: "the coupon was voided and cannot be redeemed",
  not_redeemed_by_order: "the coupon is not redeemed on this orderId",
  idempotency_key_reused: "this Idempotency-Key was used within 24 h with another request body",
  request_in_progress: "a request with this Idempotency-Key is still being processed: retry after `Retry-After` seconds",
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

const errorProps = {
  error: t.String({ description: "machine-readable code (each response lists the ones it can carry)" }),
  message: t.String({ description: "human-readable text" }),
};
/** Every non-2xx reply: `{error, message}`; a few carry one more field (retryAfter, redeemedAt, checks). */
export const ErrorReply = t.Object(errorProps, { $id: "Error", additionalProperties: true });
/**
 * The Error schema as the reply of one status, documented with the codes it can carry there. The same
 * shape under the same name as ErrorReply (modules/ops/docs.ts checks that), only the description differs.
 */
export const Err = (...codes: ErrorCode[]) =>
  t.Object(errorProps, { $id: "Error", additionalProperties: true, description: codes.map((c) => `\`${c}\`: ${ERROR_CODES[c]}`).join("; ") });

export const EventStatus = t.Union([t.Literal("scheduled"), t.Literal("open"), t.Literal("paused"), t.Literal("sold_out"), t.Literal("closed"), t.Literal("cancelled")]);
export type EventStatus = "scheduled" | "open" | "paused" | "sold_out" | "closed" | "cancelled";
/** The operator's switches (POST /admin/events/:id/pause|resume|close, DELETE /admin/events/:id). */
export type ControlAction = "pause" | "resume" | "close" | "cancel";
export const Control = t.Union([t.Literal("pause"), t.Literal("resume"), t.Literal("close"), t.Literal("cancel"), t.Null()], {
  description:
    "the operator's control being applied right now (recorded in the database, then put in force; a cancel holds the start meanwhile, so the event stays scheduled), also when its process died and another settles it within seconds; null when none",
});

const IsoDate = t.String({ maxLength: 40, description: "ISO-8601 date-time with an offset", examples: ["2026-12-01T12:00:00Z"] });
const NullableIsoDate = t.Union([IsoDate, t.Null()]);
const CLAIM_DOC = "manual: an admitted user holds a running slot and presses issue; on_turn: joining the line is the request, and the platform issues the coupon itself when the user's turn comes (README: claim on turn)";
const claimOf = (description: string) => t.Union([t.Literal("manual"), t.Literal("on_turn")], { description });
export const Claim = claimOf(CLAIM_DOC);
export type Claim = "manual" | "on_turn";
const SlotSeconds = t.Union([Int({ minimum: 10, maximum: 86_400 }), t.Null()], { description: "how long an admitted user may hold a running slot (manual events); null = QUEUE_SLOT_TTL_MS" });
const GraceSeconds = t.Union([Int({ minimum: 10, maximum: 3600 }), t.Null()], { description: "how long a waiter who stops polling keeps the place (manual events); null = QUEUE_WAITER_TIMEOUT_MS" });
const HttpsUrl = (description: string) => t.String({ minLength: 9, maxLength: 2048, pattern: "^https://", description });
/** The shop's brand on the pages (issue #22): input; every field but the name may be left out or null. */
const BrandInput = t.Object(
  {
    shopName: t.String({ minLength: 1, maxLength: 80, description: "the shop's name, shown in the pages' header (plain text)" }),
    logoUrl: t.Optional(t.Union([HttpsUrl("https:// URL of the shop's logo (an image, shown about 32 px high)"), t.Null()])),
    accentColor: t.Optional(t.Union([t.String({ pattern: "^#[0-9a-fA-F]{6}$", description: "#rrggbb: the colour of buttons and links" }), t.Null()])),
    returnUrl: t.Optional(t.Union([HttpsUrl("https:// URL of the shop: the pages link back to it, the winner's page with the code"), t.Null()])),
  },
  { additionalProperties: false, description: "the shop's brand on the event page and the waiting room; null = none" },
);
const NullableBrand = t.Union([BrandInput, t.Null()]);
export const Brand = t.Union(
  [
    t.Object(
      { shopName: t.String(), logoUrl: t.Union([t.String(), t.Null()]), accentColor: t.Union([t.String(), t.Null()]), returnUrl: t.Union([t.String(), t.Null()]) },
      { $id: "Brand", description: "the shop's brand on the pages" },
    ),
    t.Null(),
  ],
  { description: "the shop's brand on the pages; null = none" },
);
export type BrandValue = { shopName: string; logoUrl: string | null; accentColor: string | null; returnUrl: string | null };

/** The bot gate (contract, "Bot gate"): a proof of work of about 2^pow hashes before entering; null = off. */
export const BOT_POW_MAX = 24;
const BotGate = t.Union([t.Object({ pow: Int({ minimum: 1, maximum: BOT_POW_MAX, description: "difficulty: the expected work is about 2^pow hashes" }) }, { additionalProperties: false }), t.Null()], {
  description: "a proof of work before POST /enter (GET /api/events/{id}/challenge, header X-Bot-Proof); null = off",
});
const WebhookUrl = t.String({ minLength: 1, maxLength: 2048, description: "http(s) URL that receives signed batches of issuances" });
// plain text: shown as text by the pages, never as markup; line breaks allowed, other control characters not
const Message = t.String({
  maxLength: 280,
  pattern: "^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*$",
  description: "the operator's word to the people waiting, plain text (≤ 280 characters, no control characters but line breaks); \"\" = none. Shown on the event page and in the waiting room",
});

// what each claim uses of the pacing settings (an on_turn line has no running slots: everyone waits, turns are issued)
const TRAFFIC_DOC = "requests per minute under which a manual event lets users in without waiting (0 = everyone goes through the waiting room); on_turn events: not used, everyone joins the line";
const CAPACITY_DOC = "running slots: users admitted at once, each holding a slot until they issue or it lapses (manual events); on_turn events: not used";
const ADMIT_DOC = "most users taken from the head of the line per second: admitted to a slot (manual) or issued their coupon (on_turn)";

export const CreateEventBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 200 }),
    stock: Int({ minimum: 1, maximum: 10_000_000 }),
    trafficRpm: Int({ minimum: 0, maximum: 1_000_000_000, description: TRAFFIC_DOC }),
    runningCapacity: Int({ minimum: 1, maximum: 10_000_000, description: CAPACITY_DOC }),
    admitPerSecond: t.Optional(Int({ minimum: 1, maximum: 1_000_000, description: `${ADMIT_DOC}; default: runningCapacity` })),
    startsAt: t.Optional(IsoDate),
    endsAt: t.Optional(NullableIsoDate),
    queueOpensAt: t.Optional(NullableIsoDate),
    maxWaiting: t.Optional(Int({ minimum: 0, maximum: 100_000_000, description: "0 = unlimited" })),
    couponValidUntil: t.Optional(NullableIsoDate),
    webhookUrl: t.Optional(t.Union([WebhookUrl, t.Null()])),
    claim: t.Optional(Claim),
    slotSeconds: t.Optional(SlotSeconds),
    graceSeconds: t.Optional(GraceSeconds),
    message: t.Optional(Message),
    brand: t.Optional(NullableBrand),
    botGate: t.Optional(BotGate),
  },
  { $id: "CreateEvent", additionalProperties: false },
);

export const PatchEventBody = t.Object(
  {
    name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
    stock: t.Optional(Int({ minimum: 1, maximum: 10_000_000, description: "up (reopens a sold-out event) or down, never below the coupons already promised (409 stock_below_issued)" })),
    startsAt: t.Optional(t.String({ ...IsoDate, description: "only while scheduled (409 not_scheduled): postpone or bring forward; must be in the future" })),
    queueOpensAt: t.Optional(t.Union([IsoDate, t.Null()], { description: "only while scheduled and before the pre-queue opens (409 not_scheduled); not after startsAt" })),
    message: t.Optional(Message),
    trafficRpm: t.Optional(Int({ minimum: 0, maximum: 1_000_000_000, description: TRAFFIC_DOC })),
    runningCapacity: t.Optional(Int({ minimum: 1, maximum: 10_000_000, description: CAPACITY_DOC })),
    admitPerSecond: t.Optional(Int({ minimum: 1, maximum: 1_000_000, description: ADMIT_DOC })),
    maxWaiting: t.Optional(Int({ minimum: 0, maximum: 100_000_000 })),
    endsAt: t.Optional(NullableIsoDate),
    couponValidUntil: t.Optional(NullableIsoDate),
    webhookUrl: t.Optional(t.Union([WebhookUrl, t.Null()])),
    brand: t.Optional(NullableBrand),
    botGate: t.Optional(BotGate),
    claim: t.Optional(claimOf(`${CLAIM_DOC}; changed only while the event is scheduled (409 not_scheduled after its start)`)),
    slotSeconds: t.Optional(SlotSeconds),
    graceSeconds: t.Optional(GraceSeconds),
  },
  { $id: "PatchEvent", additionalProperties: false, minProperties: 1 },
);

/**
 * Any string at run time: `parseEventId` decides, so every garbage id is the same 404 on every route.
 * Documented as what a client sends: a positive 32-bit integer.
 */
export const EVENT_ID_DOC = { type: "integer", format: "int32", minimum: 1, maximum: 2 ** 31 - 1, description: "event id; any other value is answered 404 event_not_found" };
export const EventId = documentedAs(t.String(), EVENT_ID_DOC);
export const EventIdParams = t.Object({ id: EventId });

const NullableString = t.Union([t.String(), t.Null()]);
const Config = {
  id: Int({ minimum: 1 }),
  name: t.String(),
  stock: Int(),
  trafficRpm: Int(),
  runningCapacity: Int(),
  admitPerSecond: Int(),
  startsAt: t.String(),
  endsAt: NullableString,
  queueOpensAt: NullableString,
  maxWaiting: Int({ description: "0 = unlimited" }),
  couponValidUntil: NullableString,
  webhookUrl: NullableString,
  claim: Claim,
  slotSeconds: t.Union([Int(), t.Null()], { description: "null = QUEUE_SLOT_TTL_MS" }),
  graceSeconds: t.Union([Int(), t.Null()], { description: "null = QUEUE_WAITER_TIMEOUT_MS" }),
  message: t.String({ description: "the operator's word to the people waiting (\"\" = none)" }),
  brand: Brand,
  botGate: BotGate,
  status: EventStatus,
};
export const AdminEvent = t.Object(Config, { $id: "Event", description: "the event as configured, and its status" });
export const EventStats = t.Object({
  ...Config,
  remaining: Int(),
  issued: Int({ description: "accepted by Redis" }),
  persisted: Int({ description: "rows in MySQL" }),
  pending: Int({ description: "accepted, not yet persisted" }),
  dead: Int({ description: "dead-lettered" }),
  waiting: Int(),
  running: Int(),
  paused: t.Boolean({ description: "paused by the operator (a scheduled event may be paused before it starts)" }),
  requestRate: Int({ description: "the event's live request rate per minute, over every router (what trafficRpm is compared with)" }),
  admitRate: t.Number({ description: "measured admissions per second from the waiting room (last 30 s; 0 when nobody was admitted in the last 10 s)" }),
  admittedThisSecond: Int({ description: "admitted from the line in the current second (counts against admitPerSecond)" }),
  admittedLastSecond: Int({ description: "admitted from the line in the second before" }),
  stall: t.Union([t.Literal("paused"), t.Literal("scheduled"), t.Literal("capacity_full"), t.Literal("admit_per_second"), t.Null()], {
    description: "why users are waiting and nobody is admitted: paused, not started, every running slot held, or admitPerSecond reached; null when the line moves or is empty",
  }),
  control: Control,
  unaccounted: Int({
    description:
      "units gone (stock − remaining) that no user in Redis holds; once the event is reconciled, no user anywhere (Redis, MySQL, the streams): it sells nothing while this is above 0, so none is sold twice, until an operator releases them (POST /admin/events/{id}/release-unaccounted) or closes it",
  }),
  webhooksDelivered: Int({ description: "webhook deliveries (a persisted batch, a redeem, a void, a status change…) the receiver accepted" }),
  webhooksPending: Int({ description: "webhook deliveries not yet accepted (waiting for their next attempt)" }),
  webhookFailedAttempts: Int({ description: "attempts that failed (non-2xx, timeout, unreachable)" }),
  reconcileError: t.Union([t.String(), t.Null()], { description: "why the event's Redis state could not be reconciled with MySQL (it sells nothing until it is)" }),
  ghostSlots: Int({ description: "running slots held by users admitted from the line who have not been back since (they stopped polling: likely gone); each frees when its slot lapses" }),
  funnel: t.Object(
    {
      joined: Int({ description: "users who joined the line or the pre-queue, or were admitted at once (again after leaving: counted again)" }),
      admitted: Int({ description: "running slots handed out: at enter, from the line, or refilled after an issue" }),
      issued: Int({ description: "users holding the event's coupon" }),
      slotsLapsed: Int({ description: "running slots that lapsed unused" }),
      droppedSilent: Int({ description: "waiters dropped from the line because they stopped polling" }),
      left: Int({ description: "users who left the line or gave up their slot (DELETE …/queue)" }),
      turnedAway: t.Object(
        { sold_out: Int(), line_full: Int(), not_open: Int(), rate_limited: Int(), bot_check_failed: Int() },
        { description: "enter requests refused, by reason (a user refused twice counts twice)" },
      ),
    },
    { description: "where the crowd went, counted by the server in Redis" },
  ),
  draw: t.Union(
    [
      t.Object({
        seed: t.String({ description: "64 hex digits from the CSPRNG, drawn at the start: the order is recomputable from it and the pre-queued user ids (docs/how-it-works.md, auditing the draw)" }),
        drawnAt: t.String(),
        size: t.Union([Int(), t.Null()], { description: "users the draw gave a place (null while it runs)" }),
        durationMs: t.Union([Int(), t.Null()]),
      }),
      t.Null(),
    ],
    { description: "the pre-queue's draw; null before it (or without a pre-queue)" },
  ),
}, { $id: "EventStats", description: "the event, its stock and its crowd, live" });
export const PublicEvent = t.Object({
  id: Int(),
  name: t.String(),
  stock: Int(),
  remaining: Int(),
  status: EventStatus,
  startsAt: t.String(),
  endsAt: NullableString,
  queueOpensAt: NullableString,
  claim: Claim,
  slotSeconds: t.Union([Int(), t.Null()], { description: "how long an admitted user holds a running slot (manual events); null = the server's default" }),
  graceSeconds: t.Union([Int(), t.Null()], { description: "how long a waiter who stops polling keeps the place; null on on_turn events (nobody is dropped for silence) or when the server's default applies" }),
  message: t.String({ description: "the operator's word to the people waiting, plain text (\"\" = none)" }),
  couponValidUntil: t.Union([t.String(), t.Null()], { description: "until when the coupons can be redeemed (null: no limit)" }),
  paused: t.Boolean({ description: "paused by the operator (nobody new is let through; the line keeps its order)" }),
  brand: Brand,
  botGate: BotGate,
  serverTime: t.String({ description: "the server's clock, for countdowns" }),
}, { $id: "PublicEvent", description: "what anyone may know of the event (cacheable for about a second)" });

const STATUSES: readonly EventStatus[] = ["scheduled", "open", "paused", "sold_out", "closed", "cancelled"];
// query values are strings; limits and cursors are checked as text, so "1e2", " 5" or "0x10" are a 400
const Digits = (description: string) => t.String({ pattern: "^[1-9][0-9]{0,9}$", description });
// a limit is a number to a client (which sends its decimal text)
export const Limit = (maximum: number, byDefault: number) => documentedAs(Digits(`1…${maximum}, default ${byDefault}`), { type: "integer", minimum: 1, maximum, default: byDefault });
export const ListEventsQuery = t.Object(
  {
    // checked by statusFilter (a 400 that names the statuses)
    status: t.Optional(documentedAs(t.String({ maxLength: 20 }), { type: "string", enum: [...STATUSES], description: "only events of this status" })),
    limit: t.Optional(Limit(100, 20)),
    after: t.Optional(Digits("the `next` of the page before")),
  },
  { additionalProperties: false },
);
export const EventList = t.Object(
  {
    events: t.Array(t.Object({ ...Config, remaining: Int() }, { $id: "ListedEvent", description: "an event as configured, with its remaining stock" })),
    next: t.Union([t.String(), t.Null()], { description: "cursor of the next page (pass as `after`), null on the last page" }),
  },
  { $id: "EventList", description: "a page of events, newest first" },
);
export const HistoryQuery = t.Object(
  { seconds: t.Optional(documentedAs(Digits("1…86400, default 900"), { type: "integer", minimum: 1, maximum: 86_400, default: 900 })) },
  { additionalProperties: false },
);
export const History = t.Object(
  {
    step: Int({ description: "seconds between samples (the sampling step, HISTORY_STEP_MS, or more over a long span: at most 720 samples)" }),
    samples: t.Array(
      t.Object({
        t: t.String({ description: "when the sample was taken" }),
        issued: Int({ description: "coupons issued so far" }),
        waiting: Int(),
        running: Int(),
        admitRate: t.Number({ description: "measured admissions per second from the line" }),
        requestRate: Int({ description: "enter requests per minute, all routers" }),
      }),
    ),
  },
  { $id: "EventHistory", description: "the event's numbers over time, sampled on the server (the same for every operator, kept 24 h), oldest first" },
);
export const IssuesQuery = t.Object(
  {
    after: t.Optional(t.String({ maxLength: 64, description: "the `next` of the page before" })),
    limit: t.Optional(Limit(1000, 100)),
  },
  { additionalProperties: false },
);
export const IssuesPage = t.Object(
  {
    issues: t.Array(
      t.Object(
        { userId: t.String(), code: t.String(), issuedAt: t.String(), redeemedAt: t.Union([t.String(), t.Null()]), orderId: t.Union([t.String(), t.Null()]) },
        { $id: "Winner", description: "one issuance, persisted" },
      ),
    ),
    next: t.Union([t.String(), t.Null()], { description: "opaque cursor of the next page, null on the last page" }),
  },
  { $id: "WinnersPage", description: "winners in the order issued" },
);

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
  claim: Claim;
  /** 0 = the env default */
  slotSeconds: number;
  graceSeconds: number;
  /** the operator's word to the people waiting ("" = none) */
  message: string;
  brand: BrandValue | null;
  /** the bot gate's difficulty, 0 = off */
  botPow: number;
  paused: boolean;
  closed: boolean;
  cancelled: boolean;
  /** the reconciliation this state comes from (coupon_events.redis_epoch) */
  epoch: number;
  admitRate: number;
  /** a cancel being settled holds the start (control-begin-2.lua): the event stays scheduled until then */
  hold?: boolean;
  /** the control whose lease is taken and not yet released (control-end-1.lua); read from Redis only */
  control?: ControlAction | null;
};

/** Same rule as `eventStatus` in lua/event.lua. */
export function eventStatus(ev: Pick<EventMeta, "cancelled" | "closed" | "endsAt" | "startsAt" | "remaining" | "paused" | "hold">, now = Date.now()): EventStatus {
  if (ev.cancelled) return "cancelled";
  if (ev.closed || (ev.endsAt > 0 && now >= ev.endsAt)) return "closed";
  if (now < ev.startsAt || ev.hold) return "scheduled";
  if (ev.remaining <= 0) return "sold_out";
  if (ev.paused) return "paused";
  return "open";
}

type PublicFields = Pick<EventMeta, "id" | "name" | "stock" | "remaining" | "startsAt" | "endsAt" | "queueOpensAt" | "couponValidUntil" | "brand" | "cancelled" | "closed" | "paused" | "hold" | "botPow" | "message" | "claim" | "slotSeconds" | "graceSeconds">;

/** The API's `botGate` from the meta's difficulty (0 = off). */
export const botGate = (pow: number) => (pow > 0 ? { pow } : null);

/** The contract's public event body (`GET /api/events/:id`), whoever answers it: the router's view or the events service. */
export function publicEvent(ev: PublicFields, now = Date.now()) {
  const iso = (ms: number) => (ms ? new Date(ms).toISOString() : null);
  return {
    id: ev.id,
    name: ev.name,
    stock: ev.stock,
    remaining: Math.max(0, ev.remaining),
    status: eventStatus(ev, now),
    startsAt: new Date(ev.startsAt).toISOString(),
    endsAt: iso(ev.endsAt),
    queueOpensAt: iso(ev.queueOpensAt),
    claim: ev.claim,
    slotSeconds: ev.slotSeconds || null,
    // on_turn: nobody is dropped for silence
    graceSeconds: ev.claim === "on_turn" ? null : ev.graceSeconds || null,
    message: ev.message,
    couponValidUntil: iso(ev.couponValidUntil),
    paused: ev.paused,
    brand: ev.brand,
    botGate: botGate(ev.botPow),
    serverTime: new Date(now).toISOString(),
  };
}

/**
 * A brand as given to create or PATCH, checked and with every field present: URLs absolute
 * https:// without credentials (the pages load the logo and link to the shop from a page that holds
 * the user's token), the colour #rrggbb, the name plain text on one line. Throws RangeError.
 */
export function checkBrand(b: { shopName: string; logoUrl?: string | null; accentColor?: string | null; returnUrl?: string | null } | null | undefined): BrandValue | null | undefined {
  if (b === undefined || b === null) return b;
  const https = (raw: string | null | undefined, field: string) => {
    if (raw === undefined || raw === null) return null;
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new RangeError(`brand.${field} must be an absolute https:// URL`);
    }
    if (u.protocol !== "https:") throw new RangeError(`brand.${field} must be an absolute https:// URL`);
    if (u.username || u.password) throw new RangeError(`brand.${field} must not carry credentials`);
    return u.href;
  };
  const shopName = b.shopName.trim();
  // control characters (newlines, bidi overrides…) have no place in a one-line name
  if (!shopName || /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(shopName)) throw new RangeError("brand.shopName must be plain text on one line");
  if (b.accentColor !== undefined && b.accentColor !== null && !/^#[0-9a-fA-F]{6}$/.test(b.accentColor)) throw new RangeError("brand.accentColor must be #rrggbb");
  return { shopName, logoUrl: https(b.logoUrl, "logoUrl"), accentColor: b.accentColor ? b.accentColor.toLowerCase() : null, returnUrl: https(b.returnUrl, "returnUrl") };
}

/** The brand as kept in MySQL and in the Redis meta hash (JSON; "" or null = none), read back; anything unreadable is none. */
export function parseBrand(raw: string | null | undefined): BrandValue | null {
  if (!raw) return null;
  try {
    const b = JSON.parse(raw);
    return b && typeof b.shopName === "string" ? { shopName: b.shopName, logoUrl: b.logoUrl ?? null, accentColor: b.accentColor ?? null, returnUrl: b.returnUrl ?? null } : null;
  } catch {
    return null;
  }
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
  bot_check_failed: [403, "this event needs a fresh proof of work: GET /api/events/{id}/challenge, solve it, send it as X-Bot-Proof"],
  no_bot_gate: [409, "this event has no bot gate: enter without a proof"],
} as const;

export function refusal(code: keyof typeof REFUSALS): ApiError {
  const [status, message] = REFUSALS[code];
  return new ApiError(status, code, message);
}
