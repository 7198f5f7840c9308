import { Elysia, t } from "elysia";
import { Counter } from "prom-client";
import { join } from "node:path";
import type { Auth } from "../../src/auth";
import { SECURITY } from "../../src/docs";
import type { Kernel } from "../../src/kernel";
import type { RedisClient } from "../../src/redis";
import { eventId } from "../events";
import { Err, EventIdParams, Int, refusal } from "../events/model";
import { RateLimited } from "../../src/ratelimit";
import type { EventView } from "../router/view";
import { BotGate, type BotRefusal } from "./gate";
import { CSP } from "../web";

export { BotGate } from "./gate";

/** The header that carries the proof on POST /enter. */
export const PROOF_HEADER = "x-bot-proof";

/** The ALTCHA solver the pages' worker imports, served by this process (no CDN: the CSP allows only 'self'). */
const SOLVER = join(import.meta.dir, "../../node_modules/altcha/dist/lib/index.min.js");

const ChallengeReply = t.Object(
  {
    parameters: t.Object(
      {
        algorithm: t.String(),
        nonce: t.String(),
        salt: t.String(),
        cost: Int(),
        keyLength: Int(),
        keyPrefix: t.String(),
        keySignature: t.Optional(t.String()),
        expiresAt: t.Optional(Int({ description: "seconds since the epoch" })),
        data: t.Object({ e: Int({ description: "the event" }), u: t.String({ description: "the user" }), p: Int({ description: "the difficulty (botGate.pow)" }) }),
      },
      { additionalProperties: true },
    ),
    signature: t.Optional(t.String()),
  },
  {
    $id: "BotChallenge",
    description:
      "an ALTCHA (v2, deterministic SHA-256) challenge for this user at this event, valid 5 minutes: solve it and send base64(JSON {challenge, solution}) as X-Bot-Proof on POST /enter",
  },
);

/**
 * What the door asks of the gate on an enter of a gated event: true when the user may go on — a
 * fresh proof of this event and user, used up now on every router at once, or no proof needed
 * because they are already in the line (or pre-queue), hold a live slot or a coupon.
 */
export type BotCheckFn = (eventId: number, user: string, proof: string | null) => Promise<boolean>;

/**
 * Refusals counted per event for the funnel (`turnedAway.bot_check_failed`), in memory and added to
 * the event's funnel hash once per flush: a bot's refused request costs no Redis write of its own.
 */
class RefusalCounts {
  private counts = new Map<number, number>();
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}
  add(id: number) {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }
  async flush() {
    const counts = this.counts;
    if (!counts.size) return;
    this.counts = new Map();
    await Promise.all(
      [...counts].map(([id, n]) =>
        this.redis.hincrby(`${this.prefix}:{${id}}:funnel`, "bot_check_failed", n).catch(() => {
          // kept for the next flush rather than lost
          for (let i = 0; i < n; i++) this.add(id);
        }),
      ),
    );
  }
}

/**
 * The bot gate as the router mounts it: the challenge route, the solver's file, the check the
 * enter route calls, and its metric and funnel counts.
 */
export function botGateModule(k: Kernel, deps: { auth: Auth; view: EventView }) {
  const { config, redis, metrics } = k;
  const gate = new BotGate(config.botGateSecret, redis, config.keyPrefix);
  const checks = new Counter({
    name: "coupon_bot_checks_total",
    help: "Bot-gate checks of enters on gated events, by result: passed (a fresh proof), known (no proof needed: already in line or holding a slot or coupon), or why it was refused (missing, malformed, expired, mismatch: another event's or user's, invalid: forged or wrongly solved, replayed)",
    labelNames: ["result"],
    registers: [metrics.registry],
  });
  const results: (BotRefusal | "passed" | "known")[] = ["passed", "known", "missing", "malformed", "expired", "mismatch", "invalid", "replayed"];
  const children = Object.fromEntries(results.map((r) => [r, checks.labels(r)])) as Record<(typeof results)[number], { inc(): void }>;
  const refused = new RefusalCounts(redis, config.keyPrefix);
  const timer = { id: null as ReturnType<typeof setInterval> | null };
  k.lifecycle.start(() => {
    timer.id = setInterval(() => void refused.flush(), config.router.rateFlushMs);
  });
  k.lifecycle.stop(async () => {
    if (timer.id) clearInterval(timer.id);
    await refused.flush().catch(() => {});
  });

  const check: BotCheckFn = async (id, user, proof) => {
    const c = await gate.verify(id, user, proof);
    if (c.ok && (await gate.spend(c))) {
      children.passed.inc();
      return true;
    }
    if (await gate.known(id, user)) {
      children.known.inc();
      return true;
    }
    children[c.ok ? "replayed" : c.reason].inc();
    refused.add(id);
    return false;
  };

  const routes = new Elysia({ name: "bot-gate" })
    .get(
      "/api/events/:id/challenge",
      async ({ params, request }) => {
        const user = deps.auth.user(request.headers.get("authorization"));
        const id = eventId(params.id);
        const v = await deps.view.get(id);
        if (!v) throw refusal("event_not_found");
        if (!(v.botPow > 0)) throw refusal("no_bot_gate");
        // the challenge's data is always {e, u} (gate.ts): the reply's schema says so
        return (await gate.challenge(id, user, v.botPow)) as typeof ChallengeReply.static;
      },
      {
        params: EventIdParams,
        response: { 200: ChallengeReply, 401: Err("unauthorized"), 404: Err("event_not_found"), 409: Err("no_bot_gate"), 429: RateLimited, 503: Err("unavailable") },
        detail: {
          tags: ["user"],
          security: SECURITY.user,
          operationId: "getBotChallenge",
          summary: "A proof-of-work challenge for this user at this gated event (valid 5 minutes, single use)",
        },
      },
    )
    .get(
      "/assets/vendor/altcha.js",
      () =>
        new Response(Bun.file(SOLVER), {
          headers: { "content-type": "text/javascript; charset=utf-8", "content-security-policy": CSP, "x-content-type-options": "nosniff", "cache-control": "public, max-age=3600" },
        }),
      { detail: { hide: true } },
    );

  return { gate, check, routes };
}
