import { Elysia, t } from "elysia";
import { adminGuard, needsScope, type Scope } from "../../src/auth";
import { route } from "../../src/docs";
import { ApiError } from "../../src/http";
import type { Kernel } from "../../src/kernel";
import { Err } from "../events/model";
import { CreatedKey, CreateKeyBody, KeyIdParams, KeyList } from "./model";

const doc = (operationId: string, summary: string) => ({ ...needsScope("keys"), tags: ["admin"], operationId, summary });
const unavailable = Err("unavailable", "upstream_unavailable");

/** The API key routes (contract, "API keys"); a split router documents them as it forwards them. */
export const keyRoutes = {
  create: route("POST", "/admin/keys", {
    body: CreateKeyBody,
    response: { 201: CreatedKey, 400: Err("bad_request", "invalid_json"), 401: Err("unauthorized"), 403: Err("forbidden"), 409: Err("name_taken"), 503: unavailable },
    detail: doc("createApiKey", "Create a named API key with scopes (only scopes the caller holds); the key is in this reply only, stored as a hash"),
  }),
  list: route("GET", "/admin/keys", {
    response: { 200: KeyList, 401: Err("unauthorized"), 403: Err("forbidden"), 503: unavailable },
    detail: doc("listApiKeys", "The live API keys: name, scopes, when created and last used (never the keys)"),
  }),
  revoke: route("DELETE", "/admin/keys/:id", {
    params: KeyIdParams,
    response: {
      204: t.Void({ description: "revoked: refused by every process within a second (also when it was revoked already)" }),
      401: Err("unauthorized"),
      403: Err("forbidden"),
      404: Err("key_not_found"),
      503: unavailable,
    },
    detail: doc("revokeApiKey", "Revoke an API key (the caller must hold every scope it has); every process refuses it within a second"),
  }),
};

const keyId = (raw: string) => {
  if (!/^[1-9][0-9]{0,9}$/.test(raw) || Number(raw) > 2 ** 31 - 1) throw new ApiError(404, "key_not_found", "no API key with this id");
  return Number(raw);
};

/** Creating, listing and revoking API keys (the coupon role, which has MySQL, serves them); both writes are audited. */
export function keysModule(k: Kernel) {
  const keys = k.apiKeys;
  const R = keyRoutes;
  return new Elysia({ name: "keys" }).guard(adminGuard(k.auth), (admin) =>
    admin
      .post(
        R.create.path,
        async ({ body, request, set }) => {
          const created = await keys.create(k.auth.principal(request)!, body.name, body.scopes as Scope[]);
          const { key: _secret, ...shown } = created;
          await k.audit(request, { action: "key_create", target: created.id, before: null, after: shown });
          set.status = 201;
          return created;
        },
        R.create.hook,
      )
      .get(R.list.path, async () => ({ keys: await keys.list() }), R.list.hook)
      .delete(
        R.revoke.path,
        async ({ params, request, set }) => {
          const was = await keys.revoke(k.auth.principal(request)!, keyId(params.id));
          if (was) await k.audit(request, { action: "key_revoke", target: was.id, before: was, after: null });
          set.status = 204;
        },
        R.revoke.hook,
      ),
  );
}
