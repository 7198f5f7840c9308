import { Elysia } from "elysia";
import { adminGuard, type Auth } from "../../src/auth";
import { AdminEvent, CreateEventBody, ErrorReply, EventIdParams, EventStats, parseEventId, PatchEventBody, PublicEvent } from "./model";
import { notFound, type EventService } from "./service";

const adminDoc = { tags: ["admin"], security: [{ bearer: [] }] };

export function eventId(raw: string): number {
  const id = parseEventId(raw);
  if (id === null) throw notFound();
  return id;
}

/**
 * Public event info and the admin API (owned by the coupon role). Where a router runs in the same
 * process it answers the public info from its view of the event (`publicInfo` false here).
 */
export const eventsModule = (events: EventService, auth: Auth, publicInfo = true) =>
  new Elysia({ name: "events" })
    .use((app) =>
      publicInfo
        ? app.get("/api/events/:id", ({ params }) => events.publicView(eventId(params.id)), {
            params: EventIdParams,
            response: { 200: PublicEvent, 404: ErrorReply },
            detail: { tags: ["user"], summary: "Public event info (no token)" },
          })
        : app,
    )
    .guard(adminGuard(auth), (admin) =>
      admin
        .post(
          "/admin/events",
          async ({ body, set }) => {
            set.status = 201;
            return events.create(body);
          },
          {
            body: CreateEventBody,
            response: { 201: AdminEvent, 400: ErrorReply, 401: ErrorReply },
            detail: { ...adminDoc, summary: "Create an event" },
          },
        )
        .get("/admin/events/:id", ({ params }) => events.stats(eventId(params.id)), {
          params: EventIdParams,
          response: { 200: EventStats, 401: ErrorReply, 404: ErrorReply },
          detail: { ...adminDoc, summary: "Event stats: issued, persisted, pending, dead, waiting, running" },
        })
        .patch("/admin/events/:id", ({ params, body }) => events.patch(eventId(params.id), body), {
          params: EventIdParams,
          body: PatchEventBody,
          response: { 200: AdminEvent, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply },
          detail: { ...adminDoc, summary: "Change trafficRpm, runningCapacity, admitPerSecond or endsAt at run time" },
        })
        .post(
          "/admin/events/:id/restore",
          async ({ params }) => {
            const id = eventId(params.id);
            if (!(await events.reconcile(id))) throw notFound();
            return events.stats(id);
          },
          {
            params: EventIdParams,
            response: { 200: EventStats, 401: ErrorReply, 404: ErrorReply },
            detail: { ...adminDoc, summary: "Reconcile the event's Redis state with MySQL and its streams now (it also happens on every start and reconnect): never raises remaining stock" },
          },
        ),
    );
