import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";
import { join } from "node:path";
import { couponModule } from "../modules/coupon";
import { DbLockCouponService, RedisCouponService } from "../modules/coupon/service";
import { eventsModule } from "../modules/events";
import { eventIds, EventService } from "../modules/events/service";
import { IssuerService } from "../modules/issuer/service";
import { queueModule } from "../modules/queue";
import { AdmissionScheduler } from "../modules/queue/scheduler";
import { QueueService } from "../modules/queue/service";
import { routerModule } from "../modules/router";
import { RateMeter } from "../modules/router/rate";
import { createAuth } from "./auth";
import type { Config } from "./config";
import { connectMysql, migrateDatabase, type Mysql } from "./db";
import { errors } from "./http";
import { createRedis, defineScripts } from "./redis";

const MODULES = join(import.meta.dir, "..", "modules");

/**
 * Composes the process: one Redis client, MySQL when a role needs it, and the modules its roles
 * own. In ROLE=all every module talks to the others in process.
 */
export async function createApp(config: Config) {
  const has = (r: string) => config.roles.has(r as never);
  const redis = createRedis(config);
  for (const m of ["events", "queue", "router", "coupon"]) defineScripts(redis, join(MODULES, m));

  const needsMysql = has("coupon") || has("issuer");
  let mysql: Mysql | null = null;
  if (needsMysql) {
    await migrateDatabase(config.databaseUrl);
    mysql = connectMysql(config.databaseUrl);
  }

  const auth = createAuth(config.jwtSecret, config.adminToken);
  const events = mysql ? new EventService(redis, mysql, config.keyPrefix) : null;
  const listEvents = () => eventIds(redis, config.keyPrefix);
  const queue = new QueueService(redis, config.keyPrefix, config.queue);
  const meter = new RateMeter(redis, config.keyPrefix, config.router.rateFlushMs);
  const scheduler = has("queue") && config.queue.schedulerEnabled ? new AdmissionScheduler(queue, listEvents) : null;
  const issuer = has("issuer") && config.issuer.enabled && mysql ? new IssuerService(redis, mysql, config.keyPrefix, listEvents, config.issuer) : null;

  const app = new Elysia({ serve: { maxRequestBodySize: config.maxBodyBytes * 4 } })
    .use(errors(config.maxBodyBytes))
    .use(
      swagger({
        path: "/swagger",
        documentation: {
          info: { title: "massive coupon", version: "0.1.0", description: "First-come-first-served coupon events: router, waiting room, coupon API, issuer." },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
        },
      }),
    )
    .get("/health/live", () => ({ status: "ok" }), { detail: { tags: ["ops"] } })
    .get(
      "/health/ready",
      async ({ set }) => {
        const checks: Record<string, string> = {};
        try {
          await redis.ping();
          checks.redis = "ok";
        } catch (e) {
          checks.redis = String((e as Error).message);
        }
        if (mysql) {
          try {
            await mysql.pool.query("SELECT 1");
            checks.mysql = "ok";
          } catch (e) {
            checks.mysql = String((e as Error).message);
          }
        }
        const ok = Object.values(checks).every((v) => v === "ok");
        if (!ok) set.status = 503;
        return ok ? { status: "ready", checks } : { error: "not_ready", message: JSON.stringify(checks) };
      },
      { detail: { tags: ["ops"] } },
    );

  if (has("router")) app.use(routerModule(queue, meter, auth));
  if (has("queue")) app.use(queueModule(queue, auth, scheduler, config.queue.schedulerCron));
  if (has("coupon") && events && mysql) {
    const coupons =
      config.issueStrategy === "db-lock"
        ? new DbLockCouponService(redis, mysql, events, config.keyPrefix)
        : new RedisCouponService(redis, mysql, events, config.keyPrefix, config.queue.slotTtlMs);
    app.use(eventsModule(events, auth)).use(couponModule(coupons, auth));
  }

  let server: ReturnType<typeof app.listen> | null = null;
  return {
    app,
    redis,
    mysql,
    queue,
    scheduler,
    issuer,
    events,
    async start(port = config.port) {
      if (events) await events.loadAll();
      if (has("router")) meter.start();
      issuer?.start();
      server = app.listen({ port, hostname: process.env.HOST || "0.0.0.0" });
      return app.server!.port as number;
    },
    /** Graceful: stop taking requests, let in-flight ones finish, let the issuer ack its batch. */
    async stop() {
      await app.server?.stop(false);
      meter.stop();
      await issuer?.stop();
      await mysql?.close().catch(() => {});
      redis.disconnect();
      server = null;
    },
  };
}
