import { eventKeys, type RedisClient } from "../../src/redis";

// entries read per XRANGE call while looking through a stream
const PAGE = 1000;

/**
 * Finds the event of a code that was promised (a 201, an issued poll, a grant) but whose row is not
 * in MySQL yet: such a code sits in its event's issuance stream until the issuer has stored it (the
 * stream is trimmed only below what is stored), or in the dead-letter stream when its row was
 * refused. Only streams that hold entries are read, so the cost is that of the backlog still to
 * persist — nothing while the issuers keep up. Null: no promise carries this code.
 */
export async function promisedEvent(redis: RedisClient, prefix: string, eventIds: number[], code: string): Promise<number | null> {
  const keys = eventIds.flatMap((id) => {
    const k = eventKeys(prefix, id);
    return [
      { id, key: k.stream },
      { id, key: k.dead },
    ];
  });
  const lengths = await Promise.all(keys.map((k) => redis.xlen(k.key)));
  for (const [i, k] of keys.entries()) {
    if (!lengths[i]) continue;
    if (await streamHolds(redis, k.key, code)) return k.id;
  }
  return null;
}

async function streamHolds(redis: RedisClient, key: string, code: string): Promise<boolean> {
  let start = "-";
  for (;;) {
    const entries = (await redis.xrange(key, start, "+", "COUNT", PAGE)) as [string, string[]][];
    for (const [, fields] of entries) for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === "c" && fields[i + 1] === code) return true;
    if (entries.length < PAGE) return false;
    start = `(${entries[entries.length - 1]![0]}`;
  }
}
