import { Elysia } from "elysia";
import type { Auth } from "../../src/auth";
import { eventId } from "../events";
import { ErrorReply, EventIdParams, refusal } from "../events/model";
import { Admitted, Waiting, type QueueApi } from "../queue/model";
import type { RateMeter } from "./rate";

/**
 * The entry for every user: measures the event's live request rate and lets the waiting room
 * decide, atomically, between a running slot now and a place in line.
 */
export const routerModule = (queue: QueueApi, meter: RateMeter, auth: Auth) =>
  new Elysia({ name: "router" }).post(
    "/api/events/:id/enter",
    async ({ params, request, set }) => {
      const user = auth.user(request.headers.get("authorization"));
      const id = eventId(params.id);
      const r = await queue.enter(id, user, await meter.hit(id));
      if (r.status === "admitted") return r;
      if (r.status === "waiting") {
        set.status = 202;
        return r;
      }
      throw refusal(r.status);
    },
    {
      params: EventIdParams,
      response: { 200: Admitted, 202: Waiting, 401: ErrorReply, 404: ErrorReply, 409: ErrorReply, 410: ErrorReply },
      detail: {
        tags: ["user"],
        security: [{ bearer: [] }],
        summary: "Enter the event: admitted now, or a place in the waiting room",
        description: "Waits when anyone is waiting, the running queue is full, or the event's live request rate reaches trafficRpm. Idempotent.",
      },
    },
  );
