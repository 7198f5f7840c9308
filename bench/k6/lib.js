// Shared helpers for the k6 scripts: HS256 user tokens, the admin API, the end-of-run check.
// Environment: BASE_URL (default http://127.0.0.1:3000), ADMIN_TOKEN, AUTH_JWT_SECRET — the same
// values the server was started with.
import { check, sleep } from "k6";
import crypto from "k6/crypto";
import encoding from "k6/encoding";
import http from "k6/http";
import { Counter } from "k6/metrics";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:3000").replace(/\/$/, "");
const ADMIN_TOKEN = __ENV.ADMIN_TOKEN;
const JWT_SECRET = __ENV.AUTH_JWT_SECRET;

/** 1 when the end-of-run check failed; every script puts a `count<1` threshold on it. */
export const endCheckFailed = new Counter("end_check_failed");
/** 201s seen by the VUs; every script puts a `count<=stock` threshold on it. */
export const issued201 = new Counter("issued_201");

export function requireSecrets() {
  if (!ADMIN_TOKEN || !JWT_SECRET) throw new Error("set ADMIN_TOKEN and AUTH_JWT_SECRET (-e ADMIN_TOKEN=… -e AUTH_JWT_SECRET=…) to the server's values");
}

/** Same token as src/auth.ts signJwt: HS256, claims sub and exp. */
export function userToken(sub, ttlSeconds = 3600) {
  const head = encoding.b64encode(JSON.stringify({ alg: "HS256", typ: "JWT" }), "rawurl");
  const body = encoding.b64encode(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + ttlSeconds }), "rawurl");
  const sig = crypto.hmac("sha256", JWT_SECRET, `${head}.${body}`, "base64rawurl");
  return `${head}.${body}.${sig}`;
}

/** A user id unique to this run, VU and iteration (1–64 chars of [A-Za-z0-9_-]). */
export function userId(runTag, vu, iter) {
  return `k6-${runTag}-${vu}-${iter}`;
}

function admin(method, path, body) {
  const res = http.request(method, BASE + path, body === undefined ? null : JSON.stringify(body), {
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    tags: { name: "admin" },
    responseCallback: http.expectedStatuses(200, 201),
  });
  if (res.status !== 200 && res.status !== 201) throw new Error(`${method} ${path} -> ${res.status} ${res.body}`);
  return JSON.parse(res.body);
}

export const createEvent = (body) => admin("POST", "/admin/events", body);
export const eventStats = (id) => admin("GET", `/admin/events/${id}`);

/** Polls the admin stats until pending = 0 (the issuer has persisted everything) or the timeout. */
export function waitDrained(id, timeoutS = 300, everyS = 0.05) {
  const end = Date.now() + timeoutS * 1000;
  let st = eventStats(id);
  while (st.pending > 0 && Date.now() < end) {
    sleep(everyS);
    st = eventStats(id);
  }
  return st;
}

/**
 * The end check, against the server's own counts once every issuance is persisted:
 * no unit lost or sold twice (issued + remaining == stock, issued <= stock), every issuance in MySQL
 * (persisted == issued, nothing pending or dead-lettered), and — where the script's demand exceeds the
 * stock by construction (`mustSellOut`), or the sale did sell out — the stock sold exactly (issued == stock).
 * Fails the run through `end_check_failed`.
 */
export function endCheck(st, stock, mustSellOut = true) {
  const soldOut = st.remaining === 0;
  const ok = check(st, {
    "end: issued + remaining == stock": (s) => s.issued + s.remaining === stock,
    "end: issued <= stock": (s) => s.issued <= stock,
    "end: issued == stock (sold out)": (s) => (mustSellOut || soldOut ? s.issued === stock : true),
    "end: persisted == issued": (s) => s.persisted === s.issued,
    "end: pending == 0": (s) => s.pending === 0,
    "end: dead == 0": (s) => s.dead === 0,
  });
  endCheckFailed.add(ok ? 0 : 1);
  if (!ok) console.error(`end check failed: ${JSON.stringify(st)} (stock ${stock})`);
  else if (!soldOut) console.log(`end check: demand did not sell out (${st.issued} of ${stock} issued); conservation and persistence hold`);
  return ok;
}

/**
 * Server-side request timings by route, from the server's `coupon_http_request_duration_seconds`
 * histogram (GET /metrics; -e METRICS_TOKEN=… when the server sets one). The load generator shares the
 * machine and, at 1,000 closed-loop VUs, its own queueing dominates what it measures; the server's
 * histogram measures the server alone. Take one snapshot in setup() and one in teardown().
 */
export function routeHistograms(method, routes) {
  const res = http.get(`${BASE}/metrics`, {
    headers: __ENV.METRICS_TOKEN ? { Authorization: `Bearer ${__ENV.METRICS_TOKEN}` } : {},
    tags: { name: "metrics" },
    responseCallback: http.expectedStatuses(200),
  });
  if (res.status !== 200) throw new Error(`GET /metrics -> ${res.status} (set -e METRICS_TOKEN to the server's value)`);
  const out = {};
  for (const route of routes) out[route] = {};
  const re = /^coupon_http_request_duration_seconds_bucket\{([^}]*)\} (\S+)$/gm;
  let m;
  while ((m = re.exec(res.body)) !== null) {
    const labels = {};
    for (const [, k, v] of m[1].matchAll(/(\w+)="([^"]*)"/g)) labels[k] = v;
    if (labels.method !== method || !(labels.route in out)) continue;
    const le = labels.le === "+Inf" ? Infinity : Number(labels.le);
    out[labels.route][le] = (out[labels.route][le] || 0) + Number(m[2]);
  }
  return out;
}

/** The q-quantile (0..1) in ms of the requests between two `routeHistograms` snapshots of one route, interpolated within its bucket as Prometheus' histogram_quantile does; null when none. */
export function quantileMs(before, after, q) {
  const les = Object.keys(after).map(Number).sort((a, b) => a - b);
  const cum = les.map((le) => (after[le] || 0) - ((before && before[le]) || 0));
  const total = cum[cum.length - 1];
  if (!total) return null;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (cum[i] >= rank) {
      if (les[i] === Infinity) return les[i - 1] * 1000; // beyond the last bucket: its lower bound
      const lo = i === 0 ? 0 : les[i - 1];
      const below = i === 0 ? 0 : cum[i - 1];
      return (lo + (les[i] - lo) * ((rank - below) / (cum[i] - below || 1))) * 1000;
    }
  }
  return null;
}

/** A user request with its name tag and the statuses the contract allows for it. */
export function userRequest(method, path, token, name, statuses) {
  return http.request(method, BASE + path, null, {
    headers: { Authorization: `Bearer ${token}` },
    tags: { name },
    responseCallback: http.expectedStatuses(...statuses),
  });
}
