// Every Lua script on a real 3-master Redis Cluster (one hash tag per event), and the rush invariants.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Cluster } from "ioredis";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventKeys } from "../../src/redis";
import { ADMIN_TOKEN, checkInvariants, mysqlConn, pool, startServer, type Started } from "../../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const base = 7100 + Math.floor(Math.random() * 300) * 3;
const ports = [base, base + 1, base + 2];
const dir = mkdtempSync(join(tmpdir(), "coupon-cluster-"));
const nodes: Bun.Subprocess[] = [];
let s: Started;
const db = mysqlConn();

async function sh(cmd: string[]) {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
  if ((await p.exited) !== 0) throw new Error(`${cmd.join(" ")} failed: ${out}`);
  return out;
}

beforeAll(async () => {
  for (const port of ports)
    nodes.push(
      Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--dir", dir, "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" }),
    );
  for (const port of ports) {
    for (let i = 0; i < 100; i++) {
      try {
        if ((await sh(["redis-cli", "-p", String(port), "ping"])).includes("PONG")) break;
      } catch {}
      await Bun.sleep(50);
    }
  }
  await sh(["redis-cli", "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"]);
  for (let i = 0; i < 200; i++) {
    if ((await sh(["redis-cli", "-p", String(base), "cluster", "info"])).includes("cluster_state:ok")) break;
    await Bun.sleep(100);
  }
  s = await startServer({ REDIS_CLUSTER_NODES: ports.map((p) => `127.0.0.1:${p}`).join(","), REDIS_KEY_PREFIX: "cl", QUEUE_SCHEDULER: "off" });
}, 60_000);

afterAll(async () => {
  await s?.stop();
  for (const n of nodes) n.kill("SIGKILL");
  await Promise.all(nodes.map((n) => n.exited));
  rmSync(dir, { recursive: true, force: true });
  await db.end();
});

describe("Redis Cluster (3 masters)", () => {
  test("events land on different slots, and the whole flow keeps its invariants", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await s.api.createEvent({ name: `cluster ${i}`, stock: 150, trafficRpm: 0, runningCapacity: 40, admitPerSecond: 1000 })).body.id);
    // the events hash to different slots, so a script touching two events (CROSSSLOT) could not hide
    const probe = new Cluster(ports.slice(0, 1).map((port) => ({ host: "127.0.0.1", port })));
    const slots = new Set(await Promise.all(ids.map(async (id) => Number(await probe.cluster("KEYSLOT", eventKeys("cl", id).meta)))));
    probe.disconnect();
    expect(slots.size).toBe(3);

    for (const id of ids) {
      const users = Array.from({ length: 400 }, (_, i) => `cl-${id}-${i}`);
      // trafficRpm 0: everyone waits (enter + rate scripts), the scheduler admits (admit), users poll (poll) and issue (issue)
      const first = await pool(users, 200, (u) => s.api.enter(id, u));
      expect(first.every((r) => r.status === 202)).toBe(true);
      expect((await s.api.leave(id, users[0]!)).status).toBe(204);
      const winners: string[] = [];
      const done = new Set<string>([users[0]!]);
      for (let round = 0; round < 200 && done.size < users.length; round++) {
        await s.queue.tick(id);
        const live = users.filter((u) => !done.has(u));
        const polled = await pool(live, 200, (u) => s.api.poll(id, u).then((r) => ({ u, r })));
        const admitted = polled.filter((p) => p.r.body?.status === "admitted").map((p) => p.u);
        for (const p of polled) if (p.r.body?.status === "sold_out") done.add(p.u);
        const issued = await pool(admitted, 200, (u) => s.api.issue(id, u).then((r) => ({ u, r })));
        for (const x of issued) {
          done.add(x.u);
          if (x.r.status === 201) winners.push(x.u);
        }
      }
      expect(winners.length).toBe(150);
      let st: any;
      for (let i = 0; i < 300; i++) {
        st = (await s.api.stats(id)).body;
        if (st.pending === 0 && st.persisted === 150) break;
        await Bun.sleep(100);
      }
      expect(st).toMatchObject({ issued: 150, persisted: 150, pending: 0, remaining: 0, waiting: 0 });
      const inv = await checkInvariants(db, id, 150, winners);
      expect(inv).toEqual({ rows: 150, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    }

    // replay-dead: a dead-lettered issuance goes back to its stream and is persisted
    const dlq = (await s.api.createEvent({ name: "cluster dlq", stock: 5, trafficRpm: 1000, runningCapacity: 5 })).body.id as number;
    const dead = await s.redis.xadd(eventKeys("cl", dlq).dead, "*", "e", String(dlq), "u", "cl-replayed", "t", String(Date.now()), "reason", "test");
    const replay = await s.api.call("POST", `/admin/events/${dlq}/dead/${dead}/retry`, { token: ADMIN_TOKEN });
    expect(replay.body.status).toBe("replayed");
    for (let i = 0; i < 100 && !(await checkInvariants(db, dlq, 5, ["cl-replayed"])).rows; i++) await Bun.sleep(100);
    expect(await checkInvariants(db, dlq, 5, ["cl-replayed"])).toEqual({ rows: 1, duplicates: 0, overIssue: 0, lost: [], phantom: [] });

    // restore-event: a lost meta hash is rebuilt from MySQL, with nothing left to issue
    await s.redis.del(eventKeys("cl", ids[0]!).meta);
    const pub = await s.api.call("GET", `/api/events/${ids[0]}`);
    expect(pub.body).toMatchObject({ remaining: 0, status: "sold_out" });
  });
});
