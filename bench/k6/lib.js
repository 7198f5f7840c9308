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
 * The end check: the stock sold out exactly (issued == stock), every issuance is in MySQL
 * (persisted == issued, nothing pending or dead-lettered). Fails the run through `end_check_failed`.
 */
export function endCheck(st, stock) {
  const ok = check(st, {
    "end: issued == stock": (s) => s.issued === stock,
    "end: persisted == issued": (s) => s.persisted === s.issued,
    "end: pending == 0": (s) => s.pending === 0,
    "end: dead == 0": (s) => s.dead === 0,
  });
  endCheckFailed.add(ok ? 0 : 1);
  if (!ok) console.error(`end check failed: ${JSON.stringify(st)} (stock ${stock})`);
  return ok;
}

/** A user request with its name tag and the statuses the contract allows for it. */
export function userRequest(method, path, token, name, statuses) {
  return http.request(method, BASE + path, null, {
    headers: { Authorization: `Bearer ${token}` },
    tags: { name },
    responseCallback: http.expectedStatuses(...statuses),
  });
}
