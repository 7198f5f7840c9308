import { toOpenAPISchema } from "@elysiajs/openapi";
import { Kind } from "@sinclair/typebox";
import { Elysia, type AnyElysia } from "elysia";
import { dirname, join } from "node:path";
import { DOCUMENTED_AS, SECURITY_SCHEMES, type RouteSpec } from "../../src/docs";
import { RateLimited } from "../../src/ratelimit";
import { Err } from "../events/model";
import { webhookOperations } from "../webhooks/model";

// The installed swagger-ui-dist (its version pinned by bun.lock): every byte the docs page runs comes from this process.
const DIST = dirname(Bun.resolveSync("swagger-ui-dist/package.json", import.meta.dir));
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
};

// Nothing inline and nothing from another origin.
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>massive coupon API</title>
  <link rel="stylesheet" href="/swagger/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/swagger/assets/swagger-ui-bundle.js"></script>
  <script src="/swagger/assets/init.js"></script>
</body>
</html>
`;

// validatorUrl null: the default would send the spec's address to a public validator service
const INIT = `window.ui = SwaggerUIBundle({ url: "/swagger/json", dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true });\n`;

const headers = (type: string, extra: Record<string, string> = {}) => ({
  "content-type": type,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  ...extra,
});
const hidden = { detail: { hide: true } };

const INFO = {
  title: "massive coupon",
  version: "0.1.0",
  description: [
    "First-come-first-served coupon events: router, waiting room, coupon API, issuer.",
    "",
    "Clients talk only to the router, which serves what it owns and forwards the rest, so these paths are the same whether one process or four serve them.",
    'Every non-2xx reply is JSON `{"error":"<code>","message":"<human text>"}` (schema `Error`); each response lists the codes it can carry.',
    "Bad input is always a 4xx and changes nothing.",
  ].join("\n"),
};

const TAGS = [
  { name: "user", description: "The user flow: event info, enter, the waiting room, issue, the user's coupons (user JWT, or the waiting ticket where noted)" },
  { name: "admin", description: "Operators: events, their controls, winners and dead letters (ADMIN_TOKEN)" },
  { name: "shop", description: "The shop's backend: coupons by code, redeem, unredeem, void, grants, webhook deliveries (ADMIN_TOKEN or an API key); the webhooks it receives are under `x-webhooks`" },
  { name: "ops", description: "Health and Prometheus metrics" },
];

/**
 * What the admin guard (src/auth.ts, adminHook) answers before any /admin/ route runs: no or a wrong
 * credential, a key without the route's scope, and the lockout and per-key/per-address limits. Every
 * admin operation lists them; a route that documents one itself (its own codes) keeps its wording.
 */
const ADMIN_GUARD_REPLIES = {
  401: Err("unauthorized"),
  403: Err("forbidden"),
  429: RateLimited,
};
// A split router forwards every admin POST to its owner, and answers one that may have reached it
// unanswered with 504 (modules/router/forward.ts): the document is the same for every deployment.
const FORWARDED_POST_REPLIES = { 504: Err("outcome_unknown") };

type Json = Record<string, any>;
const isObject = (v: unknown): v is Json => !!v && typeof v === "object" && !Array.isArray(v);
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) => (isObject(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));

/**
 * What the generator gets wrong for OpenAPI 3.0, and the names it does not give, fixed on a copy of
 * the generated document:
 * - a schema with `$id` becomes a named component, referenced by `$ref` wherever it appears;
 * - `const` (JSON Schema, not 3.0) becomes a one-value `enum`, and a union of such values one enum;
 * - `examples` (3.1) becomes `example`;
 * - a schema marked with documentedAs is replaced by its documentation.
 */
function rewrite(node: unknown, schemas: Json): unknown {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, schemas));
  if (!isObject(node)) return node;
  if (isObject(node[DOCUMENTED_AS])) return { ...node[DOCUMENTED_AS] };
  let out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = rewrite(v, schemas);
  if ("const" in out) {
    const { const: value, ...rest } = out;
    out = { ...rest, enum: [value] };
  }
  if (Array.isArray(out.examples)) {
    const { examples, ...rest } = out;
    out = { ...rest, example: examples[0] };
  }
  // a union of single values (a status, a stall reason) is one enum; a nullable one lists null too
  const members = out.anyOf;
  if (Array.isArray(members) && members.length > 1 && members.every((m: Json) => isObject(m) && Array.isArray(m.enum) && m.enum.length === 1 && m.type === members[0].type && Object.keys(m).length === 2)) {
    const { anyOf: _, ...rest } = out;
    out = { ...rest, type: members[0].type, enum: [...members.map((m: Json) => m.enum[0]), ...(rest.nullable ? [null] : [])] };
  }
  if (typeof out.$id === "string") {
    const { $id: name, ...schema } = out;
    const known = schemas[name];
    if (!known) schemas[name] = schema;
    else {
      // one name, one shape: variants may differ only in their description (Err's per-status codes)
      const { description: a, ...x } = known;
      const { description: b, ...y } = schema;
      if (canonical(x) !== canonical(y)) throw new Error(`openapi: two different schemas are named ${name}`);
      if (a !== b) delete known.description;
    }
    return ref(name);
  }
  return out;
}

/**
 * The generator turns a union of literals into a bare enum and drops its description (`claim`, say):
 * such a union goes to it without its TypeBox kind, and rewrite() makes the enum, description kept.
 * Only the nodes on the way to one are copied: the route's own schemas, which validate, stay as they are.
 */
function keepEnumDocs<T>(node: T): T {
  if (Array.isArray(node)) {
    const out = node.map(keepEnumDocs);
    return (out.some((v, i) => v !== node[i]) ? out : node) as T;
  }
  if (!isObject(node)) return node;
  if (node[Kind as unknown as string] === "Union" && typeof node.description === "string" && Array.isArray(node.anyOf) && node.anyOf.every((m: unknown) => isObject(m) && "const" in m)) {
    const { [Kind]: _, ...rest } = node as Json & { [Kind]?: unknown };
    return rest as T;
  }
  let out: Json | null = null;
  for (const [k, v] of Object.entries(node)) {
    const kept = keepEnumDocs(v);
    if (kept !== v) (out ??= { ...node })[k] = kept;
  }
  return (out ?? node) as T;
}

/**
 * The OpenAPI 3.0 document, generated from the route table: each route's params, query, body and
 * `response` schemas (one per status), its `detail` (operationId, tags, security, summary) and its
 * `detail.responses` (content types and statuses beyond the JSON ones).
 */
function openApi(plugin: AnyElysia, forwarded: AnyElysia[]) {
  // once used, a plugin answers these for the whole app
  const app = plugin as unknown as { getGlobalRoutes(): AnyElysia["routes"]; getGlobalDefinitions(): unknown };
  const table = [...app.getGlobalRoutes(), ...forwarded.flatMap((m) => m.routes)]
    .map((r) =>
      r.path.startsWith("/admin/")
        ? { ...r, hooks: { ...r.hooks, response: { ...ADMIN_GUARD_REPLIES, ...(r.method === "POST" ? FORWARDED_POST_REPLIES : {}), ...(r.hooks?.response as object) } } }
        : r,
    )
    .map((r) => ({ ...r, hooks: keepEnumDocs(r.hooks) }));
  // Every body is read by one JSON parser (a function, which the generator cannot look into; without
  // a parser it would list form and multipart bodies too): bodies are described as the JSON they are.
  const routes = {
    getGlobalRoutes: () => table.map((r) => ({ ...r, hooks: { ...r.hooks, parse: [{ fn: "json" }] } })),
    getGlobalDefinitions: () => app.getGlobalDefinitions(),
  } as unknown as AnyElysia;
  const generated = toOpenAPISchema(routes, { paths: [/^\/internal/] }, undefined, undefined, "3.0.3");
  // a plain copy: the generated tree shares objects with the schemas the routes validate with
  const paths = JSON.parse(JSON.stringify(generated.paths)) as Json;

  for (const route of table) {
    const op = paths[route.path.replace(/:([^/]+)/g, "{$1}")]?.[route.method.toLowerCase()] as Json | undefined;
    if (!op) continue;
    // the generator replaces a route's detail.responses with the ones it builds from `response`: merge them back
    for (const [status, extra] of Object.entries((route.hooks?.detail as Json | undefined)?.responses ?? {})) {
      const built = (op.responses ??= {})[status] as Json | undefined;
      op.responses[status] = { ...built, ...(extra as Json), content: { ...built?.content, ...(extra as Json).content } };
    }
    // a reply with no body (204, t.Void) has no content; the generator writes its schema type as a media type
    for (const response of Object.values(op.responses ?? {}) as Json[]) if (response.content?.type === "void" || !Object.keys(response.content ?? {}).length) delete response.content;
  }

  const schemas: Json = {};
  const rewritten = rewrite(paths, schemas) as Json;
  // what a shop's endpoint receives: OpenAPI 3.1's `webhooks`, spelled `x-webhooks` in 3.0, with named payload schemas
  const webhooks = rewrite(webhookOperations(), schemas) as Json;
  // Elysia marks a route's top-level response schema `additionalProperties: false` in place (so the
  // mark shows wherever that schema is shared, and not on the rest): replies may gain fields, and
  // clients should ignore the ones they do not know. Request bodies keep theirs: unknown fields are refused.
  const bodies = new Set(
    Object.values(rewritten).flatMap((ops: Json) => Object.values(ops).map((op: Json) => String(op.requestBody?.content?.["application/json"]?.schema?.$ref ?? "").split("/").pop())),
  );
  for (const [name, schema] of Object.entries(schemas)) if (!bodies.has(name) && schema.additionalProperties === false) delete schema.additionalProperties;
  return {
    openapi: "3.0.3",
    info: INFO,
    tags: TAGS,
    paths: rewritten,
    "x-webhooks": webhooks,
    components: { schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))), securitySchemes: SECURITY_SCHEMES },
  };
}

/**
 * `/swagger` (Swagger UI, served from the installed package) and `/swagger/json` (the OpenAPI
 * document). `forwarded`: the modules whose routes a split router passes on to their owner, so that
 * its document, like its URLs, is the same as one process's (their handlers are never called).
 */
export const docs = (forwarded: () => AnyElysia[] = () => []) => {
  const app = new Elysia({ name: "docs" });
  // the route table is complete once the process listens: build the document once, on first request
  let spec: ReturnType<typeof openApi> | null = null;
  return app
    .get("/swagger/json", () => (spec ??= openApi(app, forwarded())), hidden)
    .get("/swagger", () => new Response(PAGE, { headers: headers("text/html; charset=utf-8", { "content-security-policy": DOCS_CSP, "cache-control": "no-cache" }) }), hidden)
    .get("/swagger/assets/init.js", () => new Response(INIT, { headers: headers("text/javascript; charset=utf-8", { "cache-control": "no-cache" }) }), hidden)
    .get(
      "/swagger/assets/:file",
      ({ params, set }) => {
        const type = Object.hasOwn(ASSETS, params.file) ? ASSETS[params.file] : undefined;
        if (!type) {
          set.status = 404;
          return { error: "not_found", message: "no such asset" };
        }
        return new Response(Bun.file(join(DIST, params.file)), { headers: headers(type, { "cache-control": "public, max-age=3600" }) });
      },
      hidden,
    );
};

/**
 * Routes described but not served by this process (a split router's routes that its upstream
 * serves): an instance that is never mounted, only read for its route table.
 */
export function describeRoutes(routes: RouteSpec[]): AnyElysia {
  const app = new Elysia();
  for (const r of routes) app.route(r.method, r.path, () => new Response(null, { status: 404 }), r.hook as never);
  return app;
}
