import { t } from "elysia";

export const Issued = t.Object({ status: t.Literal("issued"), eventId: t.Integer(), userId: t.String() });
export const CouponState = t.Object({
  issued: t.Boolean({ description: "the coupon was promised (201)" }),
  persisted: t.Boolean({ description: "its row is in MySQL" }),
});

export type IssueResult =
  | { status: "issued" }
  | { status: "event_not_found" | "not_open" | "already_issued" | "sold_out" | "not_admitted" };

/** The business API the router forwards to; in process or over HTTP. */
export interface CouponApi {
  issue(eventId: number, userId: string): Promise<IssueResult>;
  coupon(eventId: number, userId: string): Promise<{ issued: boolean; persisted: boolean }>;
}
