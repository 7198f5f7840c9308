// Human tables for the terminal and the markdown report, from the same rows.
import type { Verdict } from "./checks";
import type { Profile } from "./probes";
import type { LoadStats } from "./stats";

export type Run = {
  label: string;
  load?: LoadStats;
  verdict?: Verdict;
  profile?: Profile;
  extra?: Record<string, unknown>;
  /** what the profile's CPU is divided by (default: the load's requests) */
  unit?: { name: string; count: number };
};
export type ScenarioResult = {
  name: string;
  title: string;
  ok: boolean;
  failures: string[];
  params: Record<string, unknown>;
  runs: Run[];
  error?: string;
};

export const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 100 ? `${v.toFixed(0)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
export const num = (v: number) => Math.round(v).toLocaleString("en-US");
const statuses = (s: Record<string, number>) =>
  Object.entries(s)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}×${num(n)}`)
    .join(" ");

const LOAD_HEAD = ["requests", "req/s", "p50", "p95", "p99", "max", "statuses"];

function loadRows(l: LoadStats): string[][] {
  const kinds = Object.entries(l.byKind);
  const rows = kinds.map(([k, s]) => [k, num(s.count), num(s.rps), ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max), statuses(s.statuses)]);
  if (kinds.length > 1) rows.push(["all", num(l.all.count), num(l.all.rps), ms(l.all.p50), ms(l.all.p95), ms(l.all.p99), ms(l.all.max), ""]);
  return rows;
}

function textTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line)].join("\n");
}

export function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function verdictLine(v: Verdict): string {
  const head = v.ok ? "invariants OK" : `INVARIANTS FAILED: ${v.failures.join("; ")}`;
  const inflight = v.inFlightRows ? `, ${v.inFlightRows} rows for replies cut in flight` : "";
  const notes = v.notes.length ? ` — note: ${v.notes.join("; ")}` : "";
  return `${head} — stock ${num(v.stock)}, 201s ${num(v.promised)}, rows ${num(v.rows)}, duplicates ${v.duplicates}, 201 without row ${v.lost}, row without 201 ${v.phantom}${inflight}, pending→0 in ${ms(v.drainWaitMs)}${notes}`;
}

function profileLines(p: Profile, unit: { name: string; count: number }): string[] {
  const byCpu = Object.entries(p.cpu).sort(([, a], [, b]) => b - a);
  const cpu = byCpu.map(([k, v]) => `${k} ${v}%`).join(", ");
  const out = [`CPU (% of one core): ${cpu}; machine ${p.machineBusyPct}% busy (${p.otherBusyPct}% from other processes)`];
  // CPU time per request holds up far better than req/s when other processes share the cores
  if (unit.count > 0)
    out.push(`CPU per ${unit.name}: ${byCpu.map(([k, v]) => `${k} ${(((v / 100) * p.windowS * 1e6) / unit.count).toFixed(1)} µs`).join(", ")} (over the ${p.windowS} s window)`);
  if (p.redisTop.length) out.push(`Redis time by command: ${p.redisTop.map((c) => `${c.cmd} ${c.sharePct}% (${num(c.calls)} calls, ${c.usecPerCall} µs)`).join(", ")}`);
  if (p.slowlog.length) out.push(`Redis SLOWLOG (this run): ${p.slowlog.map((e) => `${ms(e.ms)} ${e.cmd}`).join("; ")}`);
  const m = p.mysql;
  out.push(
    `MySQL: ${num(m.commits)} commits, ${num(m.fsyncs)} fsyncs, ${num(m.rowLockWaits)} row-lock waits (${num(m.rowLockTimeMs)} ms waited)` +
      (p.lockWaitPct !== null ? `, ${p.lockWaitPct}% of this schema's open transactions were waiting on a row lock` : ""),
  );
  return out;
}

const unitOf = (run: Run) => run.unit ?? { name: "request", count: run.load?.all.count ?? 0 };

function extraLine(extra: Record<string, unknown>): string {
  return Object.entries(extra)
    .map(([k, v]) => `${k}: ${typeof v === "number" ? (Number.isInteger(v) ? num(v) : v.toFixed(2)) : v && typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
}

export function printScenario(r: ScenarioResult) {
  console.log(`\n=== ${r.title} ${r.ok ? "" : "— FAILED"}`);
  if (r.error) console.log(`error: ${r.error}`);
  for (const run of r.runs) {
    console.log(`\n--- ${run.label}${run.load ? ` (${run.load.connections} connections, ${run.load.durationS.toFixed(1)} s, transport errors ${run.load.errors}, timeouts ${run.load.timeouts})` : ""}`);
    if (run.load) console.log(textTable(["kind", ...LOAD_HEAD], loadRows(run.load)));
    if (run.extra) console.log(extraLine(run.extra));
    if (run.verdict) console.log(verdictLine(run.verdict));
    if (run.profile) for (const l of profileLines(run.profile, unitOf(run))) console.log(l);
  }
}

export function mdScenario(r: ScenarioResult): string {
  const out = [`### ${r.title}${r.ok ? "" : " — FAILED"}`, ""];
  out.push(`Parameters: ${extraLine(r.params)}`, "");
  if (r.error) out.push(`**Error:** ${r.error}`, "");
  for (const run of r.runs) {
    out.push(`**${run.label}**${run.load ? ` — ${run.load.connections} connections, ${run.load.durationS.toFixed(1)} s, transport errors ${run.load.errors}, timeouts ${run.load.timeouts}` : ""}`, "");
    if (run.load) out.push(mdTable(["kind", ...LOAD_HEAD], loadRows(run.load)), "");
    if (run.extra) out.push(`- ${extraLine(run.extra)}`);
    if (run.verdict) out.push(`- ${verdictLine(run.verdict)}`);
    if (run.profile) for (const l of profileLines(run.profile, unitOf(run))) out.push(`- ${l}`);
    out.push("");
  }
  return out.join("\n");
}
