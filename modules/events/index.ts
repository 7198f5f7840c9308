import { Elysia } from "elysia";
import { adminGuard, type Auth } from "../../src/auth";
import { SECURITY } from "../../src/docs";
import {
  AdminEvent,
  CreateEventBody,
  Err,
  EventIdParams,
  EventList,
  EventStats,
  IssuesPage,
  IssuesQuery,
  ListEventsQuery,
  parseEventId,
  PatchEventBody,
  PublicEvent,
  queryInt,
  statusFilter,
} from "./model";
import { notFound, type EventService } from "./service";
import type { Winners } from "./winners";

const adminDoc = { tags: ["admin"], security: SECURITY.admin };
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
  detail: { ...adminDoc, operationId, summary },
});

/**
 * Public event info and the admin API (owned by the coupon role). Where a router runs in the same
 * process it answers the public info from its view of the event (`publicInfo` false here).
 */
export const eventsModule = (events: EventService, winners: Winners, auth: Auth, publicInfo = true) =>
  new Elysia({ name: "events" })
    .use((app) =>
      publicInfo
        ? app.get("/api/events/:id", ({ params }) => events.publicView(eventId(params.id)), {
            params: EventIdParams,
            response: { 200: PublicEvent, 404: notFound404, 503: unavailable },
            detail: { operationId: "getEvent", tags: ["user"], security: SECURITY.public, summary: "Public event info (no token)" },
          })
        : app,
    )
    .guard(adminGuard(auth), (admin) =>
      admin
        .get(
          "/admin/events",
          ({ query }) =>
            events.list({
              status: statusFilter(query.status),
              limit: queryInt(query.limit, 20, 100, "limit"),
              after: query.after === undefined ? undefined : queryInt(query.after, 0, 2 ** 31 - 1, "after"),
            }),
          {
            query: ListEventsQuery,
            response: { 200: EventList, 400: Err("bad_request"), 401: unauthorized, 503: unavailable },
            detail: { ...adminDoc, operationId: "listEvents", summary: "List events, newest first, optionally of one status; page with `after` = the previous page's `next`" },
          },
        )
        .post(
          "/admin/events",
          async ({ body, set }) => {
            set.status = 201;
            return events.create(body);
          },
          {
            body: CreateEventBody,
            response: { 201: AdminEvent, ...bodyErrors, 401: unauthorized, 503: unavailable },
            detail: { ...adminDoc, operationId: "createEvent", summary: "Create an event" },
          },
        )
        .get("/admin/events/:id", ({ params }) => events.stats(eventId(params.id)), {
          params: EventIdParams,
          response: { 200: EventStats, 401: unauthorized, 404: notFound404, 503: unavailable },
          detail: { ...adminDoc, operationId: "getEventStats", summary: "Event stats: issued, persisted, pending, dead, waiting, running, request and admission rates, why admission stalls, webhook deliveries" },
        })
        .patch("/admin/events/:id", ({ params, body }) => events.patch(eventId(params.id), body), {
          params: EventIdParams,
          body: PatchEventBody,
          response: { 200: AdminEvent, ...bodyErrors, 401: unauthorized, 404: notFound404, 503: unavailable },
          detail: { ...adminDoc, operationId: "updateEvent", summary: "Change trafficRpm, runningCapacity, admitPerSecond, maxWaiting, endsAt, couponValidUntil or webhookUrl at run time" },
        })
        .post("/admin/events/:id/pause", ({ params }) => events.control(eventId(params.id), "pause"), control("pauseEvent", ["event_ended"], "Pause: nobody new is admitted; the line keeps its order and still takes newcomers; admitted users may still issue"))
        .post("/admin/events/:id/resume", ({ params }) => events.control(eventId(params.id), "resume"), control("resumeEvent", ["event_ended"], "Resume admission after a pause"))
        .post("/admin/events/:id/close", ({ params }) => events.control(eventId(params.id), "close"), control("closeEvent", ["event_ended"], "Close now: ends the event; waiters are told it closed"))
        .delete("/admin/events/:id", ({ params }) => events.control(eventId(params.id), "cancel"), control("cancelEvent", ["not_scheduled"], "Cancel a scheduled event (409 once it has started: close it instead)"))
        .get(
          "/admin/events/:id/issues",
          async ({ params, query, request }) => {
            const id = eventId(params.id);
            if (!wantsCsv(request.headers.get("accept"))) return winners.page(id, query.after, queryInt(query.limit, 100, 1000, "limit"));
            // a Response is sent as it is (the 200 schema describes the JSON form)
            return new Response(await winners.csv(id), {
              headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="event-${id}-winners.csv"`, "cache-control": "no-store" },
            }) as never;
          },
          {
            params: EventIdParams,
            query: IssuesQuery,
            response: { 200: IssuesPage, 400: Err("bad_request"), 401: unauthorized, 404: notFound404, 503: unavailable },
            detail: {
              ...adminDoc,
              operationId: "listWinners",
              summary: "Winners in the order issued: JSON pages (`after` = the previous `next`), or with `Accept: text/csv` every row as CSV, streamed",
              responses: {
                200: {
                  description: "a page of winners; with `Accept: text/csv`, every winner as CSV (header line `userId,code,issuedAt,redeemedAt,orderId`), whatever `after` and `limit` say",
                  content: { "text/csv": { schema: { type: "string" } } },
                },
              },
            },
          },
        )
        .post(
          "/admin/events/:id/restore",
          async ({ params }) => {
            const id = eventId(params.id);
            if (!(await events.reconcile(id))) throw notFound();
            return events.stats(id);
          },
          {
            params: EventIdParams,
            response: { 200: EventStats, 401: unauthorized, 404: notFound404, 503: unavailable },
            detail: { ...adminDoc, operationId: "restoreEvent", summary: "Reconcile the event's Redis state with MySQL and its streams now (it also happens on every start and reconnect): never raises remaining stock" },
          },
        ),
    );
