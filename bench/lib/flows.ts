import type { Step } from "./load";
import type { Users } from "./users";

/** What the load learned about who was issued: the basis of the invariant check afterwards. */
export type Outcomes = {
  /** users whose issue got a 201 */
  promised: Set<string>;
  /** users whose issue was sent and never answered (the run stopped, or it timed out) */
  inFlight: Set<string>;
  /** when the first 410 (sold out) arrived, if any */
  firstSoldOutAt: number | null;
};

export const newOutcomes = (): Outcomes => ({ promised: new Set(), inFlight: new Set(), firstSoldOutAt: null });

/**
 * Stage 1 of the original test: each pass of a connection is a new user who enters and then issues
 * at once. `onSoldOut` fires on the first 410 (used to stop a drain run when the stock is gone).
 */
export function enterThenIssue(eventId: number, users: Users, out: Outcomes, onSoldOut?: () => void): Step[] {
  const soldOut = (status: number) => {
    if (status !== 410 || out.firstSoldOutAt !== null) return;
    out.firstSoldOutAt = Date.now();
    onSoldOut?.();
  };
  return [
    {
      kind: "enter",
      method: "POST",
      path: `/api/events/${eventId}/enter`,
      auth: (ctx) => {
        const u = users.take();
        ctx.user = u.id;
        ctx.auth = u.auth;
        return u.auth;
      },
      onReply: soldOut,
    },
    {
      kind: "issue",
      method: "POST",
      path: `/api/events/${eventId}/issue`,
      auth: (ctx) => {
        out.inFlight.add(ctx.user);
        return ctx.auth;
      },
      onReply: (status, ctx) => {
        out.inFlight.delete(ctx.user);
        if (status === 201) out.promised.add(ctx.user);
        soldOut(status);
      },
    },
  ];
}
