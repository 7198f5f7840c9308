import { Elysia } from "elysia";
import { adminGuard, FORWARDED, needsScope } from "../../src/auth";
import { auditRoutes } from "../audit";
import { errorBody, rawBody } from "../../src/http";
import { CLIENT_HEADER, INTERNAL_HEADER } from "../../src/ratelimit";
import type { Kernel } from "../../src/kernel";
import { couponRoutes } from "../coupon";
import { eventRoutes } from "../events";
import { deadLetterRoutes } from "../issuer/dead-letters";
import { keyRoutes } from "../keys";
import { describeRoutes } from "../ops/docs";
import { redemptionRoutes } from "../redemption";
import { webhookRoutes } from "../webhooks";
import { grantRoutes } from "../grants";

/** Which server owns a path, in a split deployment. */
export type Upstreams = { queue?: string; coupon?: string };

type Ctx = { request: Request; params: Record<string, string>; server: { requestIP(r: Request): { address: string } | null } | null; set: { status?: number | string; headers: Record<string, string | number> } };

// Every byte outside the unreserved set is percent-encoded, dots included: a segment taken from a
// route parameter (which arrives decoded) can never become a separator or a dot segment upstream.
const segment = (s: string) => s.replace(/[^A-Za-z0-9_-]/gu, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""));
// A wildcard's rest arrives as sent (still encoded). Only plain segments pass — every route upstream is
// spelled with letters, digits, "_" and "-" — so an encoded or dotted spelling cannot name another
// route upstream than the one matched here (say, issue without the router's rate limit).
const PLAIN_REST = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*\/?$/;

/**
 * The query as sent. Bun hands a path-only URL over when the Host header is missing or odd, but the
 * query always starts at the first "?": neither a path nor a host that Bun accepts can contain one.
 */
const query = (url: string) => {
  const q = url.indexOf("?");
  return q === -1 ? "" : url.slice(q);
};

/** The request never left this process: nothing can have happened upstream. */
function neverSent(e: unknown): boolean {
  const code = String((e as { code?: unknown })?.code ?? "");
  return /^(ConnectionRefused|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|FailedToOpenSocket|UnableToConnect)$/.test(code);
}

/**
 * In a split deployment clients talk only to the router: every /api and /admin route it does not
 * serve itself is passed to its owner — method, path, query, body, the user's token — and the owner's
 * status and body come back as they are. A down upstream is a prompt 503; a POST it may have
 * received but did not answer in time is a 504 outcome_unknown, never a plain "try again".
 *
 * The upstream path is rebuilt from the matched route and its parameters, never from a parse of the
 * request's URL, so a Host header cannot change where a request goes. Poll, leave and issue have
 * routes of their own (not just the wildcard) so that the rate limits, which belong to those route
 * patterns, hold here too; /admin/* needs the admin token before anything leaves the router.
 */
export const forwardModule = (k: Kernel) => {
  // poll and leave are the router's own (answered from its view, or through QueueApi), never forwarded
  const up: Upstreams = { queue: undefined, coupon: k.roles.remoteCoupon ? k.config.couponUrl : undefined };
  const { auth } = k;
  const internalToken = k.config.internalToken!;
  const timeoutMs = k.config.upstreamTimeoutMs;
  const forward = async (base: string | undefined, path: string | null, { request, server, set }: Ctx) => {
    if (!base || path === null) {
      set.status = 404;
      return errorBody("not_found", "no such route");
    }
    const headers = new Headers();
    for (const h of ["authorization", "content-type", "accept", "x-request-id", "idempotency-key"]) {
      const v = request.headers.get(h);
      if (v) headers.set(h, v);
    }
    // like any proxy: append the address this hop saw
    const peer = server?.requestIP(request)?.address ?? "unknown";
    const fwd = request.headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", fwd ? `${fwd}, ${peer}` : peer);
    // the owner knows the request comes from a router of this deployment (which has applied the
    // lockout and limits) and who the client is
    headers.set(INTERNAL_HEADER, internalToken);
    headers.set(CLIENT_HEADER, k.clientOf(request, server).ip);
    try {
      // the JSON parser has read the body already (and answered 400 if it was not JSON): pass its bytes on
      const body = request.method === "GET" || request.method === "HEAD" ? undefined : (rawBody(request) ?? (await request.arrayBuffer()));
      // the timeout covers the wait for the owner's answer, not the streaming of a long one (a CSV export)
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException("upstream timeout", "TimeoutError")), timeoutMs);
      let res: Response;
      try {
        res = await fetch(base + path + query(request.url), { method: request.method, headers, body, signal: abort.signal, redirect: "manual" });
      } finally {
        clearTimeout(timer);
      }
      const out = new Headers();
      for (const h of ["content-type", "retry-after", "cache-control", "content-disposition", "idempotent-replayed"]) {
        const v = res.headers.get(h);
        if (v) out.set(h, v);
      }
      return new Response(res.status === 204 ? null : res.body, { status: res.status, headers: out });
    } catch (e) {
      // A POST that may have reached its owner (a timeout, a connection dropped mid-request) may have
      // taken effect — an issue may have issued: only a connection never made is safe to retry.
      if (request.method === "POST" && !neverSent(e)) {
        set.status = 504;
        return errorBody("outcome_unknown", "the upstream server did not answer in time; the request may have taken effect (for an issue, GET /api/events/:id/coupon tells)");
      }
      set.status = 503;
      return errorBody("upstream_unavailable", "an upstream server is unavailable, try again shortly");
    }
  };
  const rest = (prefix: string, raw: string | undefined) => (raw !== undefined && PLAIN_REST.test(raw) ? prefix + raw : null);
  const hidden = { detail: { hide: true } };
  // the owner checks each route's own scope; the router lets any valid credential through to it
  const hiddenAdmin = { detail: { hide: true, ...needsScope(FORWARDED) } };
  const queuePath = (c: { params: { id: string } }) => `/api/events/${segment(c.params.id)}/queue`;
  const queueRoutes = new Elysia()
    .get("/api/events/:id/queue", (c) => forward(up.queue, queuePath(c), c as Ctx), hidden)
    .delete("/api/events/:id/queue", (c) => forward(up.queue, queuePath(c), c as Ctx), hidden);
  const issueRoute = new Elysia().post("/api/events/:id/issue", (c) => forward(up.coupon, `/api/events/${segment(c.params.id)}/issue`, c as Ctx), hidden);
  return new Elysia({ name: "forward" })
    .use(up.queue ? queueRoutes : new Elysia())
    .use(up.coupon ? issueRoute : new Elysia())
    .all("/api/*", (c) => forward(up.coupon, rest("/api/", c.params["*"]), c as Ctx), hidden)
    .guard(adminGuard(auth), (admin) => admin.all("/admin/*", (c) => forward(up.coupon, rest("/admin/", c.params["*"]), c as Ctx), hiddenAdmin));
};

/** A split router documents the coupon role's routes it forwards: the same route schemas, no handlers behind them. */
export const forwardedDocs = (k: Kernel) => () =>
  k.roles.remoteCoupon ? [describeRoutes([eventRoutes, couponRoutes, redemptionRoutes, deadLetterRoutes, auditRoutes, webhookRoutes, grantRoutes, keyRoutes].flatMap((table) => Object.values(table)))] : [];
