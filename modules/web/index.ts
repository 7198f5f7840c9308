import { Elysia } from "elysia";
import { readdirSync } from "node:fs";
import { extname, join } from "node:path";
import { signJwt } from "../../src/auth";
import type { Config } from "../../src/config";
import { parseEventId } from "../events/model";

const PUBLIC = join(import.meta.dir, "public");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/**
 * No CDN and no inline code: everything a page runs, styles or calls comes from this origin. Images
 * may come from any https:// origin (the shop's logo, `brand.logoUrl`). Framed only by the
 * EMBED_ORIGINS; with none, by nobody (and X-Frame-Options for browsers that predate frame-ancestors).
 */
export function pageHeaders(embedOrigins: string[]): Record<string, string> {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data: https:",
    "form-action 'self'",
    "base-uri 'none'",
    `frame-ancestors ${embedOrigins.length ? embedOrigins.join(" ") : "'none'"}`,
  ].join("; ");
  return {
    "content-security-policy": csp,
    ...(embedOrigins.length ? {} : { "x-frame-options": "DENY" }),
    "x-content-type-options": "nosniff",
    // a page may be opened with ?token=… in its address; never hand that on in a Referer
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
  };
}
export const CSP = pageHeaders([])["content-security-policy"]!;

// Only the scripts and styles in public/ are served, by exact name, so no request path reaches the disk.
const ASSETS = new Set(readdirSync(PUBLIC).filter((f) => f.endsWith(".js") || f.endsWith(".css")));

const hidden = { detail: { hide: true } };

/** The people's side: event page, waiting room and admin page (served by the router). */
export const webModule = (config: Config) => {
  const headers = pageHeaders(config.embedOrigins);
  // the admin page is never framed, whatever the shop's pages allow
  const adminHeaders = pageHeaders([]);
  const file = (name: string, status = 200, h = headers) => new Response(Bun.file(join(PUBLIC, name)), { status, headers: { ...h, "content-type": TYPES[extname(name)]! } });
  const eventPage = (name: string) => ({ params }: { params: { id: string } }) => (parseEventId(params.id) === null ? file("not-found.html", 404) : file(name));
  const app = new Elysia({ name: "web" })
    .get("/events/:id", eventPage("event.html"), hidden)
    .get("/events/:id/waiting", eventPage("waiting.html"), hidden)
    .get("/admin", () => file("admin.html", 200, adminHeaders), hidden)
    .get("/assets/:file", ({ params }) => (ASSETS.has(params.file) ? file(params.file) : file("not-found.html", 404)), hidden);
  if (!config.dev) return app;
  // Development only: a visitor without a link gets a throwaway demo identity, so the pages can be tried at once.
  return app.post("/dev/token", () => ({ token: signJwt(config.jwtSecret, `demo-${crypto.randomUUID().slice(0, 8)}`) }), hidden);
};
