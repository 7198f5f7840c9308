// Hostile input: thousands of generated bad requests → never a 5xx, always the JSON error shape, no state change.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac } from "node:crypto";
import { eventKeys } from "./redis";
import { ADMIN_TOKEN, JWT_SECRET, mysqlConn, NO_USER_LIMITS, startServer, stopServer, token, type Started } from "../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();
let ev: number;

beforeAll(async () => {
  // limits and scheduler off: this test is about input handling, and the state must stand still
  s = await startServer({ ...NO_USER_LIMITS, QUEUE_SCHEDULER: "off" });
  ev = (await s.api.createEvent({ name: "fuzz target", stock: 50, trafficRpm: 0, runningCapacity: 5 })).body.id;
  // some state worth protecting: a waiter and an admitted user in another event
  await s.api.enter(ev, "resident");
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

const b64 = (o: unknown) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64url");
function jwt(header: unknown, payload: unknown, secret = JWT_SECRET, sig?: string) {
  const h = b64(header), p = b64(payload);
  return `${h}.${p}.${sig ?? createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url")}`;
}
const now = () => Math.floor(Date.now() / 1000);
const badTokens = [
  "",
  "Bearer",
  "Bearer ",
  "Basic dXNlcjpwYXNz",
  "Bearer a.b.c",
  "Bearer ....",
  `Bearer ${jwt({ alg: "none", typ: "JWT" }, { sub: "mallory", exp: now() + 600 }, JWT_SECRET, "")}`,
  `Bearer ${jwt({ alg: "HS512" }, { sub: "mallory", exp: now() + 600 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "mallory", exp: now() - 10 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "mallory", exp: now() + 600 }, "wrong-secret-wrong-secret")}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "mallory" })}`,
  `Bearer ${jwt({ alg: "HS256" }, { exp: now() + 600 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "", exp: now() + 600 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "x".repeat(65), exp: now() + 600 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "../../admin", exp: now() + 600 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "bob'; DROP TABLE coupon_issues; --", exp: now() + 600 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "ünïcødé", exp: now() + 600 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: 12345, exp: now() + 600 })}`,
  `Bearer ${jwt({ alg: "HS256" }, { sub: "mallory", exp: "tomorrow" })}`,
  `Bearer ${jwt({ alg: "HS256" }, "not json")}`,
  `Bearer ${ADMIN_TOKEN}`,
  `Bearer ${"A".repeat(5000)}`,
];
const badIds = ["0", "-1", "abc", "99999999999", "2147483648", "1e3", "1.5", "0x10", "%00", "%0A", "..%2F1", "%2e%2e", "ü", "%F0%9F%92%A5", "1%27%20OR%201%3D1--", "1;DROP%20TABLE%20x", "%22%3E%3Cscript%3E", "x".repeat(300), "%20", "null", "undefined", "NaN", "Infinity"];
const badBodies: (string | undefined)[] = [
  "{",
  "}",
  "[]",
  "null",
  "true",
  '"str"',
  "{'name': 1}",
  '{"name": "x"}',
  '{"name": "x", "stock": -1, "trafficRpm": 1, "runningCapacity": 1}',
  '{"name": "x", "stock": 0, "trafficRpm": 1, "runningCapacity": 1}',
  '{"name": "x", "stock": 10000001, "trafficRpm": 1, "runningCapacity": 1}',
  '{"name": "x", "stock": 1.5, "trafficRpm": 1, "runningCapacity": 1}',
  '{"name": "x", "stock": "10", "trafficRpm": 1, "runningCapacity": 1}',
  '{"name": "x", "stock": 1e400, "trafficRpm": 1, "runningCapacity": 1}',
  '{"name": "x", "stock": 10, "trafficRpm": -5, "runningCapacity": 1}',
  '{"name": "x", "stock": 10, "trafficRpm": 1, "runningCapacity": 0}',
  '{"name": "", "stock": 10, "trafficRpm": 1, "runningCapacity": 1}',
  `{"name": "${"n".repeat(201)}", "stock": 10, "trafficRpm": 1, "runningCapacity": 1}`,
  '{"name": "x", "stock": 10, "trafficRpm": 1, "runningCapacity": 1, "startsAt": "yesterday"}',
  '{"name": "x", "stock": 10, "trafficRpm": 1, "runningCapacity": 1, "startsAt": "2030-01-01T00:00:00Z", "endsAt": "2029-01-01T00:00:00Z"}',
  '{"name": "x", "stock": 10, "trafficRpm": 1, "runningCapacity": 1, "admitPerSecond": 0}',
  '{"name": "x", "stock": -10, "trafficRpm": 1, "runningCapacity": 1, "__proto__": {"polluted": true}}',
  '{"name": {"$gt": ""}, "stock": 10, "trafficRpm": 1, "runningCapacity": 1}',
  '{"trafficRpm": "fast"}',
  '{"runningCapacity": -1}',
  '{"endsAt": 12}',
  "{}",
  `{"name": "${"\\u0000".repeat(10)}"`,
  JSON.stringify({ name: "big", stock: 10, trafficRpm: 1, runningCapacity: 1, pad: "x".repeat(40_000) }),
  "\u0000\u0001\u0002",
  "%7B%7D",
  undefined,
];
const contentTypes = ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16"];

type Req = { method: string; path: string; auth?: string; body?: string; type?: string };
function generate(): Req[] {
  const out: Req[] = [];
  const userRoutes = (id: string) => [
    ["POST", `/api/events/${id}/enter`],
    ["GET", `/api/events/${id}/queue`],
    ["DELETE", `/api/events/${id}/queue`],
    ["POST", `/api/events/${id}/issue`],
    ["GET", `/api/events/${id}/coupon`],
  ];
  // forged or missing identity on every user route of the real event
  for (const [m, p] of userRoutes(String(ev))) for (const a of badTokens) out.push({ method: m!, path: p!, auth: a });
  // a valid user on unknown or garbage event ids
  for (const id of badIds) for (const [m, p] of userRoutes(id)) out.push({ method: m!, path: p!, auth: `Bearer ${token("fuzzer")}` });
  for (const id of badIds) out.push({ method: "GET", path: `/api/events/${id}` });
  // the admin API: wrong tokens with plausible bodies, the right token with bad bodies, garbage ids
  const wrongAdmin = badTokens.filter((a) => !a.includes(ADMIN_TOKEN));
  for (const a of wrongAdmin) out.push({ method: "POST", path: "/admin/events", auth: a, body: '{"name":"x","stock":10,"trafficRpm":1,"runningCapacity":1}', type: "application/json" });
  for (const a of wrongAdmin) out.push({ method: "PATCH", path: `/admin/events/${ev}`, auth: a, body: '{"trafficRpm":999}', type: "application/json" });
  for (const body of badBodies) for (const type of contentTypes) out.push({ method: "POST", path: "/admin/events", auth: `Bearer ${ADMIN_TOKEN}`, body, type });
  // a lone name is a good PATCH (a live rename): every other body is bad for PATCH too
  for (const body of badBodies.filter((b) => b !== '{"name": "x"}')) out.push({ method: "PATCH", path: `/admin/events/${ev}`, auth: `Bearer ${ADMIN_TOKEN}`, body, type: "application/json" });
  for (const id of badIds) for (const m of ["GET", "PATCH"]) out.push({ method: m, path: `/admin/events/${id}`, auth: `Bearer ${ADMIN_TOKEN}`, body: m === "PATCH" ? '{"trafficRpm":1}' : undefined, type: "application/json" });
  // path traversal and odd routes
  for (const p of ["/../../etc/passwd", "/api/../admin/events", "/api/events/", "/api/events//enter", "/admin/events/1/../../", "/%2e%2e/%2e%2e/", "/api/events/1/issue/extra", "/swagger/../../src/config.ts"]) for (const m of ["GET", "POST", "PUT", "OPTIONS"]) out.push({ method: m, path: p });
  // seeded random mutations: random ids, bodies with control and unicode characters, random identities
  let seed = 20261126;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const alphabet = ["a", "1", "-", "_", "/", ".", "%", "'", '"', "\\", "\u0000", "\u001f", "é", "💥", " ", "{", "}", ":", ",", "null", "9".repeat(20)];
  const junk = (len: number) => Array.from({ length: len }, () => alphabet[rnd(alphabet.length)]).join("");
  const templates = ["/api/events/ID/enter", "/api/events/ID/queue", "/api/events/ID/issue", "/api/events/ID/coupon", "/api/events/ID", "/admin/events/ID", "/admin/events"];
  for (let i = 0; i < 700; i++) {
    const path = templates[rnd(templates.length)]!.replace("ID", encodeURIComponent(junk(1 + rnd(12))));
    const method = ["GET", "POST", "PATCH", "DELETE"][rnd(4)]!;
    const admin = path.startsWith("/admin");
    const auth = admin ? (rnd(2) ? `Bearer ${ADMIN_TOKEN}` : wrongAdmin[rnd(wrongAdmin.length)]) : badTokens[rnd(badTokens.length)];
    // with the real admin token, only bodies that cannot be valid events
    const body = method === "GET" || method === "DELETE" ? undefined : `{"name": "${junk(rnd(20))}", "stock": ${["-1", "0", "1e99", '"x"', "null", "[]"][rnd(6)]}, ${junk(rnd(30))}`;
    out.push({ method, path, auth, body, type: "application/json" });
  }
  // odd methods on real routes
  for (const m of ["PUT", "PATCH"]) out.push({ method: m, path: `/api/events/${ev}/issue`, auth: `Bearer ${token("fuzzer")}` });
  return out;
}

async function snapshot() {
  const k = eventKeys(s.prefix, ev);
  // only this server's rows: other test files may write to the shared schema meanwhile
  const [[counts]] = (await db.query("SELECT (SELECT COUNT(*) FROM coupon_events WHERE id >= ?) AS events, (SELECT COUNT(*) FROM coupon_issues WHERE event_id >= ?) AS rows_, (SELECT traffic_rpm FROM coupon_events WHERE id = ?) AS rpm", [ev, ev, ev])) as any;
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await s.redis.scan(cursor, "MATCH", `${s.prefix}:*`, "COUNT", 1000);
    cursor = next;
    // rate buckets count requests by design, so do failed admin authentications (the lockout), and the issuer creates empty streams for its group
    keys.push(...batch.filter((x) => !x.endsWith(":rate") && !x.endsWith(":stream") && !x.startsWith(`${s.prefix}:lockout:`)));
  } while (cursor !== "0");
  const meta = await s.redis.hgetall(k.meta);
  delete meta.admitRate;
  return {
    counts,
    keys: keys.sort(),
    meta,
    waiting: await s.redis.zrange(k.waiting, "0", "-1"),
    running: await s.redis.zrange(k.running, "0", "-1"),
    stream: await s.redis.xlen(k.stream),
  };
}

describe("hostile input", () => {
  test("over 1,000 generated bad requests: 0 × 5xx, JSON errors, no state change", async () => {
    const reqs = generate();
    expect(reqs.length).toBeGreaterThanOrEqual(1000);
    const before = await snapshot();
    const bad: string[] = [];
    const byStatus: Record<number, number> = {};
    for (let i = 0; i < reqs.length; i += 50) {
      await Promise.all(
        reqs.slice(i, i + 50).map(async (r) => {
          const headers: Record<string, string> = {};
          if (r.auth !== undefined) headers.authorization = r.auth;
          if (r.type) headers["content-type"] = r.type;
          const res = await fetch(s.url + r.path, { method: r.method, headers, body: r.body });
          const text = await res.text();
          byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
          const tag = `${r.method} ${r.path.slice(0, 60)} [${(r.auth ?? "").slice(0, 30)}] ${String(r.body).slice(0, 40)} → ${res.status} ${text.slice(0, 80)}`;
          if (res.status >= 500) return void bad.push(`5xx: ${tag}`);
          if (res.status < 400 && !(r.method === "OPTIONS" || r.method === "GET")) return void bad.push(`accepted: ${tag}`);
          if (res.status >= 400) {
            let body: any;
            try {
              body = JSON.parse(text);
            } catch {}
            if (typeof body?.error !== "string" || typeof body?.message !== "string") bad.push(`not the error shape: ${tag}`);
          }
        }),
      );
    }
    console.log(`fuzz: ${reqs.length} requests, by status:`, byStatus);
    expect(bad).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await snapshot()).toEqual(before);
  });
});
