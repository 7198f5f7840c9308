// What a code lookup costs while promises wait to be persisted (modules/redemption/promised.ts): a
// code MySQL does not have is looked for in the streams that hold entries. With no issuer running,
// BACKLOG entries are appended to one event's stream, then an unknown code (a full scan: the worst
// case, a typo during an outage) and the newest promised code are looked up REPEAT times each.
//   TEST_REDIS_URL=… TEST_DATABASE_URL=… bun bench/pending-lookup.ts [BACKLOG=100000] [REPEAT=20]
import { newCode } from "../modules/coupon/code";
import { eventKeys } from "../src/redis";
import { ADMIN_TOKEN, startServer, stopServer } from "../scripts/testkit";

const BACKLOG = Number(process.argv[2] ?? 100_000);
const REPEAT = Number(process.argv[3] ?? 20);
const s = await startServer({ ISSUER: "off", QUEUE_SCHEDULER: "off", RATE_LIMIT_ADMIN_PER_SEC: "0" });
try {
  const id = (await s.api.createEvent({ name: "pending lookup", stock: BACKLOG, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
  const stream = eventKeys(s.prefix, id).stream;
  let last = "";
  for (let i = 0; i < BACKLOG; i += 1000) {
    const p = s.redis.pipeline();
    for (let j = i; j < Math.min(BACKLOG, i + 1000); j++) p.xadd(stream, "*", "e", String(id), "u", `u${j}`, "t", String(Date.now()), "c", (last = newCode()), "ep", "0");
    await p.exec();
  }
  const time = async (code: string, expect: number) => {
    const ms: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const t0 = performance.now();
      const r = await fetch(`${s.url}/admin/coupons/${code}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      ms.push(performance.now() - t0);
      if (r.status !== expect) throw new Error(`expected ${expect}, got ${r.status}`);
      await r.body?.cancel();
    }
    ms.sort((a, b) => a - b);
    return `median ${ms[Math.floor(ms.length / 2)]!.toFixed(1)} ms, max ${ms[ms.length - 1]!.toFixed(1)} ms`;
  };
  console.log(`backlog ${BACKLOG} entries in one stream, ${REPEAT} lookups each`);
  console.log(`  unknown code (404, full scan): ${await time("00000-00000-00000-00000", 404)}`);
  console.log(`  newest promised code (409 pending): ${await time(last, 409)}`);
  await s.redis.del(stream);
  console.log(`  unknown code, no backlog (404): ${await time("00000-00000-00000-00000", 404)}`);
} finally {
  await stopServer(s);
}
