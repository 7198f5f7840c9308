import { t } from "elysia";
import { Claim, Int } from "../events/model";

const Ticket = t.String({ description: "waiting ticket: accepted in place of the user's token by GET/DELETE …/queue and POST …/issue of this event" });

const Message = t.String({ description: "the operator's word to the people waiting, plain text (\"\" = none); show it as text, never as markup" });
const Grace = t.Union([Int({ minimum: 0 }), t.Null()], {
  description: "a user who stops polling keeps the place for at least this long (the event's graceSeconds, else QUEUE_WAITER_TIMEOUT_MS), and is dropped when the line reaches them after it; null on on_turn events: nobody is dropped for silence",
});
const SlotSeconds = Int({ minimum: 1, description: "how long an admitted user holds a running slot (the event's slotSeconds, else QUEUE_SLOT_TTL_MS)" });
const LapsedAt = t.String({ description: "when the user's running slot lapsed unused: they keep the front (admitted before anyone who entered after them), never sent to the back" });
export const Admitted = t.Object(
  {
    status: t.Literal("admitted"),
    expiresAt: t.String({ description: "when the running slot lapses unless used (the user then keeps the front: lapsedAt)" }),
    slotSeconds: SlotSeconds,
    lapsedAt: t.Optional(LapsedAt),
    message: Message,
    ticket: t.Optional(Ticket),
  },
  { $id: "Admitted", description: "admitted (manual events): the user holds a running slot until they issue, leave, or it lapses" },
);
export const IssuedOnTurn = t.Object(
  {
    status: t.Literal("issued"),
    eventId: Int(),
    code: t.String({ description: "the user's coupon code" }),
    persisted: t.Boolean({ description: "its row is in MySQL (false: promised, being stored; GET …/coupon tells when)" }),
    validUntil: t.Union([t.String(), t.Null()], { description: "the event's couponValidUntil" }),
    ticket: t.Optional(Ticket),
  },
  { $id: "IssuedOnTurn", description: "on_turn events: the user's turn came and the platform issued their coupon (also while their page was closed)" },
);
export const Waiting = t.Object(
  {
    status: t.Literal("waiting"),
    position: Int({ minimum: 1, description: "place in the line, 1-based; from a router's view far from the head: never better than the truth (docs/how-it-works.md, waiting room accuracy)" }),
    etaSeconds: t.Union([t.Number(), t.Null()], { description: "position / admission rate; null while nobody is being admitted" }),
    pollAfterMs: Int({ minimum: 0, description: "poll again after this long; grows with the line" }),
    remaining: Int({ minimum: 0, description: "coupons left" }),
    running: Int({ minimum: 0, description: "users holding a running slot (ahead of the whole line)" }),
    graceSeconds: Grace,
    claim: Claim,
    paused: t.Boolean({ description: "paused by the operator: the line keeps its order, nobody is admitted (or issued) until it resumes" }),
    slotSeconds: SlotSeconds,
    lapsedAt: t.Optional(LapsedAt),
    message: Message,
    ticket: t.Optional(Ticket),
  },
  { $id: "Waiting", description: "in the waiting room" },
);
export const PreQueue = t.Object(
  {
    status: t.Literal("pre_queue"),
    startsAt: t.String({ description: "when the event starts: then everyone in the pre-queue gets a place drawn uniformly at random, ahead of everyone who enters after" }),
    pollAfterMs: Int({ minimum: 0, description: "poll again after this long (about the start, while it is near)" }),
    remaining: Int({ minimum: 0, description: "coupons left" }),
    preQueued: Int({ minimum: 0, description: "users in the pre-queue so far" }),
    graceSeconds: Grace,
    claim: Claim,
    message: Message,
    ticket: t.Optional(Ticket),
  },
  { $id: "PreQueue", description: "in the pre-queue (between queueOpensAt and startsAt)" },
);
export const Ended = t.Object(
  { status: t.Union([t.Literal("sold_out"), t.Literal("closed")]) },
  { $id: "QueueEnded", description: "the event can admit nobody more" },
);
/** enter's 202: a place in the waiting room, or in the pre-queue before the event starts */
export const EnterQueued = t.Union([Waiting, PreQueue], { description: "waiting, or in the pre-queue" });
/** enter's 200: a running slot (manual), or the coupon (on_turn) */
export const EnterDone = t.Union([Admitted, IssuedOnTurn], { description: "admitted (manual events), or issued (on_turn events: at once when nobody is ahead, and to a holder entering again)" });
export const PollReply = t.Union([Admitted, IssuedOnTurn, Waiting, PreQueue, Ended], { description: "the user's state: admitted, issued (on_turn), waiting, in the pre-queue, or the event ended" });

/**
 * The waiting room's answers before a router dresses them for the user (ETA, poll interval,
 * ticket): `seq` is the user's arrival sequence (0 for a slot taken without waiting), `admitRate`
 * the measured rate and `admitPerSecond` the configured one; a pre-queued user's `size` is the
 * number of users in the line; `lapsedAt`: the user's slot lapsed unused then (they keep the front).
 */
export type QueueState =
  | { status: "pre_queue"; seq: number; remaining: number; size: number }
  | { status: "admitted"; expiresAt: string; remaining: number; lapsedAt: string | null }
  | { status: "waiting"; position: number; remaining: number; seq: number; admitRate: number; admitPerSecond: number; lapsedAt: string | null; claim: "manual" | "on_turn" }
  | { status: "issued"; code: string };

/**
 * Outcome of entering an event; the non-state kinds become the contract's 4xx errors. `known`: the
 * user already held a place, a slot or a coupon (such an enter does not count toward trafficRpm).
 */
export type EnterResult = (QueueState | { status: "sold_out" | "not_open" | "event_not_found" | "already_issued" | "line_full" }) & { known: boolean };
export type QueueEnded = { status: "sold_out" | "closed" };
export type PollResult = QueueState | QueueEnded | { status: "event_not_found" | "not_in_queue" };

/**
 * What the router (and anyone else) needs from the waiting room. `QueueService` implements it in
 * process; `HttpQueueClient` implements it against a remote queue server.
 */
export interface QueueApi {
  /** `rpm`: the event's live request rate as the router measured it, before this request. */
  enter(eventId: number, userId: string, rpm: number): Promise<EnterResult>;
  poll(eventId: number, userId: string): Promise<PollResult>;
  /** Frees the user's place or slot; the arrival sequence of the place in line given up (0: none). */
  leave(eventId: number, userId: string): Promise<number>;
}
