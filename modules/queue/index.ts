import { cron } from "@elysiajs/cron";
import { Elysia } from "elysia";
import type { AdmissionScheduler } from "./scheduler";

/**
 * The waiting room's admission scheduler. Its user routes (enter, poll, leave) are the router's
 * (modules/router), which answers what its view of the event knows and calls the waiting room
 * (QueueApi: in process, or /internal over HTTP) for the rest.
 */
export const queueModule = (scheduler: AdmissionScheduler | null, cronPattern: string) => {
  const app = new Elysia({ name: "queue" });
  if (!scheduler) return app;
  // ticks only while the server runs: from listen() until Elysia stop(), never while the app is being composed
  return app
    .use(cron({ name: "admission-scheduler", pattern: cronPattern, protect: true, paused: true, run: () => scheduler.tick().catch((e) => console.error("scheduler tick failed:", e?.message ?? e)) }))
    .onStart(({ store }) => void store.cron["admission-scheduler"].resume())
    .onStop(({ store }) => store.cron["admission-scheduler"].stop());
};
