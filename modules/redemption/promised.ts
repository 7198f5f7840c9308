import { eventKeys, runScript, type RedisClient } from "../../src/redis";

// entries read by one call of promised-1.lua: a few milliseconds of Redis time
const SLICE = 5000;

/**
 * Finds the event of a code that was promised (a 201, an issued poll, a grant) but whose row is not
 * in MySQL yet: such a code sits in its event's issuance stream until the issuer has stored it (the
 * stream is trimmed only below what is stored), or in the dead-letter stream when its row was
 * refused. Only streams that hold entries are read, newest first, in Redis (promised-1.lua), so the
 * cost is that of the backlog still to persist — nothing while the issuers keep up
 * (bench/pending-lookup.ts). Null: no promise carries this code.
 */
export function promisedFinder(redis: RedisClient, prefix: string) {
  const script = runScript(redis, "promised");
  const holds = async (key: string, code: string) => {
    for (let from = "+"; ; ) {
      const [found, next] = (await script(key, code, from, SLICE)) as [number, string?];
      if (found === 1) return true;
      if (!next) return false;
      from = next;
    }
  };
  return async (eventIds: number[], code: string): Promise<number | null> => {
    const keys = eventIds.flatMap((id) => [eventKeys(prefix, id).stream, eventKeys(prefix, id).dead].map((key) => ({ id, key })));
    const lengths = await Promise.all(keys.map((k) => redis.xlen(k.key)));
    for (const [i, k] of keys.entries()) if (lengths[i] && (await holds(k.key, code))) return k.id;
    return null;
  };
}
