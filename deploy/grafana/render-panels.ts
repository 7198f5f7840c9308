// Makes docs/rush-panels.png (the README's picture of the dashboard) from real data: a live server, a
// rush through its API, a real Prometheus scraping it every two seconds, and the dashboard's own queries
// over the rush (query_range). Grafana is not installable here, so the panels are drawn as SVG and
// photographed with chromium; the raw query results are kept next to the picture (docs/rush-panels.json).
// Run: bun run deploy/grafana/render-panels.ts
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "../../modules/web/browser-kit";
import { startServer, stopServer, waitFor } from "../../scripts/testkit";
import { DASHBOARD, rush, startPrometheus, substitute } from "../prometheus/kit";

const PANELS = ["Coupons left and issued per second", "Waiting vs running vs capacity", "Admissions per second vs admitPerSecond", "Request rate vs trafficRpm", "At the door: enter outcomes per second", "Persisted: lag and backlog"];
// what Grafana's $__rate_interval is for the kit's 2 s scrape interval: four scrapes
const RATE_INTERVAL = "8s";
const docs = join(import.meta.dir, "..", "..", "docs");

type Panel = { title: string; targets: { expr: string; legendFormat: string }[]; fieldConfig: { overrides: { matcher: { options: string }; properties: { id: string; value: unknown }[] }[] } };
type Series = { name: string; points: [number, number][]; right: boolean; dashed: boolean };

const COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#ff9830"];

function chart(series: Series[], span: number, w: number, h: number): string {
  const pad = { l: 46, r: series.some((x) => x.right) ? 46 : 12, t: 8, b: 22 };
  const iw = w - pad.l - pad.r;
  const ih = h - pad.t - pad.b;
  const axis = (right: boolean) => {
    const vals = series.filter((x) => x.right === right).flatMap((x) => x.points.map((p) => p[1])).filter(Number.isFinite);
    const max = niceMax(Math.max(1, ...vals));
    return { max, y: (v: number) => pad.t + ih - (v / max) * ih };
  };
  const left = axis(false);
  const right = axis(true);
  const x = (t: number) => pad.l + (t / span) * iw;
  let out = "";
  for (let i = 0; i <= 4; i++) {
    const yy = pad.t + (ih * i) / 4;
    out += `<line x1="${pad.l}" x2="${pad.l + iw}" y1="${yy}" y2="${yy}" stroke="#2c3235"/>`;
    out += `<text x="${pad.l - 6}" y="${yy + 4}" text-anchor="end">${fmt(left.max * (1 - i / 4))}</text>`;
    if (pad.r > 12) out += `<text x="${pad.l + iw + 6}" y="${yy + 4}">${fmt(right.max * (1 - i / 4))}</text>`;
  }
  for (let t = 0; t <= span; t += 10) out += `<text x="${x(t)}" y="${h - 6}" text-anchor="middle">${t}s</text>`;
  series.forEach((sr, i) => {
    const ax = sr.right ? right : left;
    const pts = sr.points.filter((p) => Number.isFinite(p[1])).map((p) => `${x(p[0]).toFixed(1)},${ax.y(p[1]).toFixed(1)}`);
    out += `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" ${sr.dashed ? 'stroke-dasharray="8 6"' : ""} points="${pts.join(" ")}"/>`;
  });
  return `<svg width="${w}" height="${h}">${out}</svg>`;
}

