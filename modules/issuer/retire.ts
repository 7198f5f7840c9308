import { eventKeys, globalKeys, runScript, type RedisClient } from "../../src/redis";

/**
 * Ended events leave the live set (`<prefix>:events`), which the scheduler, the issuers, the
 * history sampler and the per-event metrics walk every second: without this, every event ever
 * created would cost each of them a read forever. An event leaves once it has ended and
 * everything it issued is in MySQL (ended-4.lua). Its keys stay: stats, winners, a user's coupons
 * and restore read them (or MySQL) by id, not through the set.
 *
 * Whatever can make an event sell or add to its stream again (create, PATCH, a grant, a dead-letter
 * replay, a reconciliation or restore) does so first and adds the event back after (`liveAgain` in
 * modules/events/service.ts);
 * a removal here is followed by a second check that adds it back if the event changed meanwhile.
 * So an event with something left to store is never out of the set past that second check.
 */
export class Retirement {
  private readonly ended;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly group: string,
  ) {
    this.ended = runScript(redis, "ended");
  }

  private async isEnded(id: number): Promise<boolean> {
    const k = eventKeys(this.prefix, id);
    return Number(await this.ended(k.meta, k.stream, k.holders, k.dead, Date.now(), this.group)) === 1;
  }

  /** Takes every ended, drained event of `ids` out of the live set; answers the ids it took out. */
  async sweep(ids: number[]): Promise<number[]> {
    const set = globalKeys(this.prefix).events;
    const ended = (await Promise.all(ids.map(async (id) => ((await this.isEnded(id)) ? id : 0)))).filter((id) => id > 0);
    const out: number[] = [];
    for (const id of ended) {
      await this.redis.srem(set, String(id));
      // changed between the check and the removal (and added back then): it stays
      if (!(await this.isEnded(id))) await this.redis.sadd(set, String(id));
      else out.push(id);
    }
    return out;
  }
}
