// The issue's targets, computed from the scenario results, and the markdown report around them.
import type { Sizes } from "./bench";
import { FLASH } from "../scenarios/flash";
import { mdScenario, mdTable, ms, num, type Run, type ScenarioResult } from "./report";

export type Target = { name: string; target: string; measured: string; value: number | null; met: boolean | null };
type Machine = { cores: number; cpu: string; memGiB: number; bun: string; redis: string; mysql: string };

const run = (results: ScenarioResult[], scenario: string, label: string): Run | undefined =>
  results.find((r) => r.name === scenario)?.runs.find((x) => x.label === label);

const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? a / b : null);
/** A number a run reported besides its load, or null when it did not. */
const reported = (r: Run | undefined, key: string) => {
  const v = r?.extra?.[key];
  return typeof v === "number" ? v : null;
};
const fmt = (v: number | null, f: (v: number) => string) => (v === null ? "not measured" : f(v));

export function targets(results: ScenarioResult[]): Target[] {
  const bare = run(results, "baseline", "bare")?.load;
  const redis = run(results, "issue-direct", "redis")?.load;
  const dbLock = run(results, "issue-direct", "db-lock")?.load;
  const redisPaced = run(results, "issue-direct", "redis-paced")?.load;
  const dbLockPaced = run(results, "issue-direct", "db-lock-paced")?.load;
  const flow = run(results, "waiting-room", "flow")?.load;
  const polls = run(results, "waiting-room", "poll-saturation")?.load;
  const backlog = run(results, "drain", "backlog");
  const live = run(results, "drain", "live");
  const allInOne = run(results, "split", "all-in-one")?.load;
  const split = run(results, "split", "split")?.load;
  const allInOnePolls = run(results, "split", "all-in-one-poll")?.load;
  const splitPolls = run(results, "split", "split-poll")?.load;

  const t = (name: string, target: string, value: number | null, ok: (v: number) => boolean, f: (v: number) => string): Target => ({
    name,
    target,
    value,
    measured: fmt(value, f),
    met: value === null ? null : ok(value),
  });
  const x = (v: number) => `${v.toFixed(2)}×`;
  const flash = (label: string, key: string) => reported(run(results, "flash", label), key);
  const flashDirect = run(results, "flash", FLASH.direct)?.load;
  const rushVerdict = run(results, "flash", "rush verdict");
  const plain = (v: number) => String(v);
  const drawRun = run(results, "draw", "draw");
  return [
    t("flash: sold-out enter / bare enter (new user each time)", "≥ 0.80×", flash(FLASH.soldOut, "throughput / bare"), (v) => v >= 0.8, x),
    t("flash: sold-out enter, Redis commands per request", "≤ 0.05", flash(FLASH.soldOut, "redis commands/request"), (v) => v <= 0.05, plain),
    t("flash: deep poll / bare poll (100k line)", "≥ 0.70×", flash(FLASH.deepPoll, "throughput / bare"), (v) => v >= 0.7, x),
    t("flash: deep poll, Redis commands per request", "≤ 0.2", flash(FLASH.deepPoll, "redis commands/request"), (v) => v <= 0.2, plain),
    t("flash: new user into a long line / bare enter", "≥ 0.50×", flash(FLASH.longLine, "throughput / bare"), (v) => v >= 0.5, x),
    t("flash: enter + issue / bare enter + issue", "≥ 0.50×", flash(FLASH.direct, "throughput / bare"), (v) => v >= 0.5, x),
    t(`flash: enter + issue p99, ${flashDirect?.connections ?? "?"} connections`, "≤ 80 ms", flashDirect ? flashDirect.all.p99 : null, (v) => v <= 80, ms),
    t("flash: the rush keeps every invariant (MySQL)", "exact", rushVerdict?.verdict ? (rushVerdict.verdict.ok ? 1 : 0) : null, (v) => v === 1, (v) => (v ? "exact" : "FAILED")),
    t("flash: Redis bytes per waiter (used_memory delta / waiters)", "≤ 150", reported(rushVerdict, "bytes per waiter (used_memory)"), (v) => v <= 150, (v) => `${v} B`),
    t(`draw: ${num(reported(drawRun, "pre-queued users") ?? 0)} pre-queued users drawn (claim to places written)`, "≤ 2 s", reported(drawRun, "draw time, claim to places written (ms)"), (v) => v <= 2000, ms),
    t("draw: Redis bytes per pre-queued user (used_memory delta / users)", "≤ 150", reported(drawRun, "bytes per pre-queued user (used_memory)"), (v) => v <= 150, (v) => `${v} B`),
    t("issue-direct (redis) throughput / baseline", "≥ 0.80×", ratio(redis?.all.rps, bare?.all.rps), (v) => v >= 0.8, x),
    t(`issue-direct (redis) p99, all requests, ${redis?.connections ?? "?"} connections`, "≤ 50 ms", redis ? redis.all.p99 : null, (v) => v <= 50, ms),
    t("db-lock p95 / redis p95 (issue requests), closed loop at saturation", "≥ 40×", ratio(dbLock?.byKind.issue?.p95, redis?.byKind.issue?.p95), (v) => v >= 40, x),
    t(`db-lock p95 / redis p95 (issue requests), same offered load: ${redisPaced?.connections ?? "?"} paced VUs`, "≥ 40×", ratio(dbLockPaced?.byKind.issue?.p95, redisPaced?.byKind.issue?.p95), (v) => v >= 40, x),
    t("waiting-room max latency (enter, poll, issue)", "≤ 0.5 s", flow ? flow.all.max : null, (v) => v <= 500, ms),
    t("queue poll throughput / baseline", "≥ 0.85×", ratio(polls?.all.rps, bare?.all.rps), (v) => v >= 0.85, x),
    t("drain: backlog persisted by the issuer", "≥ 20,000 rows/s", reported(backlog, "rowsPerS"), (v) => v >= 20_000, (v) => `${num(v)} rows/s`),
    t("drain: lag from sold-out to pending = 0 (live)", "reported", reported(live, "lagMs"), () => true, ms),
    t("split / all-in-one throughput, enter + issue through the router", "reported", ratio(split?.all.rps, allInOne?.all.rps), () => true, x),
    t("split / all-in-one p99, enter + issue through the router", "reported", ratio(split?.all.p99, allInOne?.all.p99), () => true, x),
    t("split / all-in-one throughput, queue polls through the router", "reported", ratio(splitPolls?.all.rps, allInOnePolls?.all.rps), () => true, x),
  ];
}