function niceMax(v: number) {
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}
const fmt = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k` : v >= 10 ? v.toFixed(0) : Number(v.toFixed(2)).toString());

function html(panels: { title: string; series: Series[] }[], span: number, caption: string) {
  const cells = panels
    .map(
      (p) => `<section><h2>${p.title}</h2>${chart(p.series, span, 470, 250)}<ul>${p.series
        .map((sr, i) => `<li><i style="background:${COLORS[i % COLORS.length]}"></i>${sr.name}${sr.right ? " (right)" : ""}</li>`)
        .join("")}</ul></section>`,
    )
    .join("");
  return `<!doctype html><html><head><style>
  body { margin: 0; padding: 12px 14px; background: #111217; color: #ccccdc; font: 12px/1.4 system-ui, sans-serif; }
  header { display: flex; justify-content: space-between; margin-bottom: 8px; } header b { font-size: 15px; color: #fff; }
  main { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; }
  section { background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; padding: 6px 8px; }
  h2 { font-size: 13px; margin: 0 0 4px; color: #e0e0ec; font-weight: 500; }
  svg text { fill: #8e8e9e; font-size: 10px; }
  ul { list-style: none; margin: 2px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 12px; }
  li i { display: inline-block; width: 14px; height: 3px; margin-right: 5px; vertical-align: middle; }
</style></head><body><header><b>massive coupon — rush</b><span>${caption}; Prometheus query_range, 1 s step, $__rate_interval = ${RATE_INTERVAL}</span></header><main>${cells}</main></body></html>`;
}

const s = await startServer();
const prom = await startPrometheus([{ url: s.url, role: "all" }]);
try {
  await waitFor("first scrape", async () => (await prom.query('up{job="coupon"} == 1')).length === 1, 30_000, 250);
  const STOCK = 1200;
  const id = (await s.api.createEvent({ name: "Black Friday", stock: STOCK, trafficRpm: 300, runningCapacity: 60, admitPerSecond: 40 })).body.id as number;
  const t0 = Date.now() / 1000 - 3;
  const users = Array.from({ length: 2400 }, (_, i) => `bf-${id}-${i}`);
  const issued = await rush(s.api, id, users, 20_000);
  await waitFor("persisted", async () => (await s.api.stats(id)).body.pending === 0, 60_000);
  await Bun.sleep(6000); // a few scrapes of the end state
  const t1 = Date.now() / 1000;
  console.log(`rush: ${issued} of ${users.length} users issued (stock ${STOCK}) in ${(t1 - t0).toFixed(0)} s`);

  const dash = (await Bun.file(DASHBOARD).json()) as { panels: Panel[] };
  const rendered: { title: string; series: Series[] }[] = [];
  const raw: Record<string, unknown> = { eventId: id, stock: STOCK, users: users.length, start: t0, end: t1, step: 1, rateInterval: RATE_INTERVAL, panels: {} };
  for (const title of PANELS) {
    const panel = dash.panels.find((p) => p.title === title)!;
    const override = (name: string, id: string) => panel.fieldConfig.overrides.find((o) => new RegExp(`^${o.matcher.options}$`).test(name))?.properties.find((p) => p.id === id)?.value;
    const series: Series[] = [];
    for (const t of panel.targets) {
      const expr = substitute(t.expr, id, RATE_INTERVAL);
      const result = await prom.queryRange(expr, t0, t1, 1);
      (raw.panels as Record<string, unknown>)[`${title} :: ${expr}`] = result;
      for (const r of result) {
        const name = t.legendFormat.replace(/\{\{(\w+)\}\}/g, (_, l: string) => r.metric[l] ?? "");
        series.push({ name, points: r.values!.map(([ts, v]) => [ts - t0, Number(v)]), right: override(name, "custom.axisPlacement") === "right", dashed: !!override(name, "custom.lineStyle") });
      }
    }
    rendered.push({ title, series });
  }
  writeFileSync(join(docs, "rush-panels.json"), JSON.stringify(raw));

  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 760 }, deviceScaleFactor: 1 });
    await page.setContent(html(rendered, t1 - t0, `event ${id}: ${STOCK} coupons, ${users.length} users arriving over 20 s — trafficRpm 300, runningCapacity 60, admitPerSecond 40`));
    await page.screenshot({ path: join(docs, "rush-panels.png") });
    console.log(`wrote ${join(docs, "rush-panels.png")}`);
  } finally {
    await browser.close();
  }
} finally {
  await prom.stop();
  await stopServer(s);
}
process.exit(0);
