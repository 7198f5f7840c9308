// The pre-queue draw (issue #13). N users (200,000) join an event's pre-queue through the enter
// script itself: the same Lua the door runs, called straight from this process with pipelining
// (what a request costs over HTTP is the flash scenario's; here the pre-queue only has to exist).
// Then the real server's scheduler draws at startsAt, as it would in production. On a redis-server
// of the scenario's own, so INFO memory, SLOWLOG and the latency probe see only this.
// Reported: the draw's own time (claim → places written; the stats' draw.durationMs), the time from
// startsAt until the line is drawn (the scheduler ticks once a second), the longest Redis stall a
// client saw during the draw (a PING every 2 ms), the slowest commands (SLOWLOG over 1 ms), Redis
// bytes per pre-queued user before and after the draw, and checks: every pre-queued user placed,
// the line exactly in the order the published seed gives, ahead of a later arrival (the event is
// paused, which the draw does not wait for, so that nobody is let in while the line is checked).
import { Redis } from "ioredis";
import { join } from "node:path";
import { defineScripts, eventKeys } from "../../src/redis";
import { drawOrder } from "../../modules/queue/draw";
import type { Bench } from "../lib/bench";
import { adminClient } from "../lib/checks";
import { startRedis, startServer } from "../lib/procs";
import type { Run, ScenarioResult } from "../lib/report";

const usedMemory = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1] ?? 0);
const perUser = (bytes: number, n: number) => Math.round((bytes / Math.max(1, n)) * 10) / 10;

