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

// No CDN and no inline code: everything a page runs, styles or calls comes from this origin.
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

// Only the scripts and styles in public/ are served, by exact name, so no request path reaches the disk.
const ASSETS = new Set(readdirSync(PUBLIC).filter((f) => f.endsWith(".js") || f.endsWith(".css")));

function file(name: string, status = 200) {
  return new Response(Bun.file(join(PUBLIC, name)), {
    status,
    headers: {
      "content-type": TYPES[extname(name)]!,
      "content-security-policy": CSP,
      "x-content-type-options": "nosniff",
      // a page may be opened with ?token=… in its address; never hand that on in a Referer
      "referrer-policy": "no-referrer",
      "cache-control": "no-cache",
    },
  });
}

const eventPage = (name: string) => ({ params }: { params: { id: string } }) => (parseEventId(params.id) === null ? file("not-found.html", 404) : file(name));
const hidden = { detail: { hide: true } };

/** The people's side: event page, waiting room and admin page (served by the router). */
export const webModule = (config: Config) => {
  const app = new Elysia({ name: "web" })
    .get("/events/:id", eventPage("event.html"), hidden)
    .get("/events/:id/waiting", eventPage("waiting.html"), hidden)
    .get("/admin", () => file("admin.html"), hidden)
    .get("/assets/:file", ({ params }) => (ASSETS.has(params.file) ? file(params.file) : file("not-found.html", 404)), hidden);
  if (!config.dev) return app;
  // Development only: a visitor without a link gets a throwaway demo identity, so the pages can be tried at once.
  return app.post("/dev/token", () => ({ token: signJwt(config.jwtSecret, `demo-${crypto.randomUUID().slice(0, 8)}`) }), hidden);
};
