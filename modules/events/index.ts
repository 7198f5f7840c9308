import { Elysia } from "elysia";
import { adminGuard, needsScope, type Scope } from "../../src/auth";
import { route, SECURITY } from "../../src/docs";
import { RateLimited } from "../../src/ratelimit";
import type { Kernel } from "../../src/kernel";
import {
  AdminEvent,
  CreateEventBody,
  Err,
  EventIdParams,
  EventList,
  EventStats,
  History,
  HistoryQuery,
  IssuesPage,
  IssuesQuery,
  ListEventsQuery,
  parseEventId,
  PatchEventBody,
  PublicEvent,
  queryInt,
  statusFilter,
} from "./model";
import { changed } from "../audit";
import { Idempotency, idempotencyKey } from "../../src/idempotency";
import { IdempotencyHeaders } from "../grants/model";
import type { ControlAction } from "./controls";
import { HISTORY_MAX_SECONDS, HistoryRecorder, readHistory } from "./history";
import { notFound } from "./service";
import { Winners } from "./winners";

// every admin route declares the scope a key needs for it (src/auth.ts needsScope)
const adminDoc = (scope: Scope) => ({ tags: ["admin"], ...needsScope(scope) });
const unauthorized = Err("unauthorized");
const notFound404 = Err("event_not_found");
const unavailable = Err("unavailable");
// a body: the JSON parser's and the size limit's refusals
const bodyErrors = { 400: Err("bad_request", "invalid_json"), 411: Err("length_required"), 413: Err("payload_too_large") };

export function eventId(raw: string): number {
  const id = parseEventId(raw);
  if (id === null) throw notFound();
  return id;
}

// CSV when the client asks for it (curl -H 'Accept: text/csv', a spreadsheet import), JSON otherwise
const wantsCsv = (accept: string | null) => !!accept && /(^|,)\s*text\/csv\s*(;|,|$)/i.test(accept);

const control = (operationId: string, conflict: Parameters<typeof Err>, summary: string) => ({
  params: EventIdParams,
  response: { 200: AdminEvent, 401: unauthorized, 404: notFound404, 409: Err(...conflict), 503: unavailable },
  detail: { ...adminDoc("events:write"), operationId, summary },
});

/** The public event info route (a router in the same process answers it from its view instead). */
export const publicEventRoute = route("GET", "/api/events/:id", {
  params: EventIdParams,
  response: { 200: PublicEvent, 404: notFound404, 429: RateLimited, 503: unavailable },
  detail: { operationId: "getEvent", tags: ["user"], security: SECURITY.public, summary: "Public event info (no token)" },
});

