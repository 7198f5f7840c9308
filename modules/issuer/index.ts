import { Elysia } from "elysia";
import type { Kernel } from "../../src/kernel";
import { IssuerService } from "./service";

/**
 * The issuer role: persists the coupons' streams into MySQL, from the server's start until its stop,
 * when it finishes (persists and acks) the batch in hand. It counts its batches and dead letters;
 * a batch it persisted may have queued a webhook delivery, so it tells the dispatcher to look now.
 */
export function issuerModule(k: Kernel) {
  const { config, metrics } = k;
  const issuer = (k.parts.issuer = new IssuerService(k.redis, k.mysql!, config.keyPrefix, k.listEvents, config.issuer));
  issuer.onBatch = (rows) => {
    metrics.issuerBatch(rows);
    k.parts.webhooks?.poke();
  };
  // the issuer logs each dead letter with its reason itself
  issuer.onDeadLetter = (reason) => metrics.issuerDeadLettered(reason);
  k.lifecycle.start(() => issuer.start());
  k.lifecycle.stop(() => issuer.stop());
  return new Elysia({ name: "issuer" });
}
