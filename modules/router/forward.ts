import { Elysia } from "elysia";
import { errorBody, rawBody } from "../../src/http";

/** Which server owns a path, in a split deployment. */
export type Upstreams = { queue?: string; coupon?: string };

const QUEUE_PATH = /^\/api\/events\/[^/]+\/queue\/?$/;

/**
 * In a split deployment clients talk only to the router: every /api and /admin route it does not
 * serve itself is passed to its owner untouched — method, path, query, body, the user's token — and
 * the owner's status and body come back as they are. A down or slow upstream is a prompt 503.
 */
export const forwardModule = (up: Upstreams, timeoutMs: number) => {
  const forward = async ({ request, set }: { request: Request; set: { status?: number | string; headers: Record<string, string | number> } }) => {
    const url = new URL(request.url);
    const base = QUEUE_PATH.test(url.pathname) ? up.queue : up.coupon;
    if (!base) {
      set.status = 404;
      return errorBody("not_found", "no such route");
    }
    const headers = new Headers();
    for (const h of ["authorization", "content-type", "accept", "x-request-id"]) {
      const v = request.headers.get(h);
      if (v) headers.set(h, v);
    }
    const fwd = request.headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", fwd ?? "router");
    try {
      // the JSON parser has read the body already (and answered 400 if it was not JSON): pass its bytes on
      const body = request.method === "GET" || request.method === "HEAD" ? undefined : (rawBody(request) ?? (await request.arrayBuffer()));
      const res = await fetch(base + url.pathname + url.search, { method: request.method, headers, body, signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
      const out = new Headers();
      for (const h of ["content-type", "retry-after", "cache-control"]) {
        const v = res.headers.get(h);
        if (v) out.set(h, v);
      }
      return new Response(res.status === 204 ? null : await res.arrayBuffer(), { status: res.status, headers: out });
    } catch {
      set.status = 503;
      return errorBody("upstream_unavailable", "an upstream server is unavailable, try again shortly");
    }
  };
  return new Elysia({ name: "forward" })
    .all("/api/*", forward, { detail: { hide: true } })
    .all("/admin/*", forward, { detail: { hide: true } });
};
