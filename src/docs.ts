import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { dirname, join } from "node:path";

// The installed swagger-ui-dist (its version pinned by bun.lock): every byte the docs page runs comes from this process.
const DIST = dirname(Bun.resolveSync("swagger-ui-dist/package.json", import.meta.dir));
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
};

// No inline code and no other origin; Swagger UI sets inline style attributes, nothing else needs loosening.
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
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

/** `/swagger` (Swagger UI, served from the installed package) and `/swagger/json` (the OpenAPI document). */
export const docs = () =>
  new Elysia({ name: "docs" })
    .use(
      openapi({
        provider: null,
        path: "/swagger",
        specPath: "/swagger/json",
        openapiVersion: "3.0.3",
        exclude: { paths: [/^\/internal/] },
        documentation: {
          info: { title: "massive coupon", version: "0.1.0", description: "First-come-first-served coupon events: router, waiting room, coupon API, issuer." },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
        },
      }),
    )
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
