// How long after its 201 a promise can still be lost, per Redis persistence setting (issue #19, the
// failure model's numbers): a steady rush against one server (ROLE=all, its issuer included) on a
// redis-server of our own, which is SIGKILLed mid-rush and restarted (from its AOF, or empty without
// one). After the drain, every promised user without a row is lost; the window is the largest age
// (crash time − 201 time) among them. Run: bun bench/promise-window.ts [seconds-before-crash]
import { ownRedis, type Persistence } from "../scripts/redis-server";
import { client, mysqlConn, NO_USER_LIMITS, spawnServer, waitFor } from "../scripts/testkit";

const before = Number(process.argv[2] ?? 3) * 1000;
const db = mysqlConn();
const rows: Record<string, unknown>[] = [];

for (const setting of ["none", "everysec", "always"] as Persistence[]) {
  const redis = ownRedis(setting);
  await redis.start();
  const server = await spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: "pw", ...NO_USER_LIMITS });
  const api = client(server.url);
  const id = (await api.createEvent({ name: `window ${setting}`, stock: 1_000_000, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 })).body.id as number;
  const promised = new Map<string, number>();
  let n = 0;
  let rushing = true;
  const workers = Array.from({ length: 16 }, async () => {
    while (rushing) {
      const u = `pw-${id}-${n++}`;
      try {
        if ((await api.enter(id, u)).status !== 200) continue;
        const r = await api.issue(id, u);
        if (r.status === 201) promised.set(u, Date.now());
      } catch {
        await Bun.sleep(10);
      }
    }
  });
  await Bun.sleep(before);
  const crashAt = Date.now();
  const promisedAtCrash = promised.size;
  if (setting === "none") await redis.restartEmpty();
  else {
    await redis.crash();
    await redis.start();
  }
  await Bun.sleep(2000);
  rushing = false;
  await Promise.all(workers);
  await waitFor("drained", async () => (await api.stats(id).catch(() => ({ body: {} as any }))).body.pending === 0, 120_000, 250);
  await Bun.sleep(1000);
  const [stored] = (await db.query("SELECT user_id FROM coupon_issues WHERE event_id = ?", [id])) as [{ user_id: string }[], unknown];
  const have = new Set(stored.map((r) => r.user_id));
  const lost = [...promised].filter(([u, at]) => !have.has(u) && at <= crashAt);
  const ages = lost.map(([, at]) => crashAt - at);
  const rate = promisedAtCrash / (before / 1000);
  rows.push({ setting, "201s/s": Math.round(rate), "promised before the crash": promisedAtCrash, lost: lost.length, "window (ms, oldest lost)": ages.length ? Math.max(...ages) : 0 });
  await server.kill("SIGKILL");
  await redis.stop();
}
console.table(rows);
await db.end();
process.exit(0);
