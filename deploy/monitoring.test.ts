// The monitoring files as shipped: promtool accepts the rules and their unit tests pass, every metric the
// dashboard and the alerts use is one a server exports, docs/metrics.md lists exactly those, every alert
// has its runbook section, and the compose monitoring profile points at files that exist.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { scrapeMetrics, startServer, stopServer, type Exposition, type Started } from "../scripts/testkit";
import { ALERTS, DASHBOARD, DEPLOY, dashboardQueries } from "./prometheus/kit";

const ROOT = join(DEPLOY, "..");

function promtool(...args: string[]) {
  const p = Bun.spawnSync(["promtool", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

/** Metric names in a PromQL expression: what is left once strings, matchers, ranges, label lists, functions and keywords are gone. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  return [...new Set((bare.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? []).filter((w) => !FUNCTIONS.has(w) && !KEYWORDS.has(w)))];
}
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset"]);
const FUNCTIONS = new Set(["sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "label_values", "abs", "clamp_min", "clamp_max", "vector", "time", "absent", "deriv", "delta", "topk", "bottomk", "quantile", "sum_over_time", "max_over_time", "min_over_time", "avg_over_time"]);

let s: Started;
let page: Exposition;
let exported: Set<string>;
const typed = new Map<string, string>();
beforeAll(async () => {
  s = await startServer();
  // ROLE=all exports every metric there is; `# TYPE` lines list them even before they have samples
  page = await scrapeMetrics(s.url);
  exported = new Set<string>();
  for (const [name, type] of page.types) {
    typed.set(name, type);
    exported.add(name);
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(name + suffix);
  }
});
afterAll(() => stopServer(s));

describe("alert rules", () => {
  test("promtool check rules accepts deploy/prometheus/alerts.yml", () => {
    const r = promtool("check", "rules", ALERTS);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  test("promtool test rules: every alert's unit tests pass", () => {
    const r = promtool("test", "rules", join(DEPLOY, "prometheus", "alerts.test.yml"));
    if (r.code !== 0) console.log(r.out);
    expect(r.code).toBe(0);
  });

  test("promtool check config accepts the compose Prometheus config (with the rules it loads)", () => {
    const r = promtool("check", "config", join(DEPLOY, "prometheus", "prometheus.yml"));
    expect(r.code).toBe(0);
  });

  test("every alert has a unit test and a runbook section", async () => {
    const rules = await Bun.file(ALERTS).text();
    const tests = await Bun.file(join(DEPLOY, "prometheus", "alerts.test.yml")).text();
    const runbook = await Bun.file(join(ROOT, "docs", "runbook.md")).text();
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    for (const a of alerts) {
      expect(tests).toContain(`alertname: ${a}\n`);
      expect(runbook).toContain(`## ${a}\n`);
      // an absolute link: the external label runbook_base (RUNBOOK_BASE_URL) + the section's anchor
      expect(rules).toContain(`runbook_url: '{{ $externalLabels.runbook_base }}/docs/runbook.md#${a.toLowerCase()}'`);
    }
  });
});

describe("metric names", () => {
  test("the name extractor finds metrics and nothing else", () => {
    expect(metricNames('histogram_quantile(0.99, sum by (route, le) (rate(coupon_http_request_duration_seconds_bucket{route!="x"}[5m])))')).toEqual(["coupon_http_request_duration_seconds_bucket"]);
    expect(metricNames('(max by (event_id) (coupon_event_waiting) > 0) and on (event_id) (coupon_event_status{status="open"} == 1)')).toEqual(["coupon_event_waiting", "coupon_event_status"]);
    expect(metricNames('up{job="coupon"} == 0')).toEqual(["up"]);
  });

  test("every metric in the dashboard and in the alerts is one the server exports", async () => {
    const exprs = [...(await dashboardQueries()).map((q) => q.expr), ...[...(await Bun.file(ALERTS).text()).matchAll(/expr: (?:\|\n)?([\s\S]*?)\n\s+(?:for|labels):/g)].map((m) => m[1]!)];
    expect(exprs.length).toBeGreaterThan(30);
    const used = new Set(exprs.flatMap(metricNames));
    used.delete("up"); // Prometheus's own, per target
    const missing = [...used].filter((n) => !exported.has(n));
    expect(missing).toEqual([]);
    // and the variable's query
    const dash = await Bun.file(DASHBOARD).json();
    for (const v of dash.templating.list.filter((v: { type: string }) => v.type === "query")) expect(exported.has(/label_values\((\w+),/.exec(v.query.query)![1]!)).toBe(true);
  });

  test("docs/metrics.md lists exactly the coupon_ metrics a server exports", async () => {
    const doc = await Bun.file(join(ROOT, "docs", "metrics.md")).text();
    const documented = new Set([...doc.matchAll(/^\| `(coupon_\w+)`/gm)].map((m) => m[1]!));
    expect([...documented].sort()).toEqual([...typed.keys()].filter((n) => n.startsWith("coupon_")).sort());
  });

  test("names follow Prometheus conventions: counters end in _total, and every HELP says something", () => {
    for (const [name, type] of typed) {
      if (!name.startsWith("coupon_")) continue;
      expect(name.endsWith("_total")).toBe(type === "counter");
      expect(page.help.get(name)).toMatch(/^\S.{15,}$/);
    }
  });
});

describe("dashboard and compose", () => {
  test("the dashboard has at least 8 panels, unique ids, and every panel, query, variable and annotation reads the datasource variable", async () => {
    const dash = await Bun.file(DASHBOARD).json();
    const panels = dash.panels.filter((p: { type: string }) => p.type !== "row");
    expect(panels.length).toBeGreaterThanOrEqual(8);
    expect(new Set(dash.panels.map((p: { id: number }) => p.id)).size).toBe(dash.panels.length);
    const ds = { type: "prometheus", uid: "${datasource}" };
    for (const p of panels) {
      expect(p.datasource).toEqual(ds);
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect(t.expr).toBeTruthy();
        expect(t.datasource).toEqual(ds);
      }
    }
    for (const v of dash.templating.list.filter((v: { type: string }) => v.type !== "datasource")) expect(v.datasource).toEqual(ds);
    for (const a of dash.annotations.list) expect(a.datasource).toEqual(ds);
  });

  test("portable: imported into a Grafana whose Prometheus has another uid, every query goes to that datasource", async () => {
    const text = await Bun.file(DASHBOARD).text();
    // no datasource is named by uid anywhere: not the provisioned one, not any other
    const provisioned = Bun.YAML.parse(await Bun.file(join(DEPLOY, "grafana", "provisioning", "datasources", "prometheus.yml")).text()) as { datasources: { uid: string }[] };
    expect(text).not.toContain(provisioned.datasources[0]!.uid);
    const dash = JSON.parse(text);
    const [variable, ...others] = dash.templating.list;
    expect(variable).toMatchObject({ name: "datasource", type: "datasource", query: "prometheus" });
    expect(others.every((v: { type: string }) => v.type !== "datasource")).toBe(true);
    // what Grafana does on import: the variable takes the chosen datasource, every ${datasource} resolves to it
    const imported = JSON.parse(text.replaceAll("${datasource}", "their-prometheus-uid"));
    const uids = new Set<string>();
    const walk = (o: unknown): void => {
      if (Array.isArray(o)) return o.forEach(walk);
      if (!o || typeof o !== "object") return;
      for (const [k, v] of Object.entries(o)) {
        if (k === "datasource" && v && typeof v === "object") uids.add((v as { uid: string }).uid);
        else walk(v);
      }
    };
    walk(imported);
    expect([...uids]).toEqual(["their-prometheus-uid"]);
  });

  test("wait time, funnel, webhook panels with thresholds, and operator actions as annotations", async () => {
    const dash = await Bun.file(DASHBOARD).json();
    const panels = dash.panels as { title: string; targets?: { expr: string }[]; fieldConfig?: { defaults?: { thresholds?: { steps: unknown[] } } } }[];
    const using = (metric: string) => panels.find((p) => p.targets?.some((t) => t.expr.includes(metric)));
    for (const m of ["coupon_queue_wait_seconds_bucket", "coupon_event_funnel_users", "coupon_event_turned_away", "coupon_event_ghost_slots", "coupon_webhook_outbox_pending", "coupon_admin_actions_total"]) expect(using(m)).toBeDefined();
    for (const m of ["coupon_queue_wait_seconds_bucket", "coupon_http_request_duration_seconds_bucket", "coupon_event_ghost_slots", "coupon_issuer_lag_seconds"])
      expect(using(m)!.fieldConfig!.defaults!.thresholds!.steps.length).toBeGreaterThan(1);
    expect(dash.annotations.list.some((a: { expr: string; enable: boolean }) => a.enable && a.expr.includes("coupon_admin_actions_total"))).toBe(true);
  });

  test("compose.yaml: the monitoring profile adds Prometheus and Grafana and mounts files that exist; the default profile is unchanged", async () => {
    const compose = Bun.YAML.parse(await Bun.file(join(ROOT, "compose.yaml")).text()) as { services: Record<string, { profiles?: string[]; volumes?: string[]; image?: string }> };
    const monitoring = Object.entries(compose.services).filter(([, svc]) => svc.profiles?.includes("monitoring")).map(([n]) => n);
    expect(monitoring.sort()).toEqual(["grafana", "prometheus"]);
    for (const role of ["router", "queue", "coupon", "issuer", "redis", "mysql"]) expect(compose.services[role]!.profiles).toBeUndefined();
    for (const name of monitoring)
      for (const v of compose.services[name]!.volumes ?? []) {
        const src = v.split(":")[0]!;
        if (src.startsWith("./")) expect(existsSync(join(ROOT, src))).toBe(true);
      }
    // the dashboards folder Grafana's provider reads is the one compose mounts
    const provider = Bun.YAML.parse(await Bun.file(join(DEPLOY, "grafana", "provisioning", "dashboards", "coupon.yml")).text()) as { providers: { options: { path: string } }[] };
    expect(compose.services.grafana!.volumes).toContain(`./deploy/grafana/dashboards:${provider.providers[0]!.options.path}:ro`);
  });
});
