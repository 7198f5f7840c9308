// A real Prometheus scrapes a live server through a small rush; then every query of the Grafana
// dashboard must return data, the alert rules must load and evaluate, and the numbers must be the real ones.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, startServer, stopServer, waitFor, type Started } from "../scripts/testkit";
import { ALERTS, dashboardQueries, RUNBOOK_BASE, rush, startPrometheus, substitute, type Prometheus } from "./prometheus/kit";

setDefaultTimeout(180_000);

const METRICS_TOKEN = "test-metrics-token-0123456789";
let s: Started;
let prom: Prometheus;

beforeAll(async () => {
  // METRICS_TOKEN: /metrics asks for it where the server supports it; Prometheus always sends it
  s = await startServer({ METRICS_TOKEN });
  prom = await startPrometheus([{ url: s.url, role: "all" }], { rules: [ALERTS], token: METRICS_TOKEN });
});

afterAll(async () => {
  await prom?.stop();
  if (s) await stopServer(s);
});

describe("Prometheus scraping a live server", () => {
  test("through a rush, every dashboard query returns data, and the alert rules load and evaluate", async () => {
    await waitFor("the first scrape", async () => (await prom.query('up{job="coupon"} == 1')).length === 1, 30_000, 250);

    const STOCK = 300;
    const ev = await s.api.createEvent({ name: "prometheus rush", stock: STOCK, trafficRpm: 120, runningCapacity: 30, admitPerSecond: 40 });
    expect(ev.status).toBe(201);
    const id = ev.body.id as number;
    const users = Array.from({ length: 600 }, (_, i) => `prom-${id}-${i}`);
    const issued = await rush(s.api, id, users, 6000);
    expect(issued).toBe(STOCK);
    await waitFor("persisted", async () => (await s.api.stats(id)).body.pending === 0);

    // Prometheus has scraped the end state: sold out, everything persisted
    const value = async (expr: string) => Number((await prom.query(expr))[0]?.value?.[1] ?? NaN);
    await waitFor("Prometheus sees the event persisted", async () => (await value(`sum(coupon_event_persisted{event_id="${id}"})`)) === STOCK, 30_000, 250);
    expect(await value(`sum(coupon_event_issued{event_id="${id}"})`)).toBe(STOCK);
    expect(await value(`sum(coupon_event_remaining{event_id="${id}"})`)).toBe(0);
    expect(await value(`sum(coupon_issue_outcomes_total{event_id="${id}",outcome="issued"})`)).toBe(STOCK);
    expect(await value(`sum(coupon_door_outcomes_total{event_id="${id}",outcome="rate_limited"})`)).toBeGreaterThan(0);
    expect(await value(`max(coupon_event_status{event_id="${id}",status="sold_out"})`)).toBe(1);
    expect(await value("max(coupon_issuer_lag_seconds)")).toBe(0);
    // every user who held a slot got there by one of the three paths, and each slot was used at most once
    expect(await value(`sum(coupon_event_admissions_total{event_id="${id}"})`)).toBeGreaterThanOrEqual(STOCK);

    const queries = await dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(8);
    const empty: string[] = [];
    for (const q of queries) {
      const result = await prom.query(substitute(q.expr, id, "1m"));
      if (!result.length) empty.push(`${q.panel}: ${q.expr}`);
    }
    console.log(`${queries.length} dashboard queries evaluated against Prometheus; empty: ${empty.length}`);
    expect(empty).toEqual([]);

    const rules = (await prom.rules()).groups.flatMap((g) => g.rules);
    expect(rules.filter((r) => r.type === "alerting").length).toBeGreaterThanOrEqual(5);
    await waitFor("every rule evaluated", async () => (await prom.rules()).groups.flatMap((g) => g.rules).every((r) => r.health === "ok"), 15_000, 250);
    // nothing is wrong after a clean rush: no alert is firing (a CouponAdmissionStalled here would be a false alarm)
    expect((await prom.query('ALERTS{alertstate="firing"}')).map((a) => a.metric.alertname)).toEqual([]);
  });

  test("a stall during a drop: CouponAdmissionStalled is pending within 60 s, with an absolute runbook link", async () => {
    // two slots, taken by users who never issue; the others wait and keep polling: the line stops
    const ev = await s.api.createEvent({ name: "stalled drop", stock: 100, trafficRpm: 0, runningCapacity: 2, admitPerSecond: 5 });
    const id = ev.body.id as number;
    const users = Array.from({ length: 8 }, (_, i) => `stall-${id}-${i}`);
    for (const u of users) expect((await s.api.enter(id, u)).status).toBe(202);
    let stop = false;
    const polling = Promise.all(
      users.map(async (u) => {
        while (!stop) {
          await s.api.poll(id, u);
          await Bun.sleep(1000);
        }
      }),
    );
    try {
      await waitFor("both slots taken", async () => (await s.api.stats(id)).body.running === 2, 30_000, 100);
      const stalledAt = Date.now();
      const alert = async () => (await prom.alerts()).find((a) => a.labels.alertname === "CouponAdmissionStalled" && a.labels.event_id === String(id));
      await waitFor("the alert pending", async () => !!(await alert()), 90_000, 250);
      const seconds = (Date.now() - stalledAt) / 1000;
      console.log(`CouponAdmissionStalled ${(await alert())!.state} ${seconds.toFixed(1)} s after the line stopped`);
      // the contract's figure: within a minute of the stall
      expect(seconds).toBeLessThanOrEqual(60);
      expect((await alert())!.annotations.runbook_url).toBe(`${RUNBOOK_BASE}/docs/runbook.md#couponadmissionstalled`);
      // the operator pauses: a wanted stall is not an alarm
      expect((await s.api.call("POST", `/admin/events/${id}/pause`, { token: ADMIN_TOKEN })).status).toBe(200);
      await waitFor("the alert gone after the pause", async () => !(await alert()), 60_000, 250);
    } finally {
      stop = true;
      await polling;
    }
  });
});
