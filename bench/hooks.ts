// What every request pays whatever its route: the root's hooks (src/server.ts) and the router's
// limiter, added one at a time to an app with the same options as the real root, each measured as
// server CPU per request through `app.handle` (in process: no sockets, no load generator, so the
// differences are the hooks' own). Requests: a sold-out enter with a new user's token each time (the
// flash crowd's refusal, answered before the token) and a deep poll with a waiting ticket.
//
//   bun run bench/hooks.ts [--n=200000] [--rounds=5]
import { Elysia } from "elysia";
import { createAuth, signJwt } from "../src/auth";
import { errorBody, errors, routedAsSent } from "../src/http";
import { createMetrics } from "../src/metrics";
import { rateLimit, userBuckets, type RateLimitConfig } from "../src/ratelimit";
import { httpTiming, ROOT_OPTIONS } from "../src/server";
import { authentication } from "../src/auth";
import { Tickets } from "../modules/queue/ticket";

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const N = arg("n", 200_000);
const ROUNDS = arg("rounds", 5);
const SECRET = "bench-secret-0123456789abcdef-0123456789";

const auth = createAuth({ secret: SECRET, adminToken: "bench-admin-token-0123456789abcdef" });
const tickets = new Tickets(SECRET);
const metrics = createMetrics({ roles: new Set(["all", "router", "queue", "coupon"] as never), mysql: false });
// limits on (so their buckets are paid for), far above what the bench sends
const limits: RateLimitConfig = { userPerSec: 1e9, userBurst: 1e9, ipPerSec: 1e9, ipBurst: 1e9, limitLoopback: true, trustProxyHops: 0, adminPerSec: 1, adminBurst: 1 };

// the routes answer as the router's view does (no I/O): the refusal, and a cheap poll's body
const routes = new Elysia({ name: "routes" })
  .post("/api/events/:id/enter", ({ set }: { set: { status?: number | string } }) => {
    set.status = 410;
    return errorBody("sold_out", "every coupon of this event has been issued");
  })
  .get("/api/events/:id/queue", () => ({ status: "waiting", position: 81234, etaSeconds: 812.3, pollAfterMs: 30000, remaining: 1000, running: 1000, graceSeconds: 120, claim: "manual", paused: false, slotSeconds: 120, message: "" }));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- layers of differently typed plugins
type App = any;
type Layer = { name: string; add: (app: App) => App };
const LAYERS: Layer[] = [
  { name: "request timing + metrics (start time in onRequest, latency histogram in onAfterResponse)", add: (a) => a.use(httpTiming(metrics)) },
  { name: "routed as sent (onRequest)", add: (a) => a.use(routedAsSent()) },
  { name: "errors: body-size check (onRequest), parse, bad-body checks (onBeforeHandle), onError", add: (a) => a.use(errors(1 << 16)) },
  { name: "authentication (transform; enter skips it, a ticket is not verified here)", add: (a) => a.use(authentication({ authenticate: (h) => void (tickets.carries(h) || auth.authenticate(h)) })) },
  { name: "rate limit per address and user (onBeforeHandle)", add: (a) => a.use(rateLimit(limits, { userOrNull: (h) => tickets.knownUser(h) ?? auth.userOrNull(h) }, userBuckets(limits), new Set(["/api/events/:id/enter"]))) },
  { name: "router's 429 counter (onAfterResponse)", add: (a) => a.onAfterResponse({ as: "global" }, ({ set }: { set: { status?: number | string } }) => void (set.status === 429)) },
];

function build(depth: number) {
  let app: App = new Elysia(ROOT_OPTIONS);
  for (const l of LAYERS.slice(0, depth)) app = l.add(app);
  return app.use(routes).compile();
}

// one request per user: a sold-out enter with a never-seen token; a ticket poll (its ticket verified once, as a waiter's is)
const enterTokens = Array.from({ length: 4096 }, (_, i) => signJwt(SECRET, `u${i}`, 3600));
const ticket = tickets.sign({ user: "waiter", eventId: 1, seq: 81234, joinedAt: Date.now(), endsAt: 0 });
tickets.verify(ticket);
const requests = {
  enter: (i: number) => new Request("http://127.0.0.1/api/events/1/enter", { method: "POST", headers: { authorization: `Bearer ${enterTokens[i & 4095]}` } }),
  poll: (_i: number) => new Request("http://127.0.0.1/api/events/1/queue", { headers: { authorization: `Bearer ${ticket}` } }),
};

async function cpuPerRequest(app: App, make: (i: number) => Request, n: number) {
  const reqs = Array.from({ length: n }, (_, i) => make(i));
  const before = process.cpuUsage();
  // 64 in flight, as a busy server has them
  let i = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (i < n) {
        const res = await app.handle(reqs[i++]!);
        await res.arrayBuffer();
      }
    }),
  );
  // after-response hooks run once the response is out: let them finish inside the window
  await Bun.sleep(0);
  const d = process.cpuUsage(before);
  return (d.user + d.system) / n;
}

const kinds = ["enter", "poll"] as const;
const results = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (let depth = 0; depth <= LAYERS.length; depth++) {
    const app = build(depth);
    for (const kind of kinds) {
      await cpuPerRequest(app, requests[kind], Math.min(N, 20_000)); // warm-up: JIT and caches
      Bun.gc(true);
      const us = await cpuPerRequest(app, requests[kind], N);
      const key = `${depth}:${kind}`;
      results.set(key, [...(results.get(key) ?? []), us]);
    }
  }
}

// the least of the rounds: on a shared machine, other processes only ever add to a round's CPU time
const least = (xs: number[]) => Math.min(...xs);
const fmt = (x: number) => x.toFixed(2);
console.log(`Bun ${Bun.version}, ${N} requests × ${ROUNDS} rounds per cell, least µs of CPU per request over the rounds (app.handle, in process)\n`);
console.log(`| layers | enter (sold out, new token) | Δ | poll (ticket) | Δ |`);
console.log(`|---|---:|---:|---:|---:|`);
for (let depth = 0; depth <= LAYERS.length; depth++) {
  const cells = kinds.map((k) => {
    const now = least(results.get(`${depth}:${k}`)!);
    const prev = depth ? least(results.get(`${depth - 1}:${k}`)!) : null;
    return `${fmt(now)} | ${prev === null ? "—" : (now - prev >= 0 ? "+" : "") + fmt(now - prev)}`;
  });
  console.log(`| ${depth ? `+ ${LAYERS[depth - 1]!.name}` : "bare Elysia, the root's options, the same two routes"} | ${cells.join(" | ")} |`);
}
process.exit(0);
