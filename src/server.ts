import { Elysia } from "elysia";
import { authentication } from "./auth";
import { errors, routedAsSent } from "./http";
import type { Kernel } from "./kernel";
import type { Metrics } from "./metrics";

/** The root's options (bench/hooks.ts builds its bare app with the same ones). */
export const ROOT_OPTIONS = {
  // reject unknown fields instead of silently dropping them (bad input is a 4xx, never a partial change)
  normalize: false,
  // compile every route's handler at start, not on its first request (the first second of a rush);
  // no schema transforms its value, so encoding replies would be pure overhead
  precompile: true,
  encodeSchema: false,
  // the limit is ours (413/411 as JSON in `errors`, before any body is read); Bun's would answer with an empty body
  serve: { maxRequestBodySize: Number.MAX_SAFE_INTEGER },
  // Elysia's own router finds the path after "http://<host>"; by default it assumes a host of at
  // least four characters and cuts "http://x/api/…" wrong
  handler: { standardHostname: false },
} as const;

// A request's start time rides on its `set` (one object per request, from onRequest to
// afterResponse; a symbol key, which no code that walks `set` sees). A WeakMap keyed by the Request
// cost ~1.5 µs more per request, a property on the whole context ~1 µs (it makes Elysia's
// inference assume the hook reads everything): bench/hooks.ts and the notes in docs/capacity.md.
const STARTED = Symbol("startedAt");
type Timed = { [STARTED]?: number };

/** Every request's latency and count, by method, route pattern and status. */
export function httpTiming(metrics: Pick<Metrics, "observeHttp">) {
  return new Elysia({ name: "http-timing" })
    .onRequest(({ set }) => void ((set as Timed)[STARTED] = performance.now()))
    .onAfterResponse({ as: "global" }, ({ request, route, set }) => {
      const t0 = (set as Timed)[STARTED];
      if (t0 === undefined) return;
      metrics.observeHttp(request.method, route || "unmatched", String(set.status ?? 200), (performance.now() - t0) / 1000);
    });
}

/**
 * The root every module is mounted on: what holds for every route of every role (the error shape,
 * the body limit, the bearer token verified once, the HTTP metrics).
 */
export function server(k: Pick<Kernel, "metrics" | "tickets" | "auth"> & { config: Pick<Kernel["config"], "maxBodyBytes"> }) {
  return (
    new Elysia(ROOT_OPTIONS)
      .use(httpTiming(k.metrics))
      .use(routedAsSent())
      .use(errors(k.config.maxBodyBytes))
      // before every route: verifies the bearer token once, so handlers and limits read it from memory
      // (a waiting ticket is not a user token: its routes verify it themselves, modules/queue/ticket.ts)
      .use(authentication({ authenticate: (h) => void (k.tickets.carries(h) || k.auth.authenticate(h)) }))
  );
}
