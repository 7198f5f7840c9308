import { ApiError } from "../../src/http";
import type { RedisClient } from "../../src/redis";
import type { EventService } from "../events/service";
import { newCode } from "./code";
import { recordPromise } from "./mine";

// a take that meets a reconciliation fence waits at most this long for it, then answers 503
const MAX_FENCE_WAIT_MS = 5000;

/** A take script's reply: its verdict, then (when "reconciling") the fence's end. */
export type TakeReply = [string, string?, number?];

/**
 * One user's take of a unit through a script built on includes/take.lua (the issue route, a grant):
 * behind the sales gate; an event Redis lost is rebuilt from MySQL once; a reconciliation fence is
 * waited out; a promise is indexed for GET /api/me/coupons before the reply. `action` names what
 * was not done in the 503 ("issued", "granted"). Answers the script's verdict and the code it was given.
 */
export async function takeUnit(
  t: { redis: RedisClient; prefix: string; events: EventService; gate: (eventId: number) => Promise<void>; action: string },
  eventId: number,
  userId: string,
  run: (code: string) => Promise<TakeReply>,
): Promise<{ reply: TakeReply; code: string }> {
  await t.gate(eventId);
  // made before the script runs: the 201, the stream entry and the MySQL row carry this very code
  const code = newCode();
  let r = await run(code);
  // Redis may have lost the event (restart without AOF): rebuild it from MySQL once, then decide.
  if (r[0] === "event_not_found" && (await t.events.ensureLoaded(eventId))) r = await run(code);
  // just reconciled after a loss: sales wait for issuances made before it to be counted
  for (const end = Date.now() + MAX_FENCE_WAIT_MS; r[0] === "reconciling" && Date.now() < end; ) {
    await Bun.sleep(Math.max(1, Math.min(end, Number(r[1])) - Date.now()));
    r = await run(code);
  }
  if (r[0] === "keys_lost") {
    void t.events.repairLoss(eventId, "a take found fewer issued users than units gone");
    throw new ApiError(503, "unavailable", `the event's state in Redis is damaged and is being repaired from the database; nothing was ${t.action}, try again shortly`, undefined, { "retry-after": "1" });
  }
  if (r[0] === "reconciling") throw new ApiError(503, "unavailable", `the event is being reconciled after a Redis failure; nothing was ${t.action}, try again shortly`);
  if (r[0] === "issued") await recordPromise(t.redis, t.prefix, userId, eventId, code);
  return { reply: r, code };
}
