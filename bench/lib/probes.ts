// What bounds a run: CPU of every process involved, Redis command costs and slow log, InnoDB row locks.
// Redis and MariaDB are shared with other users of this machine, so their counters are diffs over the
// measured window and the report says how busy the rest of the machine was.
import type { Redis } from "ioredis";
import type mysql from "mysql2/promise";
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_S = 100;

function procTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
  } catch {
    return null;
  }
}

function machineTicks() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}

export function findPid(names: string[]): number | null {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${d}/comm`, "utf8").trim())) return Number(d);
    } catch {
      /* the process went away */
    }
  }
  return null;
}

type CmdStat = { calls: number; usec: number };
async function commandStats(redis: Redis): Promise<Map<string, CmdStat>> {
  const out = new Map<string, CmdStat>();
  for (const line of (await redis.info("commandstats")).split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

async function redisCpu(redis: Redis) {
  const info = await redis.info("cpu");
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get("used_cpu_sys") + get("used_cpu_user");
}

const MYSQL_VARS = ["Innodb_row_lock_waits", "Innodb_row_lock_time", "Com_commit", "Innodb_data_fsyncs", "Questions"];
async function mysqlStatus(db: mysql.Pool): Promise<Record<string, number>> {
  const [rows] = (await db.query(`SHOW GLOBAL STATUS WHERE Variable_name IN (${MYSQL_VARS.map(() => "?").join(",")})`, MYSQL_VARS)) as [{ Variable_name: string; Value: string }[], unknown];
  return Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
}

export type Profile = {
  windowS: number;
  /** % of one core over the window, per process */
  cpu: Record<string, number>;
  /** % of all cores busy, and the part of that not from the processes above */
  machineBusyPct: number;
  otherBusyPct: number;
  redisTop: { cmd: string; calls: number; usecPerCall: number; sharePct: number }[];
  /** every command Redis ran in the window (commandstats; scripts count once, plus each command they call) and its CPU seconds */
  redisCalls: number;
  redisCpuS: number;
  /** command calls made by scripts are counted by Redis under their own names, and EVALSHA once more */
  redisScriptCalls: number;
  slowlog: { ms: number; cmd: string }[];
  mysql: { rowLockWaits: number; rowLockTimeMs: number; commits: number; fsyncs: number; questions: number };
  /** share of this schema's open InnoDB transactions that were waiting for a row lock (sampled) */
  lockWaitPct: number | null;
};

/**
 * Snapshots counters now; `stop()` diffs them. `pids` names the processes under test; Redis,
 * MariaDB and the bench itself are added. `keyPrefix` filters the slow log to this run's keys;
 * `schema` turns on row-lock sampling for that MySQL schema.
 */
export async function startProbe(redis: Redis, db: mysql.Pool, pids: Record<string, number>, keyPrefix: string, schema?: string) {
  const redisPid = Number(/process_id:(\d+)/.exec(await redis.info("server"))?.[1] ?? 0);
  const mariadbPid = findPid(["mariadbd", "mysqld"]);
  const all: Record<string, number> = { ...pids, bench: process.pid };
  if (redisPid) all.redis = redisPid;
  if (mariadbPid) all.mariadb = mariadbPid;
  const t0 = performance.now();
  const ticks0 = Object.fromEntries(Object.entries(all).map(([k, pid]) => [k, procTicks(pid)]));
  const m0 = machineTicks();
  const [cmd0, mysql0, rcpu0] = await Promise.all([commandStats(redis), mysqlStatus(db), redisCpu(redis)]);
  const sinceS = Math.floor(Date.now() / 1000);

  let samples = 0;
  let trx = 0;
  let waiting = 0;
  let sampling = true;
  const sampler = schema
    ? (async () => {
        while (sampling) {
          const [[r]] = (await db.query(
            `SELECT COUNT(*) AS trx, COALESCE(SUM(t.trx_state = 'LOCK WAIT'), 0) AS waiting
               FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
              WHERE p.DB = ?`,
            [schema],
          )) as [{ trx: number; waiting: number }[], unknown];
          samples++;
          trx += Number(r!.trx);
          waiting += Number(r!.waiting);
          await Bun.sleep(100);
        }
      })()
    : null;

  return {
    /** Adds a process started after the probe: all of its CPU falls inside the window. */
    track(name: string, pid: number) {
      all[name] = pid;
      ticks0[name] = 0;
    },
    async stop(): Promise<Profile> {
      const windowS = (performance.now() - t0) / 1000;
      const m1 = machineTicks();
      const cpu: Record<string, number> = {};
      let ours = 0;
      for (const [k, pid] of Object.entries(all)) {
        const a = ticks0[k];
        const b = procTicks(pid);
        if (a == null || b == null) continue;
        cpu[k] = Math.round(((b - a) / TICKS_PER_S / windowS) * 1000) / 10;
        ours += b - a;
      }
      sampling = false;
      await sampler;
      const [cmd1, mysql1, rcpu1, slow] = await Promise.all([commandStats(redis), mysqlStatus(db), redisCpu(redis), redis.slowlog("GET", 128) as Promise<any[]>]);
      if (all.redis && cpu.redis === undefined) cpu.redis = Math.round(((rcpu1 - rcpu0) / windowS) * 1000) / 10;
      const diffs = [...cmd1].map(([cmd, s]) => {
        const b = cmd0.get(cmd) ?? { calls: 0, usec: 0 };
        return { cmd, calls: s.calls - b.calls, usec: s.usec - b.usec };
      });
      const totalUsec = diffs.reduce((a, d) => a + d.usec, 0) || 1;
      const served = diffs.filter((d) => d.cmd !== "info" && d.cmd !== "slowlog" && d.cmd !== "ping");
      const redisCalls = served.reduce((a, d) => a + d.calls, 0);
      const redisScriptCalls = served.filter((d) => d.cmd === "evalsha" || d.cmd === "eval").reduce((a, d) => a + d.calls, 0);
      const redisTop = diffs
        .filter((d) => d.calls > 0)
        .sort((a, b) => b.usec - a.usec)
        .slice(0, 6)
        .map((d) => ({ cmd: d.cmd, calls: d.calls, usecPerCall: Math.round((d.usec / d.calls) * 10) / 10, sharePct: Math.round((d.usec / totalUsec) * 1000) / 10 }));
      const slowlog = slow
        .filter((e) => Number(e[1]) >= sinceS && (e[3] as string[]).some((a) => String(a).includes(keyPrefix)))
        .map((e) => ({ ms: Number(e[2]) / 1000, cmd: (e[3] as string[]).slice(0, 4).join(" ").slice(0, 120) }))
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 5);
      const d = (k: string) => (mysql1[k] ?? 0) - (mysql0[k] ?? 0);
      const busy = (m1.busy - m0.busy) / (m1.total - m0.total || 1);
      const cores = navigator.hardwareConcurrency;
      const oursPct = (ours / TICKS_PER_S / windowS / cores) * 100;
      return {
        windowS: Math.round(windowS * 10) / 10,
        cpu,
        machineBusyPct: Math.round(busy * 1000) / 10,
        otherBusyPct: Math.max(0, Math.round((busy * 100 - oursPct) * 10) / 10),
        redisTop,
        redisCalls,
        redisCpuS: rcpu1 - rcpu0,
        redisScriptCalls,
        slowlog,
        mysql: {
          rowLockWaits: d("Innodb_row_lock_waits"),
          rowLockTimeMs: d("Innodb_row_lock_time"),
          commits: d("Com_commit"),
          fsyncs: d("Innodb_data_fsyncs"),
          questions: d("Questions"),
        },
        lockWaitPct: schema ? (trx ? Math.round((waiting / trx) * 1000) / 10 : 0) : null,
      };
    },
  };
}
