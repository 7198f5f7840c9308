// How a route describes itself in the OpenAPI document (modules/ops/docs.ts builds it): who may
// call it, and what a client sends where the run-time check reads text.

export const SECURITY_SCHEMES = {
  userToken: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "The user's HS256 JWT (AUTH_JWT_SECRET): `sub` = user id, `exp` required." },
  ticket: { type: "http", scheme: "bearer", description: "The waiting ticket from an `enter` (or poll) reply: accepted in place of the user's JWT by GET/DELETE …/queue and POST …/issue of that event." },
  adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN: the root key, every scope" },
  apiKey: {
    type: "http",
    scheme: "bearer",
    description: "An API key (`cpk_…`, from POST /admin/keys): each /admin/ operation names the scope it needs in `x-required-scope`; a key without it gets 403 forbidden",
  },
  metricsToken: { type: "http", scheme: "bearer", description: "METRICS_TOKEN, needed only when the server sets it" },
};

/** Who may call a route, for its `detail.security` (the schemes above). */
export const SECURITY: Record<"public" | "user" | "userOrTicket" | "admin" | "metrics", Record<string, string[]>[]> = {
  public: [],
  user: [{ userToken: [] }],
  userOrTicket: [{ userToken: [] }, { ticket: [] }],
  admin: [{ adminToken: [] }, { apiKey: [] }],
  // METRICS_TOKEN is optional: without it the route is open
  metrics: [{ metricsToken: [] }, {}],
};

// A schema whose run-time check differs from what a client sends (see documentedAs) carries its documentation here.
export const DOCUMENTED_AS = "x-documented-as";

/**
 * Documents `schema` as `doc`: for values checked as text at run time (a path id that must be the
 * same 404 whatever its spelling, a query limit read as digits) a client sends a number, and a
 * generated client should type it as one.
 */
export function documentedAs<T extends object>(schema: T, doc: Record<string, unknown>): T {
  return Object.assign(schema, { [DOCUMENTED_AS]: doc });
}

/**
 * A route as data: its method, path, schemas and docs. The module that serves it adds the handler;
 * a split router documents it, unchanged, as a route it forwards.
 */
export const route = <M extends string, P extends string, H extends object>(method: M, path: P, hook: H) => ({ method, path, hook });
export type RouteSpec = { method: string; path: string; hook: object };
