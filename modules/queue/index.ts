import { cron } from "@elysiajs/cron";
import { Elysia } from "elysia";
import { connectMysql } from "../../src/db";
import type { Kernel } from "../../src/kernel";
import { EVENT_RETENTION_MS, Snapshot } from "../../src/metrics";
import { queueEventSource } from "../../src/metrics-sources";
import { createRedis, globalKeys } from "../../src/redis";
import { recordPromise } from "../coupon/mine";
import { BacklogBound } from "../issuer/backlog";
import { mysqlSeedRecord, PreQueueDraw } from "./draw";
import { queueInternalModule } from "./internal";
import { AdmissionScheduler } from "./scheduler";
import { recordedRunGate, TurnIssuer } from "./turn";

/**
 * The waiting room: its admission scheduler and pre-queue draw, its gauges, and (for a router in
 * another process) its QueueApi over HTTP. Its user routes (enter, poll, leave) are the router's
 * (modules/router), which answers what its view of the event knows and calls the waiting room
 * (QueueApi: in process, or /internal over HTTP) for the rest.
 */
export function queueModule(k: Kernel) {
  const { config, redis, queue, metrics } = k;
  const queueSource = queueEventSource(redis, config.keyPrefix, k.listEvents, EVENT_RETENTION_MS);
  metrics.sources.queue = new Snapshot(queueSource.read);
  k.exportLease("queue");
  queue.onAdmitted = (eventId, n, source) => {
    metrics.admitted(eventId, n, source);
    k.funnel.add(eventId, "admitted", n);
    if (source === "direct") k.funnel.add(eventId, "direct", n);
    queueSource.wake(eventId);
  };
  // an on_turn turn is an issuance, counted in the funnel's issued (the issued hash), never as admitted
  queue.onTurnIssued = (eventId, n) => {
    metrics.admitted(eventId, n, "on_turn");
    queueSource.wake(eventId);
  };
  queue.turns = turnIssuer(k);
  // the users' coupon index (GET /api/me/coupons lists a promise before its row exists)
  queue.turns.onIssued = async (eventId, issued) => {
    await Promise.all(issued.map(({ user, code }) => recordPromise(k.redis, config.keyPrefix, user, eventId, code)));
  };
  // a process with MySQL repairs it; a queue-only one asks the coupon processes (their tick) and issues
  // nobody on it meanwhile
  const repairs = globalKeys(config.keyPrefix).repairs;
  queue.turns.onKeysLost = k.events
    ? (eventId) => void k.events!.repairLoss(eventId, "the on_turn scheduler found fewer issued users than units gone")
    : (eventId) => void k.redis.sadd(repairs, String(eventId)).catch(() => {});
  // the scheduler's lapsed slots and waiters dropped for silence, and leaves: the funnel's other exits
  queue.onTicked = (eventId, r) => {
    k.funnel.add(eventId, "slotsLapsed", r.expired);
    k.funnel.add(eventId, "droppedSilent", r.stale);
  };
  queue.onLeft = (eventId) => k.funnel.add(eventId, "left");

  const app = new Elysia({ name: "queue" });
  if (!k.roles.has("queue")) return app;
  // the routers of a split deployment reach this waiting room over /internal, with INTERNAL_TOKEN (absent: not served)
  return app.use(config.queue.schedulerEnabled ? schedulerModule(k) : new Elysia()).use(config.internalToken ? queueInternalModule(queue, config.internalToken) : new Elysia());
}

/**
 * What issues on_turn events' coupons here: the issue route's strict connection and reconciliation
 * gate where this process sells too; in a queue process that does not, a strict connection of its
 * own, gated on the coupon processes' record of a reconciled Redis (turn.ts) and on the bound of
 * promises waiting for MySQL (ISSUE_BACKLOG_MAX_AGE_MS).
 */
function turnIssuer(k: Kernel): TurnIssuer {
  const { config } = k;
  if (k.issueRedis && k.reconciler) return new TurnIssuer(k.issueRedis, config.keyPrefix, k.reconciler.gate);
  const strict = createRedis(config, "turn", true);
  k.lifecycle.stop(() => void strict.disconnect());
  // and, like the issue route, no new promises while the oldest unpersisted one is too old
  const reconciled = recordedRunGate(strict, config.keyPrefix);
  const backlog = new BacklogBound(k.redis, config.keyPrefix, config.issueBacklogMaxAgeMs).check;
  return new TurnIssuer(strict, config.keyPrefix, async (id) => {
    await reconciled(id);
    await backlog(id);
  });
}

function schedulerModule(k: Kernel) {
  const { config, redis } = k;
  // the pre-queue draw keeps its seed in MySQL; a queue process without MySQL of its own gets a small
  // pool that connects on first use and is not part of its readiness (only a draw needs it)
  const drawMysql = k.mysql ?? connectMysql(config.databaseUrl, 2);
  if (drawMysql !== k.mysql) k.lifecycle.stop(() => drawMysql.close().catch(() => {}));
  const draw = (k.parts.draw = new PreQueueDraw(redis, config.keyPrefix, mysqlSeedRecord(drawMysql)));
  const settingsRev = globalKeys(config.keyPrefix).settingsRev;
  const scheduler = (k.parts.scheduler = new AdmissionScheduler(k.queue, k.listEvents, () => redis.get(settingsRev), draw));
  // ticks only while the server runs: from listen() until Elysia stop(), never while the app is being composed
  return new Elysia({ name: "admission-scheduler" })
    .use(cron({ name: "admission-scheduler", pattern: config.queue.schedulerCron, protect: true, paused: true, run: () => scheduler.tick().catch((e) => console.error("scheduler tick failed:", e?.message ?? e)) }))
    .onStart(({ store }) => void store.cron["admission-scheduler"].resume())
    .onStop(({ store }) => store.cron["admission-scheduler"].stop());
}
