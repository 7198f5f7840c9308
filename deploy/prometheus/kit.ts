// Shared by deploy/prometheus.test.ts and deploy/grafana/render-panels.ts: a real Prometheus (Debian's
// binary, scripts/ensure-prometheus.sh) with its own data dir and port, scraping live servers every two
// seconds; a small rush driven through the API; and the dashboard's queries.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adopt, pool, type client } from "../../scripts/testkit";

export const DEPLOY = join(import.meta.dir, "..");
export const ALERTS = join(DEPLOY, "prometheus", "alerts.yml");
export const DASHBOARD = join(DEPLOY, "grafana", "dashboards", "coupon.json");

export type Sample = { metric: Record<string, string>; value?: [number, string]; values?: [number, string][] };

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export const RUNBOOK_BASE = "https://runbooks.example/coupon";

/** Starts `prometheus` scraping `targets` (base URLs) every two seconds, with `rules` loaded and runbook links under RUNBOOK_BASE. */
export async function startPrometheus(targets: { url: string; role: string }[], opts: { rules?: string[]; token?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "coupon-prometheus-"));
  const port = freePort();
  // JSON is YAML: no YAML writer needed
  const config = {
    // a 2 s timeout: a server whose database holds hundreds of events (a shared test database) answers /metrics in about a second
    global: { scrape_interval: "2s", evaluation_interval: "1s", scrape_timeout: "2s", external_labels: { runbook_base: RUNBOOK_BASE } },
    rule_files: opts.rules ?? [],
    scrape_configs: [
      {
        job_name: "coupon",
        ...(opts.token ? { authorization: { type: "Bearer", credentials: opts.token } } : {}),
        static_configs: targets.map((t) => ({ targets: [new URL(t.url).host], labels: { role: t.role } })),
      },
    ],
  };
  writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2));
  const proc = adopt(Bun.spawn(
    ["prometheus", `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  ));
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited ${proc.exitCode}:\n${log}`);
    if (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) break;
    if (Date.now() > end) {
      proc.kill("SIGKILL");
      throw new Error(`prometheus not ready after 60 s:\n${log}`);
    }
    await Bun.sleep(200);
  }
  async function api<T>(path: string, params: Record<string, string>): Promise<T> {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  }
  return {
    url,
    log: () => log,
    query: async (expr: string) => (await api<{ result: Sample[] }>("query", { query: expr })).result,
    queryRange: async (expr: string, start: number, stop: number, step: number) =>
      (await api<{ result: Sample[] }>("query_range", { query: expr, start: String(start), end: String(stop), step: String(step) })).result,
    alerts: async () => (await api<{ alerts: { labels: Record<string, string>; annotations: Record<string, string>; state: string; activeAt: string }[] }>("alerts", {})).alerts,
    rules: () => api<{ groups: { rules: { name: string; type: string; health: string; lastError?: string }[] }[] }>("rules", {}),
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type Prometheus = Awaited<ReturnType<typeof startPrometheus>>;

/** The dashboard's queries, panel by panel. */
export async function dashboardQueries(): Promise<{ panel: string; expr: string; legend: string }[]> {
  const dash = (await Bun.file(DASHBOARD).json()) as { panels: { title: string; type: string; targets?: { expr: string; legendFormat?: string }[] }[] };
  return dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr, legend: t.legendFormat ?? "" })));
}

/** A dashboard query with Grafana's variables filled in. */
export const substitute = (expr: string, eventId: number, rateInterval: string) => expr.replaceAll("$event_id", String(eventId)).replaceAll("$__rate_interval", rateInterval);

/**
 * A rush on one event: `users` arrive spread over `arrivalMs`, each enters, polls at the server's
 * pace until admitted, and issues. One user also hammers enter past the per-user limit (rate_limited).
 * Returns how many got a 201.
 */
export async function rush(api: ReturnType<typeof client>, eventId: number, users: string[], arrivalMs: number) {
  const t0 = Date.now();
  // once the router has answered for the event (ids it has not seen are not counted per event)
  const hammer = Bun.sleep(arrivalMs / 3).then(() => pool(Array.from({ length: 60 }), 60, () => api.enter(eventId, users[0]!)));
  const results = await pool(users, users.length, async (u, i) => {
    await Bun.sleep(t0 + (arrivalMs * i) / users.length - Date.now());
    let r = await api.enter(eventId, u);
    // polls carry the waiting ticket, as the waiting room does: the wait (coupon_queue_wait_seconds) is measured from it
    let ticket: string | undefined = r.body?.ticket;
    while (r.body?.status === "waiting" || r.status === 429) {
      await Bun.sleep(Math.min(r.body?.pollAfterMs ?? 500, 1000));
      r = ticket ? await api.call("GET", `/api/events/${eventId}/queue`, { token: ticket }) : await api.poll(eventId, u);
      ticket = r.body?.ticket ?? ticket;
    }
    if (r.body?.status !== "admitted") return 0;
    return (await api.issue(eventId, u)).status === 201 ? 1 : 0;
  });
  await hammer;
  return results.reduce<number>((a, b) => a + b, 0);
}