/** The admin API's routes, schemas and docs (a split router documents them as it forwards them). */
export const eventRoutes = {
  list: route("GET", "/admin/events", {
    query: ListEventsQuery,
    response: { 200: EventList, 400: Err("bad_request"), 401: unauthorized, 503: unavailable },
    detail: { ...adminDoc("events:read"), operationId: "listEvents", summary: "List events, newest first, optionally of one status; page with `after` = the previous page's `next`" },
  }),
  create: route("POST", "/admin/events", {
    headers: IdempotencyHeaders,
    body: CreateEventBody,
    response: { 201: AdminEvent, ...bodyErrors, 401: unauthorized, 409: Err("request_in_progress"), 422: Err("idempotency_key_reused"), 503: unavailable },
    detail: { ...adminDoc("events:write"), operationId: "createEvent", summary: "Create an event; with an Idempotency-Key, a retry (same key and body within 24 h) gets the same reply and creates nothing" },
  }),
  stats: route("GET", "/admin/events/:id", {
    params: EventIdParams,
    response: { 200: EventStats, 401: unauthorized, 404: notFound404, 503: unavailable },
    detail: { ...adminDoc("events:read"), operationId: "getEventStats", summary: "Event stats: issued, persisted, pending, dead, waiting, running, request and admission rates, why admission stalls, webhook deliveries" },
  }),
  patch: route("PATCH", "/admin/events/:id", {
    params: EventIdParams,
    body: PatchEventBody,
    response: { 200: AdminEvent, ...bodyErrors, 401: unauthorized, 404: notFound404, 409: Err("not_scheduled", "stock_below_issued"), 503: unavailable },
    detail: {
      ...adminDoc("events:write"),
      operationId: "updateEvent",
      summary: "Change an event live: name, message, stock (not below what is promised; raising it reopens a sold-out event), startsAt/queueOpensAt (while scheduled), trafficRpm, runningCapacity, admitPerSecond, maxWaiting, endsAt, couponValidUntil, webhookUrl, brand, botGate, slotSeconds, graceSeconds, claim (while scheduled). Every router applies it within a flush; each change is in the audit trail",
    },
  }),
  pause: route("POST", "/admin/events/:id/pause", control("pauseEvent", ["event_ended"], "Pause: nobody new is admitted; the line keeps its order and still takes newcomers; admitted users may still issue")),
  resume: route("POST", "/admin/events/:id/resume", control("resumeEvent", ["event_ended"], "Resume admission after a pause")),
  close: route("POST", "/admin/events/:id/close", control("closeEvent", ["event_ended"], "Close now: ends the event; waiters are told it closed")),
  cancel: route("DELETE", "/admin/events/:id", control("cancelEvent", ["not_scheduled"], "Cancel a scheduled event (409 once it has started: close it instead)")),
  winners: route("GET", "/admin/events/:id/issues", {
    params: EventIdParams,
    query: IssuesQuery,
    response: { 200: IssuesPage, 400: Err("bad_request"), 401: unauthorized, 404: notFound404, 503: unavailable },
    detail: {
      ...adminDoc("events:read"),
      operationId: "listWinners",
      summary: "Winners in the order issued: JSON pages (`after` = the previous `next`), or with `Accept: text/csv` every row as CSV, streamed",
      responses: {
        200: {
          description: "a page of winners; with `Accept: text/csv`, every winner as CSV (header line `userId,code,issuedAt,redeemedAt,orderId`), whatever `after` and `limit` say",
          content: { "text/csv": { schema: { type: "string" as const } } },
        },
      },
    },
  }),
  history: route("GET", "/admin/events/:id/history", {
    params: EventIdParams,
    query: HistoryQuery,
    response: { 200: History, 400: Err("bad_request"), 401: unauthorized, 404: notFound404, 503: unavailable },
    detail: { ...adminDoc("events:read"), operationId: "getEventHistory", summary: "The event's numbers (issued, waiting, running, admission and request rates) over the last `seconds` (≤ 86,400), sampled on the server every HISTORY_STEP_MS: what the admin chart draws" },
  }),
  restore: route("POST", "/admin/events/:id/restore", {
    params: EventIdParams,
    response: { 200: EventStats, 401: unauthorized, 404: notFound404, 503: unavailable },
    detail: { ...adminDoc("events:write"), operationId: "restoreEvent", summary: "Reconcile the event's Redis state with MySQL and its streams now (it also happens on every start and reconnect): never raises remaining stock" },
  }),
  releaseUnaccounted: route("POST", "/admin/events/:id/release-unaccounted", {
    params: EventIdParams,
    response: { 200: EventStats, 401: unauthorized, 404: notFound404, 503: unavailable },
    detail: {
      ...adminDoc("events:write"),
      operationId: "releaseUnaccountedUnits",
      summary:
        "Put back on sale the units gone with no user for them anywhere (`unaccounted` in the stats; the event sells nothing while it is above 0): reconciles the event, then sets remaining to stock − every user Redis, MySQL and the streams know. Whoever was promised one of those units holds a code no record has (docs/runbook.md)",
    },
  }),
};
const R = eventRoutes;

/**
 * Public event info and the admin API (owned by the coupon role). Where a router runs in the same
 * process it answers the public info from its view of the event.
 */
