import { t } from "elysia";

export const Admitted = t.Object({ status: t.Literal("admitted"), expiresAt: t.String({ description: "when the running slot lapses unless used" }) });
export const Waiting = t.Object({
  status: t.Literal("waiting"),
  position: t.Integer({ minimum: 1 }),
  etaSeconds: t.Number({ description: "position / measured admission rate" }),
  pollAfterMs: t.Integer({ description: "poll again after this long; grows with the line" }),
});
export const Ended = t.Object({ status: t.Union([t.Literal("sold_out"), t.Literal("closed")]) });
export const PollReply = t.Union([Admitted, Waiting, Ended]);

export type QueueState =
  | { status: "admitted"; expiresAt: string }
  | { status: "waiting"; position: number; etaSeconds: number; pollAfterMs: number };

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