/** CPU µs per request, per process and in total, over a run's measured window. */
function cpuPerRequest(r: Run | undefined) {
  if (!r?.profile || !r.load?.all.count) return null;
  const p = r.profile;
  const parts = Object.entries(p.cpu).map(([k, v]) => [k, ((v / 100) * p.windowS * 1e6) / r.load!.all.count] as const);
  return { total: parts.reduce((a, [, v]) => a + v, 0), parts: parts.filter(([, v]) => v >= 0.5).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(" + ") };
}

/**
 * What the numbers are bounded by, derived from the same run, so the explanation stays true when
 * the suite is re-run on another machine.
 */
function bounds(results: ScenarioResult[], cores: number): string[] {
  const out: string[] = [];
  const bare = run(results, "baseline", "bare");
  const redis = run(results, "issue-direct", "redis");
  const dbLock = run(results, "issue-direct", "db-lock");
  const polls = run(results, "waiting-room", "poll-saturation");
  const cb = cpuPerRequest(bare);
  for (const [name, r] of [["issue-direct (redis)", redis], ["queue poll", polls]] as const) {
    const c = cpuPerRequest(r);
    if (!cb || !c || !bare?.load || !r?.load) continue;
    out.push(
      `**${name} / baseline**: one bare request cost ${cb.total.toFixed(1)} µs of CPU in all (${cb.parts}); one ${name} request cost ${c.total.toFixed(1)} µs ` +
        `(${c.parts}). With the ${cores} cores saturated, throughput goes as 1 / CPU per request, so the ratio is bounded near ` +
        `${(cb.total / c.total).toFixed(2)}× (measured ${(r.load.all.rps / bare.load.all.rps).toFixed(2)}×). The load generator's own share is in both.`,
    );
  }
  if (redis?.load) {
    const l = redis.load;
    out.push(
      `**p99 at ${l.connections} connections**: the loop is closed, so mean latency = connections / throughput = ${l.connections} / ${num(l.all.rps)} req/s = ` +
        `${ms((l.connections / l.all.rps) * 1000)} (measured mean ${ms(l.all.mean)}); a p99 ≤ 50 ms needs more than ${num(l.connections / 0.05)} req/s from this box.`,
    );
  }
  if (redis?.load?.byKind.issue && dbLock?.load?.byKind.issue) {
    const a = redis.load.byKind.issue;
    const b = dbLock.load.byKind.issue;
    out.push(
      `**db-lock vs redis, closed loop**: each runs at its own saturation, so the p95 ratio follows the throughput ratio: ${num(a.rps)} vs ${num(b.rps)} issues/s ` +
        `(${(a.rps / b.rps).toFixed(1)}×). The paced run offers both the same load, which is how the original compared them.`,
    );
  }
  const d = run(results, "draw", "draw")?.extra;
  if (d && typeof d["draw time, claim to places written (ms)"] === "number") {
    const n = num(d["pre-queued users"] as number);
    out.push(
      `**draw**: ${n} pre-queued users in ${ms(d["draw time, claim to places written (ms)"] as number)}: reading them (ZRANGEBYSCORE in slices of 20,000, and the ` +
        `liveness string in one GETRANGE) ${d["of which reading the pre-queue (ms)"]} ms; ranking (${n} HMAC-SHA256 and a sort, in the drawing process) ` +
        `${d["ranking it (ms)"]} ms; writing (the liveness at the drawn places in 256 KB SETRANGEs, then scripts of 2,000 ZADD XX GT, one round trip each) ` +
        `${d["writing the line (ms)"]} ms. Redis itself never ran anything long: the slowest commands were ${d["slowest commands (SLOWLOG > 1 ms)"]}; the longest wait a ` +
        `client saw was ${d["longest Redis stall a client saw during the draw (ms)"]} ms (the drawing process, the probe and Redis share the ${cores} cores). ` +
        "Read and write grow linearly with the pre-queue, the rank as n log n (its sort); the rank is the only step that is not Redis's.",
    );
  }
  for (const kind of ["", "-poll"]) {
    const one = run(results, "split", `all-in-one${kind}`);
    const two = run(results, "split", `split${kind}`);
    const c1 = cpuPerRequest(one);
    const c2 = cpuPerRequest(two);
    if (!c1 || !c2 || !one?.load || !two?.load) continue;
    out.push(
      `**split / all-in-one${kind ? ", queue polls" : ", enter + issue"}**: through one ROLE=all process a request cost ${c1.total.toFixed(1)} µs of CPU in all (${c1.parts}); ` +
        `through the split router ${c2.total.toFixed(1)} µs (${c2.parts}): the router's hop to its upstream is a second HTTP request. ` +
        `With the ${cores} cores saturated the ratio is bounded near ${(c1.total / c2.total).toFixed(2)}× (measured ${(two.load.all.rps / one.load.all.rps).toFixed(2)}×).`,
    );
  }
  for (const [label, kind] of [[FLASH.soldOut, "enter"], [FLASH.deepPoll, "poll"], [FLASH.longLine, "enter"], [FLASH.direct, "enter+issue"]] as const) {
    const door = run(results, "flash", label);
    const bareRun = run(results, "flash", FLASH.bare(kind));
    const c = cpuPerRequest(door);
    const cb = cpuPerRequest(bareRun);
    if (!c || !cb || !door?.load || !bareRun?.load) continue;
    out.push(
      `**flash, ${label} / bare ${kind}**: a bare request cost ${cb.total.toFixed(1)} µs of CPU in all (${cb.parts}); one ${label} request ${c.total.toFixed(1)} µs (${c.parts}), ` +
        `${door.extra?.["redis commands/request"]} Redis commands. Bounded near ${(cb.total / c.total).toFixed(2)}× on ${cores} saturated cores (measured ${(door.load.all.rps / bareRun.load.all.rps).toFixed(2)}×).`,
    );
  }
  if (dbLock?.profile?.lockWaitPct != null && redis?.profile?.lockWaitPct != null) {
    const m = dbLock.profile.mysql;
    out.push(
      `**Row locks**: under db-lock ${dbLock.profile.lockWaitPct}% of the schema's open transactions were waiting for the event row's lock ` +
        `(${num(m.rowLockWaits)} waits, ${ms(m.rowLockTimeMs / Math.max(1, m.rowLockWaits))} on average); under redis ${redis.profile.lockWaitPct}% (the original reported 48.7% → 0%).`,
    );
  }
  return out;
}

