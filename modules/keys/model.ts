import { t } from "elysia";
import type { Static } from "@sinclair/typebox";
import { SCOPES, type Scope as AuthScope } from "../../src/auth";
import { documentedAs } from "../../src/docs";
import { Int } from "../events/model";

const Scope = t.Union([
  t.Literal("events:read"),
  t.Literal("events:write"),
  t.Literal("coupons:read"),
  t.Literal("coupons:redeem"),
  t.Literal("coupons:void"),
  t.Literal("webhooks"),
  t.Literal("audit:read"),
  t.Literal("keys"),
]);
// spelled out for the types Elysia infers; the same set as src/auth.ts's SCOPES (a compile error otherwise)
export const SAME_SCOPES: [Static<typeof Scope>] extends [AuthScope] ? ([AuthScope] extends [Static<typeof Scope>] ? true : never) : never = true;
const Scopes = t.Array(Scope, {
  minItems: 1,
  maxItems: SCOPES.length,
  uniqueItems: true,
  description: "what the key may do: events:read, events:write, coupons:read, coupons:redeem, coupons:void, webhooks, audit:read, keys (see docs/security.md)",
});

export const CreateKeyBody = t.Object(
  {
    // `root` names ADMIN_TOKEN in the audit trail: no key may pass for it
    name: t.String({ pattern: "^(?!root$)[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$", description: "who holds the key, as the audit trail names it (unique among live keys; not `root`)", examples: ["shop-checkout"] }),
    scopes: Scopes,
  },
  { additionalProperties: false },
);

export const KeyIdParams = t.Object({
  // read as text: any spelling that names no key is the same 404
  id: documentedAs(t.String({ maxLength: 32 }), { type: "integer", minimum: 1 }),
});

const keyFields = {
  id: Int({ minimum: 1 }),
  name: t.String(),
  scopes: Scopes,
  createdAt: t.String({ description: "ISO-8601, UTC" }),
  lastUsedAt: t.Union([t.String(), t.Null()], { description: "when it last passed the admin guard (to within a few seconds); null if never" }),
};

export const KeyReply = t.Object(keyFields, { $id: "ApiKey", description: "a live API key (never the key itself)" });
export const CreatedKey = t.Object(
  { ...keyFields, key: t.String({ description: "the key itself (`cpk_…`): shown this once, stored only as a hash" }) },
  { $id: "CreatedApiKey", description: "the new key; keep `key` now, it cannot be shown again" },
);
export const KeyList = t.Object({ keys: t.Array(KeyReply) }, { $id: "ApiKeyList", description: "the live keys, oldest first" });
