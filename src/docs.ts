import { toOpenAPISchema } from "@elysiajs/openapi";
import { Elysia, type AnyElysia } from "elysia";
import { dirname, join } from "node:path";

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

const INFO = { title: "massive coupon", version: "0.1.0", description: "First-come-first-served coupon events: router, waiting room, coupon API, issuer." };

/**
 * The OpenAPI document, generated from the route table. Every body is read by one JSON parser (a
 * function, which the generator cannot look into), so bodies are described as the JSON they are.
 */
function openApi(plugin: AnyElysia) {
  // once used, a plugin answers these for the whole app
  const app = plugin as unknown as { getGlobalRoutes(): AnyElysia["routes"]; getGlobalDefinitions(): unknown };
  const routes = {
    getGlobalRoutes: () => app.getGlobalRoutes().map((r) => ({ ...r, hooks: { ...r.hooks, parse: [{ fn: "json" }] } })),
    getGlobalDefinitions: () => app.getGlobalDefinitions(),
  } as unknown as AnyElysia;
  const { paths, components } = toOpenAPISchema(routes, { paths: [/^\/internal/] }, undefined, undefined, "3.0.3");
  return {
    openapi: "3.0.3",
    info: INFO,
    paths,
    components: { ...components, securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
  };
}

/** `/swagger` (Swagger UI, served from the installed package) and `/swagger/json` (the OpenAPI document). */
export const docs = () => {
  const app = new Elysia({ name: "docs" });
  // the route table is complete once the process listens: build the document once, on first request
  let spec: ReturnType<typeof openApi> | null = null;
  return app
    .get("/swagger/json", () => (spec ??= openApi(app)), hidden)
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