export function eventsModule(k: Kernel) {
  const events = k.events!;
  const winners = new Winners(k.mysql!);
  const { auth } = k;
  // every process with the events samples them for the chart; each step's sample is taken once
  const recorder = new HistoryRecorder(k.redis, k.config.keyPrefix, k.config.history.stepMs, () => events.ids());
  k.lifecycle.start(() => recorder.start());
  k.lifecycle.stop(() => recorder.stop());
  k.metrics.sources.reconcileFailures = () => events.reconcileFailures;
  const idempotency = new Idempotency(k.redis, k.config.keyPrefix);
  /** A switch, recorded with the status it found and the one it left. */
  const control = async (request: Request, id: number, action: ControlAction) => {
    const before = await events.ensureLoaded(id);
    const after = await events.control(id, action);
    await k.audit(request, { action, eventId: id, before: before && { status: events.adminView(before).status }, after: { status: after.status } });
    return after;
  };
  return new Elysia({ name: "events" })
    .use((app) => (k.roles.has("router") ? app : app.get(publicEventRoute.path, ({ params }) => events.publicView(eventId(params.id)), publicEventRoute.hook)))
    .guard(adminGuard(auth), (admin) =>
      admin
        .get(R.list.path, ({ query }) =>
          events.list({
            status: statusFilter(query.status),
            limit: queryInt(query.limit, 20, 100, "limit"),
            after: query.after === undefined ? undefined : queryInt(query.after, 0, 2 ** 31 - 1, "after"),
          }),
        R.list.hook)
        .post(R.create.path, async ({ body, set, request }) => {
          const who = auth.principal(request)!;
          const reply = await idempotency.run(idempotencyKey(request), "create", `${who.actor}:${who.keyId ?? 0}`, body, async () => {
            const created = await events.create(body);
            await k.audit(request, { action: "create", eventId: created.id, before: null, after: created });
            return { status: 201, body: created };
          });
          if (reply.replayed) set.headers["idempotent-replayed"] = "true";
          set.status = reply.status;
          return reply.body;
        }, R.create.hook)
        .get(R.stats.path, ({ params }) => events.stats(eventId(params.id)), R.stats.hook)
        .patch(R.patch.path, async ({ params, body, request }) => {
          const id = eventId(params.id);
          const before = await events.ensureLoaded(id);
          const after = await events.patch(id, body);
          await k.audit(request, { action: "patch", eventId: id, ...changed(Object.keys(body), before && events.adminView(before), after) });
          return after;
        }, R.patch.hook)
        .post(R.pause.path, ({ params, request }) => control(request, eventId(params.id), "pause"), R.pause.hook)
        .post(R.resume.path, ({ params, request }) => control(request, eventId(params.id), "resume"), R.resume.hook)
        .post(R.close.path, ({ params, request }) => control(request, eventId(params.id), "close"), R.close.hook)
        .delete(R.cancel.path, ({ params, request }) => control(request, eventId(params.id), "cancel"), R.cancel.hook)
        .get(R.winners.path, async ({ params, query, request }) => {
          const id = eventId(params.id);
          if (!wantsCsv(request.headers.get("accept"))) return winners.page(id, query.after, queryInt(query.limit, 100, 1000, "limit"));
          // a Response is sent as it is (the 200 schema describes the JSON form)
          return new Response(await winners.csv(id), {
            headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="event-${id}-winners.csv"`, "cache-control": "no-store" },
          }) as never;
        }, R.winners.hook)
        .get(R.history.path, async ({ params, query }) => {
          const id = eventId(params.id);
          const seconds = queryInt(query.seconds, 900, HISTORY_MAX_SECONDS, "seconds");
          if (!(await events.ensureLoaded(id))) throw notFound();
          return readHistory(k.redis, k.config.keyPrefix, id, seconds, k.config.history.stepMs);
        }, R.history.hook)
        .post(R.restore.path, async ({ params, request }) => {
          const id = eventId(params.id);
          if (!(await events.reconcile(id))) throw notFound();
          const stats = await events.stats(id);
          await k.audit(request, { action: "restore", eventId: id, before: null, after: { remaining: stats.remaining, issued: stats.issued } });
          return stats;
        }, R.restore.hook)
        .post(R.releaseUnaccounted.path, async ({ params, request }) => {
          const id = eventId(params.id);
          const before = await events.ensureLoaded(id);
          if (!before) throw notFound();
          const lost = await events.unaccounted(id, before);
          if (!(await events.releaseUnaccounted(id))) throw notFound();
          const stats = await events.stats(id);
          await k.audit(request, { action: "release_unaccounted", eventId: id, before: { remaining: Math.max(0, before.remaining), unaccounted: lost }, after: { remaining: stats.remaining, unaccounted: stats.unaccounted } });
          return stats;
        }, R.releaseUnaccounted.hook),
    );
}
