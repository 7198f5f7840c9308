import { t } from "elysia";
import { documentedAs } from "../../src/docs";
import { Int } from "../events/model";

const Digits = (description: string) => t.String({ pattern: "^[1-9][0-9]{0,17}$", description });

export const AuditQuery = t.Object(
  {
    eventId: t.Optional(documentedAs(t.String({ pattern: "^[1-9][0-9]{0,9}$" }), { type: "integer", minimum: 1, description: "only the entries of this event" })),
    after: t.Optional(Digits("the `next` of the page before")),
    limit: t.Optional(documentedAs(t.String({ pattern: "^[1-9][0-9]{0,3}$" }), { type: "integer", minimum: 1, maximum: 500, default: 50 })),
  },
  { additionalProperties: false },
);

const Json = t.Unknown({ description: "the fields as they were (before) or are (after) the write; null where there were none" });

export const AuditEntryReply = t.Object(
  {
    id: Int({ minimum: 1 }),
    at: t.String({ description: "when (ISO-8601, UTC)" }),
    actor: t.String({ description: "the API key's name, or `root` for ADMIN_TOKEN" }),
    action: t.String({ description: "create, patch, pause, resume, close, cancel, restore, release_unaccounted, grant, void, unredeem, redeliver, dead_letter_retry, key_create, key_revoke" }),
    eventId: t.Union([Int({ minimum: 1 }), t.Null()]),
    target: t.Union([t.String(), t.Null()], { description: "what else the write was about: a coupon code, a key id, a delivery id" }),
    before: Json,
    after: Json,
  },
  { $id: "AuditEntry", description: "one admin write" },
);

export const AuditPage = t.Object(
  {
    entries: t.Array(AuditEntryReply),
    next: t.Union([t.String(), t.Null()], { description: "cursor of the next (older) page, pass as `after`; null on the last page" }),
  },
  { $id: "AuditPage", description: "admin writes, newest first" },
);
