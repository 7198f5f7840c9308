import { auditModule } from "../modules/audit";
import { couponModule } from "../modules/coupon";
import { eventsModule } from "../modules/events";
import { grantsModule } from "../modules/grants";
import { issuerModule } from "../modules/issuer";
import { keysModule } from "../modules/keys";
import { deadLettersModule } from "../modules/issuer/dead-letters";
import { opsModule } from "../modules/ops";
import { queueModule } from "../modules/queue";
import { redemptionModule } from "../modules/redemption";
import { routerModule } from "../modules/router";
import { forwardedDocs, forwardModule } from "../modules/router/forward";
import { webModule } from "../modules/web";
import { webhookAdminModule, webhooksModule } from "../modules/webhooks";
import { assertAdminGuarded } from "./auth";
import type { Config } from "./config";
import { createKernel } from "./kernel";
import { raiseListenBacklog } from "./listen-backlog";
import { server } from "./server";

/**
 * Composes the process from its roles: which modules each role mounts, in this order (the order of
 * their routes and of their start and stop steps). Every module wires itself from the kernel. A
 * router without a local queue or coupon module reaches them through QUEUE_URL / COUPON_URL; in
 * ROLE=all every module talks to the others in process and nothing goes over HTTP.
 */
export async function createApp(config: Config) {
  const k = await createKernel(config);
  const { has, serves, remoteQueue, remoteCoupon } = k.roles;
  const app = server(k).use(opsModule(k, forwardedDocs(k)));
  try {
    if (has("router")) app.use(routerModule(k)).use(webModule(config));
    if (serves("queue")) app.use(queueModule(k));
    if (serves("coupon")) app.use(eventsModule(k)).use(couponModule(k)).use(redemptionModule(k)).use(deadLettersModule(k)).use(auditModule(k)).use(webhookAdminModule(k)).use(grantsModule(k)).use(keysModule(k));
    if (remoteQueue || remoteCoupon) app.use(forwardModule(k));
    if (has("issuer") && config.issuer.enabled) app.use(issuerModule(k)).use(await webhooksModule(k));
    assertAdminGuarded(app.routes, k.auth);
  } catch (e) {
    await k.close();
    throw e;
  }

  const { auth, redis, issueRedis, reconciler, mysql, queue, tickets, events, metrics } = k;
  return {
    app,
    ...{ auth, redis, issueRedis, reconciler, mysql, queue, tickets, events, metrics },
    ...k.parts,
    async start(port = config.port) {
      await k.lifecycle.runStart();
      app.listen({ port, hostname: process.env.HOST || "0.0.0.0", reusePort: config.reusePort });
      raiseListenBacklog(app.server!.port as number, config.listenBacklog);
      return app.server!.port as number;
    },
    /** Graceful: stop taking requests, let in-flight ones finish, let the issuer ack its batch. */
    async stop() {
      await app.stop(false);
      await k.lifecycle.runStop();
      await k.close();
    },
  };
}
