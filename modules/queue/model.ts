import { t } from "elysia";

const Ticket = t.String({ description: "waiting ticket: accepted in place of the user's token by GET/DELETE …/queue and POST …/issue of this event" });

export const Admitted = t.Object({
  status: t.Literal("admitted"),
  expiresAt: t.String({ description: "when the running slot lapses unless used" }),
  ticket: t.Optional(Ticket),
});
const Grace = t.Integer({ description: "a user who stops polling keeps the place for at least this long (QUEUE_WAITER_TIMEOUT_MS), and is dropped when the line reaches them after it" });
export const PreQueue = t.Object({
  status: t.Literal("pre_queue"),
  startsAt: t.String({ description: "when the places are drawn: everyone in the pre-queue gets a uniformly random place, ahead of everyone who enters later" }),
  pollAfterMs: t.Integer({ description: "poll again after this long (about the start, while it is near)" }),
  remaining: t.Integer({ description: "coupons left" }),
  preQueued: t.Integer({ description: "users in the pre-queue so far" }),
  graceSeconds: Grace,
  ticket: t.Optional(Ticket),
});
export const Waiting = t.Object({
  status: t.Literal("waiting"),
  position: t.Integer({ minimum: 1, description: "place in the line, 1-based; from a router's view far from the head: never better than the truth (README, waiting room accuracy)" }),
  etaSeconds: t.Union([t.Number(), t.Null()], { description: "position / admission rate; null while nobody is being admitted" }),
  pollAfterMs: t.Integer({ description: "poll again after this long; grows with the line" }),
  remaining: t.Integer({ description: "coupons left" }),
  running: t.Integer({ description: "users holding a running slot (ahead of the whole line)" }),
  graceSeconds: Grace,
  ticket: t.Optional(Ticket),
});
export const Ended = t.Object({ status: t.Union([t.Literal("sold_out"), t.Literal("closed")]) });
export const PollReply = t.Union([Admitted, Waiting, PreQueue, Ended]);

/**
 * The waiting room's answers before a router dresses them for the user (ETA, poll interval,
 * ticket): `seq` is the user's arrival sequence (0 for a slot taken without waiting), `admitRate`
 * the measured rate and `admitPerSecond` the configured one; a pre-queued user's `size` is the
 * number of users in the line.
 */
export type QueueState =
  | { status: "pre_queue"; seq: number; remaining: number; size: number }
  | { status: "admitted"; expiresAt: string; remaining: number }
  | { status: "waiting"; position: number; remaining: number; seq: number; admitRate: number; admitPerSecond: number };

/** Outcome of entering an event; the non-state kinds become the contract's 4xx errors. */
export type EnterResult = QueueState | { status: "sold_out" | "not_open" | "event_not_found" | "already_issued" | "line_full" };
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
  leave(eventId: number, userId: string): Promise<void>;
}
