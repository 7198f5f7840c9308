import { Elysia, t, type AnyElysia } from "elysia";
import { bearerIs } from "../../src/auth";
import { SECURITY } from "../../src/docs";
import { ApiError } from "../../src/http";
import type { Kernel } from "../../src/kernel";
import { startPings } from "../../src/metrics-sources";
import { Err } from "../events/model";
import { docs } from "./docs";

// the readiness answer is at most this old (contract, "Hardening")
const READY_CHECK_MS = 1000;

const ReadyChecks = t.Object(
  { redis: t.String(), mysql: t.Optional(t.String()), events: t.Optional(t.String({ description: "events whose Redis state could not be reconciled (they sell nothing)" })) },
  { description: "`ok` or `down` per dependency" },
);

/**
 * What every process serves to its operators: liveness, readiness, Prometheus metrics (and the
 * periodic Redis and MySQL pings behind `coupon_redis_up` / `coupon_mysql_up`), and the API docs.
 * `forwarded`: the routes a split router passes on to their owner, documented as its own.
 */
export function opsModule(k: Kernel, forwarded: () => AnyElysia[]) {
  const { redis, mysql, reconciler, metrics } = k;
  const metricsToken = k.config.metricsToken ? Buffer.from(k.config.metricsToken) : null;
  let stopPings = () => {};
  k.lifecycle.start(() => void (stopPings = startPings(redis, mysql, metrics)));
  k.lifecycle.stop(() => stopPings());

  // "down", never the client's own error text: that can carry addresses and credentials
  const ping = (p: () => Promise<unknown>) => p().then(
    () => "ok",
    () => "down",
  );
  // One check at a time, its answer shared for a second: a flood of anonymous readiness probes costs
  // Redis and MySQL one ping each a second, never one per request.
  let lastCheck: { at: number; result: Promise<[string, string | null]> } | null = null;
  const dependencies = () => {
    const now = Date.now();
    if (!lastCheck || now - lastCheck.at >= READY_CHECK_MS) lastCheck = { at: now, result: Promise.all([ping(() => redis.ping()), mysql && ping(() => mysql!.pool.query("SELECT 1"))]) };
    return lastCheck.result;
  };

  return new Elysia({ name: "ops" })
    .use(k.config.swagger ? docs(forwarded) : new Elysia())
    .get("/health/live", () => ({ status: "ok" as const }), {
      response: { 200: t.Object({ status: t.Literal("ok") }, { $id: "Live", description: "the process is up" }) },
      detail: { tags: ["ops"], operationId: "getLiveness", security: SECURITY.public, summary: "Liveness: the process answers" },
    })
    .get(
      "/health/ready",
      async ({ set }) => {
        const [redisCheck, mysqlCheck] = await dependencies();
        const checks: { redis: string; mysql?: string; events?: string } = { redis: redisCheck };
        if (mysqlCheck) checks.mysql = mysqlCheck;
        // events whose Redis state could not be reconciled sell nothing; the process still serves the rest
        const failed = reconciler ? [...reconciler.failures.keys()] : [];
        if (failed.length) checks.events = `not reconciled: ${failed.slice(0, 20).join(", ")}`;
        const down = (["redis", "mysql"] as const).filter((k) => k in checks && checks[k] !== "ok");
        if (!down.length) return { status: "ready" as const, checks };
        set.status = 503;
        return { error: "not_ready" as const, message: `${down.join(", ")} unavailable`, checks };
      },
      {
        response: {
          200: t.Object({ status: t.Literal("ready"), checks: ReadyChecks }, { $id: "Ready", description: "Redis and, for roles that need it, MySQL are reachable" }),
          503: t.Object({ error: t.Literal("not_ready"), message: t.String(), checks: ReadyChecks }, { $id: "NotReady", description: "`not_ready`: the message names what is down" }),
        },
        detail: { tags: ["ops"], operationId: "getReadiness", security: SECURITY.public, summary: "Readiness: Redis and, for roles that need it, MySQL reachable" },
      },
    )
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = metrics.registry.contentType;
        return metrics.registry.metrics();
      },
      {
        transform: ({ request }) => {
          if (metricsToken && !bearerIs(request.headers.get("authorization"), metricsToken)) throw new ApiError(401, "unauthorized", "metrics token required");
        },
        response: { 200: t.String({ description: "Prometheus text exposition format" }), 401: Err("unauthorized") },
        detail: { tags: ["ops"], operationId: "getMetrics", security: SECURITY.metrics, summary: "Prometheus metrics (Authorization: Bearer <METRICS_TOKEN> when that is set)" },
      },
    );
}
