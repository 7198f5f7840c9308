import { cron } from "@elysiajs/cron";
import { Elysia } from "elysia";
import type { Auth } from "../../src/auth";
import { eventId } from "../events";
import { ErrorReply, EventIdParams, refusal } from "../events/model";
import { PollReply, type PollResult, type QueueEnded, type QueueState } from "./model";
import type { AdmissionScheduler } from "./scheduler";
import type { QueueService } from "./service";

const doc = { tags: ["user"], security: [{ bearer: [] }] };

function pollReply(r: PollResult): QueueState | QueueEnded {
  switch (r.status) {
    case "event_not_found":
    case "not_in_queue":
      throw refusal(r.status);
    default:
      return r;
  }
}

/** The waiting room's user routes and its admission scheduler. */
export const queueModule = (queue: QueueService, auth: Auth, scheduler: AdmissionScheduler | null, cronPattern: string) => {
  const app = new Elysia({ name: "queue" })
    .get("/api/events/:id/queue", async ({ params, request }) => pollReply(await queue.poll(eventId(params.id), auth.user(request.headers.get("authorization")))), {
      params: EventIdParams,
      response: { 200: PollReply, 401: ErrorReply, 404: ErrorReply },
      detail: { ...doc, summary: "Poll your place: waiting (position, ETA, when to poll again), admitted, or the event ended" },
    })
    .delete("/api/events/:id/queue", async ({ params, request, set }) => {
      const user = auth.user(request.headers.get("authorization"));
      await queue.leave(eventId(params.id), user);
      set.status = 204;
    }, {
      params: EventIdParams,
      response: { 401: ErrorReply, 404: ErrorReply },
      detail: { ...doc, summary: "Leave the line or give up the running slot" },
    });
  if (!scheduler) return app;
  // ticks only while the server runs: from listen() until Elysia stop(), never while the app is being composed
  return app
    .use(cron({ name: "admission-scheduler", pattern: cronPattern, protect: true, paused: true, run: () => scheduler.tick().catch((e) => console.error("scheduler tick failed:", e?.message ?? e)) }))
    .onStart(({ store }) => void store.cron["admission-scheduler"].resume())
    .onStop(({ store }) => store.cron["admission-scheduler"].stop());
};