function absolutes(results: ScenarioResult[]): string {
  const rows: string[][] = [];
  for (const r of results)
    for (const x of r.runs) {
      if (!x.load) continue;
      const l = x.load;
      rows.push([`${r.name} / ${x.label}`, String(l.connections), num(l.all.rps), ms(l.all.p50), ms(l.all.p95), ms(l.all.p99), ms(l.all.max), x.verdict ? (x.verdict.ok ? "OK" : "FAILED") : "—"]);
    }
  return mdTable(["run", "connections", "req/s", "p50", "p95", "p99", "max", "invariants"], rows);
}

export function buildReport(o: { started: Date; quick: boolean; only: string[] | null; machine: Machine; sizes: Sizes; results: ScenarioResult[]; targets: Target[] }): string {
  const m = o.machine;
  const other = Math.max(0, ...o.results.flatMap((r) => r.runs.map((x) => x.profile?.otherBusyPct ?? 0)));
  const failed = o.results.filter((r) => !r.ok);
  const out = [
    `# Benchmark report — ${o.started.toISOString().slice(0, 10)}${o.only ? ` — only ${o.only.join(", ")}` : ""}${o.quick ? " (QUICK: smoke sizes, not for comparison)" : ""}`,
    "",
    `Generated by \`bun run bench${o.quick ? " --quick" : ""}${o.only ? ` --only=${o.only.join(",")}` : ""}\` at ${o.started.toISOString()}.` +
      (o.only ? " A partial run: the table lists only the targets it measured; the whole suite's report is the file without a suffix." : ""),
    "",
    `**Machine: ${m.cores} cores** (${m.cpu}), ${m.memGiB} GiB RAM; Bun ${m.bun}, Redis ${m.redis}, MariaDB ${m.mysql}. ` +
      `The load generator (autocannon in Bun; a raw-socket client for the waiting room) runs on the same machine as the servers, ` +
      `Redis and MariaDB, so every absolute number below is for ${m.cores} cores shared by all of them. ` +
      `Other processes used up to ${other}% of the machine during a measured window.`,
    "",
    failed.length ? `**Correctness: FAILED** — ${failed.map((r) => `${r.name}: ${r.failures.join("; ")}`).join(" / ")}` : "**Correctness: every scenario's invariants held** (checked against MySQL after the issuer drained).",
    "",
    "## Ratios and targets",
    "",
    mdTable(
      ["target", "measured", "goal", "met"],
      o.targets.map((t) => [t.name, t.measured, t.target, t.met === null ? "n/a" : t.met ? "yes" : "**no**"]),
    ),
    "",
    "## What bounds them",
    "",
    ...bounds(o.results, m.cores).flatMap((l) => [`- ${l}`]),
    "",
    `## Absolute numbers (${m.cores} cores)`,
    "",
    absolutes(o.results),
    "",
    "## Scenarios",
    "",
    ...o.results.map(mdScenario),
    "## Method",
    "",
    "- Every server under test is `bun run src/main.ts` in its own process (ROLE=all unless stated), Redis db 8 under a",
    "  per-run key prefix, MySQL schema `coupon_bench` (dropped and recreated at the start of a run).",
    "- autocannon runs closed-loop: each connection sends its next request when the previous reply arrives, so by",
    "  Little's law mean latency ≈ connections / throughput; at 1,000 connections a p99 under 50 ms needs roughly",
    "  20,000+ req/s from the whole box.",
    "- issue-direct: each pass of a connection is a new user (`enter`, then `issue`); stock 10,000,000 so every",
    "  request does the full work. A warm-up precedes each measured window (its issuances are verified too).",
    "- split: the same two loads (issue-direct's closed loop, the waiting room's poll saturation) through the router of",
    "  one ROLE=all process, then of the README's split topology (ROLE=queue, ROLE=coupon, two ROLE=issuer, ROLE=router",
    "  with QUEUE_URL/COUPON_URL), one after the other in the same run, each with its own key prefix; the CPU line lists",
    "  every process of the topology.",
    "- Invariants after every run: wait for `pending` = 0, then rows ≤ stock, no duplicate (event, user), every 201",
    "  has its row, no row without a 201 (rows for requests that were on the wire when the load stopped are counted",
    "  separately), no 5xx, nothing dead-lettered.",
    "- CPU is % of one core over the measured window (from /proc); Redis command times are INFO commandstats diffs",
    "  (the Redis is shared, so other users' commands may appear); row-lock waiting is sampled from",
    "  information_schema.INNODB_TRX every 100 ms for this schema only.",
    "",
  ];
  return out.join("\n");
}