export async function draw(b: Bench): Promise<ScenarioResult> {
  const { users: N, leadS } = b.sizes.draw;
  const own = await startRedis("draw-redis");
  const redis = new Redis(own.url, { connectionName: "coupon-bench", maxRetriesPerRequest: 2 });
  const probe = new Redis(own.url, { connectionName: "coupon-bench-probe", maxRetriesPerRequest: 2 });
  defineScripts(redis, join(import.meta.dir, "..", "..", "modules", "queue"));
  const prefix = b.prefix("draw");
  const failures: string[] = [];
  const runs: Run[] = [];
  const server = await startServer("draw", { ...b.env, prefix, redisUrl: own.url });
  try {
    const admin = adminClient(server.url, b.env.adminToken);
    const startsAt = Date.now() + leadS * 1000;
    const ev = (await admin.createEvent({
      name: "bench pre-queue draw",
      stock: 1000,
      trafficRpm: 0,
      runningCapacity: 1000,
      queueOpensAt: new Date(Date.now() - 1000).toISOString(),
      startsAt: new Date(startsAt).toISOString(),
    } as Parameters<typeof admin.createEvent>[0])) as { id: number };
    const k = eventKeys(prefix, ev.id);
    // paused: the draw happens at the start all the same, and nobody is let in while the line is checked
    const paused = await fetch(`${server.url}/admin/events/${ev.id}/pause`, { method: "POST", headers: { authorization: `Bearer ${b.env.adminToken}` } });
    if (!paused.ok) throw new Error(`pause answered ${paused.status}`);
    await redis.config("SET", "slowlog-log-slower-than", "1000");
    await redis.slowlog("RESET");
    const mem0 = await usedMemory(redis);

    // pre-queue: the enter script (KEYS meta, issued, waiting, liveness, counter, running, slot sequences, lapsed, admissions; ARGV user, now, slot ttl, rate)
    const users = Array.from({ length: N }, (_, i) => `pq${i.toString(36)}-${(i * 2654435761 % 2 ** 32).toString(36)}`);
    const t0 = performance.now();
    let notPre = 0;
    for (let i = 0; i < N; i += 2000) {
      const p = redis.pipeline();
      for (const u of users.slice(i, i + 2000)) (p as unknown as Record<string, (...a: unknown[]) => void>).enter!(k.meta, k.issued, k.waiting, k.waitLive, k.waitSeq, k.running, k.slots, k.lapsed, k.admitLog, u, Date.now(), 120_000, 0);
      // replies start with whether the user was known already (enter-9.lua)
      for (const [err, r] of (await p.exec())!) if (err || (r as string[])[1] !== "pre_queue") notPre++;
    }
    const enterS = (performance.now() - t0) / 1000;
    if (notPre) failures.push(`${notPre} enters were not answered pre_queue`);
    if (Date.now() >= startsAt - 500) failures.push(`pre-queueing ${N} users took ${enterS.toFixed(1)} s, longer than the lead: raise --draw-lead`);
    const [mem1, lineBytes, liveBytes] = await Promise.all([usedMemory(redis), redis.memory("USAGE", k.waiting, "SAMPLES", "0"), redis.memory("USAGE", k.waitLive)]);

    // the start: wait for the scheduler's draw, PINGing all along to see how long Redis ever stalls
    let worstPing = 0;
    let pings = 0;
    let drawnAt = 0;
    const pinger = (async () => {
      while (!drawnAt) {
        const p0 = performance.now();
        const [, drawn] = await Promise.all([probe.ping(), Date.now() >= startsAt - 200 ? probe.hget(k.meta, "drawn") : null]);
        const took = performance.now() - p0;
        if (Date.now() >= startsAt) {
          worstPing = Math.max(worstPing, took);
          pings++;
        }
        if (drawn === "1") drawnAt = Date.now();
        else await Bun.sleep(2);
      }
    })();
    await Promise.race([pinger, Bun.sleep(leadS * 1000 + 60_000).then(() => (drawnAt ||= -1))]);
    if (drawnAt < 0) throw new Error("the scheduler did not draw within a minute of the start");
    const st = (await admin.stats(ev.id)) as unknown as { draw: { seed: string; drawnAt: string; size: number; durationMs: number } };
    const slow = ((await redis.slowlog("GET", 20)) as [number, number, number, string[]][]).map(([, , us, args]) => ({ ms: us / 1000, cmd: args.slice(0, 2).join(" ") }));
    const mem2 = await usedMemory(redis);
    // the drawer's own breakdown, from the server's log line
    const logged = /pre-queue draw of event \d+: \d+ places in \d+ ms \(read (\d+), rank (\d+), write (\d+)\)/.exec(await Bun.file(server.log).text());

    // checks: the whole pre-queue placed, in the published seed's order, and a later arrival behind it
    const line = await redis.zrange(k.waiting, "0", "-1");
    const order = drawOrder(st.draw.seed, users);
    if (st.draw.size !== N) failures.push(`the draw placed ${st.draw.size} of ${N}`);
    if (line.length !== N || line.some((u, i) => u !== order[i])) failures.push("the line is not in the order the published seed gives");
    const late = (await (redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown[]>>).enter!(k.meta, k.issued, k.waiting, k.waitLive, k.waitSeq, k.running, k.slots, k.lapsed, k.admitLog, "latecomer", Date.now(), 120_000, 0)).slice(1) as [string, number];
    if (late[0] !== "waiting" || late[1] !== N + 1) failures.push(`a later arrival got ${JSON.stringify(late)} instead of place ${N + 1}`);
    // how far the place says anything about the arrival (uniform: |rho| < 4/sqrt(n-1) but for ~6e-5)
    const arrival = new Map(users.map((u, i) => [u, i]));
    let d2 = 0;
    order.forEach((u, place) => (d2 += (arrival.get(u)! - place) ** 2));
    const rho = 1 - (6 * d2) / (N * (N * N - 1));

    runs.push({
      label: "draw",
      extra: {
        "pre-queued users": N,
        "pre-queue through the enter script (s)": Math.round(enterS * 10) / 10,
        "enters/s": Math.round(N / enterS),
        "draw time, claim to places written (ms)": st.draw.durationMs,
        "of which reading the pre-queue (ms)": logged ? Number(logged[1]) : "?",
        "ranking it (ms)": logged ? Number(logged[2]) : "?",
        "writing the line (ms)": logged ? Number(logged[3]) : "?",
        "start to drawn line, scheduler tick included (ms)": drawnAt - startsAt,
        "longest Redis stall a client saw during the draw (ms)": Math.round(worstPing * 10) / 10,
        "probe PINGs": pings,
        "slowest commands (SLOWLOG > 1 ms)": slow.length ? slow.sort((a, c) => c.ms - a.ms).slice(0, 5).map((s) => `${s.ms.toFixed(1)} ms ${s.cmd}`).join("; ") : "none",
        "bytes per pre-queued user (used_memory)": perUser(mem1 - mem0, N),
        "bytes per pre-queued user (MEMORY USAGE line + liveness)": perUser(Number(lineBytes) + Number(liveBytes), N),
        "bytes per user after the draw (used_memory)": perUser(mem2 - mem0, N),
        "Spearman rho(arrival, place)": rho.toFixed(5),
        "rho bound 4/sqrt(n-1)": `±${(4 / Math.sqrt(N - 1)).toFixed(5)}`,
      },
    });
    if (Math.abs(rho) >= 4 / Math.sqrt(N - 1)) failures.push(`Spearman rho ${rho} is outside ±4/sqrt(n-1)`);
  } finally {
    await server.stop();
    redis.disconnect();
    probe.disconnect();
    await own.stop();
  }
  return {
    name: "draw",
    title: `draw — ${N.toLocaleString("en-US")} pre-queued users drawn by the server's scheduler at the start`,
    ok: !failures.length,
    failures,
    params: { users: N, leadS, redis: "a redis-server of the scenario's own", "pre-queue": "the enter script, pipelined from the bench process (2,000 per round trip)" },
    runs,
  };
}
