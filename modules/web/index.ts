import { Elysia } from "elysia";
import { readdirSync } from "node:fs";
import { extname, join } from "node:path";
import { signJwt } from "../../src/auth";
import type { Config } from "../../src/config";
import { parseEventId } from "../events/model";
import { LANGUAGES, PUBLIC, renderPages, type PageName } from "./pages";

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

/**
 * The language the Accept-Language header prefers among the pages' own (highest q first, the
 * header's order among equals), or null. The page script takes it unless ?lang= says otherwise.
 */
export function negotiateLanguage(header: string | null): string | null {
  if (!header) return null;
  const ranked = header
    .slice(0, 512)
    .split(",")
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(";");
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { base: tag!.trim().toLowerCase().split("-")[0]!, q: q === undefined ? 1 : Number(q), i };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return ranked.find((x) => (LANGUAGES as readonly string[]).includes(x.base))?.base ?? null;
}

const HTML = renderPages();

/** The people's side: event page, waiting room and admin page (served by the router). */
export const webModule = (config: Config) => {
  const headers = pageHeaders(config.embedOrigins);
  // the admin page is never framed, whatever the shop's pages allow
  const adminHeaders = pageHeaders([]);
  const file = (name: string) => new Response(Bun.file(join(PUBLIC, name)), { headers: { ...headers, "content-type": TYPES[extname(name)]! } });
  const page = (name: PageName, request: Request, status = 200) => {
    const lang = negotiateLanguage(request.headers.get("accept-language"));
    const body = HTML.get(lang ? `${lang}:${name}` : name)!;
    return new Response(body, { status, headers: { ...headers, "content-type": TYPES[".html"]!, vary: "accept-language" } });
  };
  const eventPage = (name: PageName) => ({ params, request }: { params: { id: string }; request: Request }) => (parseEventId(params.id) === null ? page("not-found", request, 404) : page(name, request));
  const app = new Elysia({ name: "web" })
    .get("/events/:id", eventPage("event"), hidden)
    .get("/events/:id/waiting", eventPage("waiting"), hidden)
    .get("/admin", () => new Response(HTML.get("admin"), { headers: { ...adminHeaders, "content-type": TYPES[".html"]! } }), hidden)
    .get("/assets/:file", ({ params, request }) => (ASSETS.has(params.file) ? file(params.file) : page("not-found", request, 404)), hidden);
  if (!config.dev) return app;
  // Development only: a visitor without a link gets a throwaway demo identity, so the pages can be tried at once.
  return app.post("/dev/token", () => ({ token: signJwt(config.jwtSecret, `demo-${crypto.randomUUID().slice(0, 8)}`) }), hidden);
};
