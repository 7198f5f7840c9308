// Shared by the tests, the demo and the benchmarks: start a real server on a free port with its own
// Redis key prefix and MySQL schema, mint tokens, call the API, and check the contract's invariants.
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import { createApp } from "../src/app";
import { signJwt } from "../src/auth";
import { loadConfig } from "../src/config";

export const JWT_SECRET = "test-jwt-secret-0123456789";
export const ADMIN_TOKEN = "test-admin-token";
// a split deployment's routers and backends share it (src/config.ts); never the admin token
export const INTERNAL_TOKEN = "test-internal-token-0123456789";
export const TEST_DB = process.env.TEST_DATABASE_URL ?? "mysql://root@127.0.0.1:3306/coupon_test";
export const TEST_REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379/9";
/**
 * Tests send wrong admin tokens on purpose, hundreds at a time from 127.0.0.1: the admin lockout
 * (production default: more than 10 failures a minute) would answer them before the check they test.
 * Its own tests (modules/keys/lockout.test.ts) set ADMIN_LOCKOUT_FAILURES back to 10.
 */
export const TEST_LOCKOUT = { ADMIN_LOCKOUT_FAILURES: "1000000" };

/** The per-user and per-address request limits off, for tests about something else that call a lot. */
export const NO_USER_LIMITS = { RATE_LIMIT_USER_PER_SEC: "0", RATE_LIMIT_IP_PER_SEC: "0" };

export type Started = Awaited<ReturnType<typeof startServer>>;

/** A real server (HTTP on loopback, real Redis and MariaDB) in this process. */
/**
 * A server without an issuer persists nothing, so the bound on promises waiting for MySQL
 * (ISSUE_BACKLOG_MAX_AGE_MS) would turn its issues into 503 a minute after its first one: off there,
 * unless the test sets it (modules/issuer/backlog.test.ts).
 */
const noIssuerNoBound = (env: Record<string, string>) => (env.ISSUER === "off" ? { ISSUE_BACKLOG_MAX_AGE_MS: "0" } : {});

export async function startServer(env: Record<string, string> = {}) {
  const prefix = env.REDIS_KEY_PREFIX ?? `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const fullEnv = {
    ROLE: "all",
    REDIS_URL: TEST_REDIS,
    DATABASE_URL: TEST_DB,
    ADMIN_TOKEN,
    AUTH_JWT_SECRET: JWT_SECRET,
    INTERNAL_TOKEN,
    REDIS_KEY_PREFIX: prefix,
    NODE_ENV: "test",
    ...TEST_LOCKOUT,
    ...noIssuerNoBound(env),
    ...env,
  };
  const config = loadConfig(fullEnv);
  const app = await createApp(config);
  const port = await app.start(0);
  const url = `http://127.0.0.1:${port}`;
  return { ...app, config, url, prefix, api: client(url) };
}

export function token(userId: string, ttlSeconds = 3600, secret = JWT_SECRET) {
  return signJwt(secret, userId, ttlSeconds);
}

export type Reply = { status: number; body: any };

export function client(url: string) {
  async function call(method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["content-type"] = "application/json";
    }
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* keep the raw text */
    }
    return { status: res.status, body: parsed };
  }
  const admin = { token: ADMIN_TOKEN };
  const api = {
    call,
    createEvent: (body: Record<string, unknown>) => call("POST", "/admin/events", { ...admin, body }),
    stats: (id: number) => call("GET", `/admin/events/${id}`, admin),
    patch: (id: number, body: Record<string, unknown>) => call("PATCH", `/admin/events/${id}`, { ...admin, body }),
    enter: (id: number, user: string) => call("POST", `/api/events/${id}/enter`, { token: token(user) }),
    poll: (id: number, user: string) => call("GET", `/api/events/${id}/queue`, { token: token(user) }),
    leave: (id: number, user: string) => call("DELETE", `/api/events/${id}/queue`, { token: token(user) }),
    issue: (id: number, user: string) => call("POST", `/api/events/${id}/issue`, { token: token(user) }),
    coupon: (id: number, user: string) => call("GET", `/api/events/${id}/coupon`, { token: token(user) }),
    /** Creates an event and returns its id (anything but 201 throws). */
    async newEvent(body: Record<string, unknown>): Promise<number> {
      const r = await api.createEvent(body);
      if (r.status !== 201) throw new Error(`the event was not created: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.id;
    },
    /** Each user enters and takes a coupon (anything but 201 throws); returns once the issuer has stored all the event issued. Their codes, in order. */
    async storedCoupons(id: number, users: string[]): Promise<string[]> {
      const codes: string[] = [];
      for (const u of users) {
        await api.enter(id, u);
        const r = await api.issue(id, u);
        if (r.status !== 201) throw new Error(`${u} was not issued a coupon: ${r.status} ${JSON.stringify(r.body)}`);
        codes.push(r.body.code);
      }
      await waitFor("persisted", async () => {
        const st = (await api.stats(id)).body;
        return st.persisted === st.issued;
      });
      return codes;
    },
  };
  return api;
}

/** Runs `fn` over `items` with at most `limit` in flight at once. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function mysqlConn(url = TEST_DB) {
  const u = new URL(url);
  return mysql.createPool({ host: u.hostname, port: Number(u.port || 3306), user: u.username || "root", password: u.password, database: u.pathname.slice(1), connectionLimit: 4 });
}

export type Invariants = { rows: number; duplicates: number; overIssue: number; lost: string[]; phantom: string[] };

/** Checks the contract's invariants for one event against MySQL, given the users that got a 201. */
export async function checkInvariants(db: mysql.Pool, eventId: number, stock: number, issuedUsers: Iterable<string>): Promise<Invariants> {
  const [rows] = (await db.query("SELECT user_id FROM coupon_issues WHERE event_id = ?", [eventId])) as [{ user_id: string }[], unknown];
  const inDb = new Map<string, number>();
  for (const r of rows) inDb.set(r.user_id, (inDb.get(r.user_id) ?? 0) + 1);
  const promised = new Set(issuedUsers);
  return {
    rows: rows.length,
    duplicates: [...inDb.values()].filter((n) => n > 1).length,
    overIssue: Math.max(0, rows.length - stock),
    lost: [...promised].filter((u) => !inDb.has(u)),
    phantom: [...inDb.keys()].filter((u) => !promised.has(u)),
  };
}

/** Deletes this server's Redis keys (never FLUSHALL: the Redis is shared). */
export async function dropKeys(redisUrl: string, prefix: string) {
  const r = new Redis(redisUrl);
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== "0");
  r.disconnect();
}

export async function stopServer(s: Started) {
  await s.stop();
  await dropKeys(TEST_REDIS, s.prefix);
}

const children = new Set<Bun.Subprocess>();
let reaping = false;
/**
 * Every process a test spawns is killed when the test process ends, however it ends: a beforeAll
 * that timed out (bun abandons the hook, not the child), a failed assertion, ^C or SIGTERM. Without
 * this a timed-out start leaves a server running against the shared Redis and MySQL.
 */
export function adopt<P extends Bun.Subprocess>(proc: P): P {
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  if (!reaping) {
    reaping = true;
    const killAll = () => {
      for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    };
    process.on("exit", killAll);
    for (const [sig, n] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const)
      process.once(sig, () => {
        killAll();
        process.exit(128 + n);
      });
  }
  return proc;
}

export type Proc = { url: string; port: number; proc: Bun.Subprocess<"ignore", "pipe", "pipe">; log: () => string; kill(signal?: NodeJS.Signals): Promise<number> };

/**
 * Starts `bun run src/main.ts` as its own process with the test env, and waits until it listens.
 * NODE_ENV=test: the test secrets are short and public (a production start refuses them; src/config.test.ts).
 */
export async function spawnServer(env: Record<string, string>): Promise<Proc> {
  const proc = adopt(
    Bun.spawn(["bun", "run", "src/main.ts"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, NODE_ENV: "test", REDIS_URL: TEST_REDIS, DATABASE_URL: TEST_DB, ADMIN_TOKEN, AUTH_JWT_SECRET: JWT_SECRET, INTERNAL_TOKEN, PORT: "0", ...TEST_LOCKOUT, ...noIssuerNoBound(env), ...env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    }),
  );
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  // generous: on a loaded CI machine a start (migrations, reconciling the schema's live events) can take long
  const end = Date.now() + 90_000;
  let port = 0;
  while (!port) {
    const m = /listening on :(\d+)/.exec(out);
    if (m) port = Number(m[1]);
    else if (proc.exitCode !== null || Date.now() > end) {
      // a failed start leaves nothing running
      proc.kill("SIGKILL");
      throw new Error(`server did not start (exit ${proc.exitCode}):\n${out}`);
    }
    else await Bun.sleep(50);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    log: () => out,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return proc.exited;
    },
  };
}

export type Split = { prefix: string; queue: Proc; coupon: Proc; router: Proc; stop(): Promise<void> };

/**
 * A split deployment on a key prefix of its own (`<name><time>`): a queue and a coupon process and a
 * router in front of them, `routerEnv` for the router only. stop() kills them and drops the prefix's keys.
 */
export async function spawnSplit(name: string, env: Record<string, string> = {}, routerEnv: Record<string, string> = {}): Promise<Split> {
  const prefix = `${name}${Date.now().toString(36)}`;
  const own = { ...env, REDIS_KEY_PREFIX: prefix };
  const [queue, coupon] = await Promise.all([spawnServer({ ...own, ROLE: "queue" }), spawnServer({ ...own, ROLE: "coupon" })]);
  const router = await spawnServer({ ...own, ...routerEnv, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: coupon.url });
  return {
    prefix,
    queue,
    coupon,
    router,
    async stop() {
      await Promise.all([queue, coupon, router].map((p) => p.kill("SIGKILL")));
      await dropKeys(TEST_REDIS, prefix);
    },
  };
}

/**
 * A TCP proxy on loopback that a test can cut (every open connection dropped, new ones refused) and
 * restore — a database outage without touching the shared MariaDB. `latency(ms)` slows every chunk
 * from then on; `cutOn(text, when)` arms a cut at the next client chunk containing `text` (a SQL
 * statement): "request" drops it unsent, "reply" lets the server run it and drops its answer,
 * "after-reply" lets the answer through and cuts at the next statement sent; `slowOn` delays one answer. `down` is how long the cut lasts
 * (restore() by hand when omitted). `cuts` counts the cuts so far.
 */
export function cuttableProxy(targetPort: number, targetHost = "127.0.0.1", latencyMs = 0) {
  // loose socket types: Bun's generics add nothing to a test utility
  type Pair = { client: any; upstream?: any; cutOnReply?: "reply" | "after-reply"; slowReply?: number };
  const pairs = new Set<Pair>();
  let down = false;
  let cuts = 0;
  let armed: { text: string; when: "request" | "reply" | "after-reply" | "slow-reply"; downMs?: number } | null = null;
  let restoreTimer: ReturnType<typeof setTimeout> | null = null;
  const send = (sock: any, bytes: Uint8Array) => (latencyMs ? setTimeout(() => sock.write(bytes), latencyMs) : sock.write(bytes));
  const cut = (downMs?: number) => {
    down = true;
    cuts++;
    for (const p of pairs) {
      p.upstream?.terminate();
      p.client.terminate();
    }
    pairs.clear();
    if (restoreTimer) clearTimeout(restoreTimer);
    restoreTimer = downMs === undefined ? null : setTimeout(() => (down = false), downMs);
  };
  let downMsOfReply: number | undefined;
  const server = Bun.listen<any>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(client) {
        if (down) return void client.end();
        const pair: Pair = { client: client as never };
        client.data = { pair, buf: [] };
        pairs.add(pair);
        try {
          pair.upstream = await Bun.connect({
            hostname: targetHost,
            port: targetPort,
            socket: {
              data: (_s: unknown, chunk: Uint8Array) => {
                const bytes = new Uint8Array(chunk);
                if (pair.cutOnReply === "reply") return cut(downMsOfReply);
                if (pair.slowReply !== undefined) {
                  const ms = pair.slowReply;
                  pair.slowReply = undefined;
                  return void setTimeout(() => client.write(bytes), ms);
                }
                send(client, bytes);
                // the next statement anyone sends finds the link dead
                if (pair.cutOnReply === "after-reply") (pair.cutOnReply = undefined), (armed = { text: "", when: "request", downMs: downMsOfReply });
              },
              close: () => void client.end(),
              error: () => void client.end(),
            },
          });
          for (const b of client.data.buf) pair.upstream.write(b);
          client.data.buf = [];
        } catch {
          client.end();
        }
      },
      data(client, chunk) {
        const pair: Pair = client.data.pair;
        const bytes = new Uint8Array(chunk);
        if (armed && Buffer.from(bytes).includes(armed.text)) {
          const { when, downMs } = armed;
          armed = null;
          if (when === "request") return cut(downMs);
          if (when === "slow-reply") pair.slowReply = downMs ?? 0;
          else pair.cutOnReply = when;
          downMsOfReply = downMs;
        }
        // equal delays fire in order, so a slow link never reorders the stream
        if (pair.upstream) send(pair.upstream, bytes);
        else client.data.buf.push(bytes);
      },
      close(client) {
        client.data?.pair.upstream?.end();
        if (client.data) pairs.delete(client.data.pair);
      },
    },
  });
  return {
    port: server.port,
    /** A database URL like `url` that goes through this proxy. */
    url(url = TEST_DB) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(server.port);
      return u.toString();
    },
    get cuts() {
      return cuts;
    },
    latency(ms: number) {
      latencyMs = ms;
    },
    cutOn(text: string, when: "request" | "reply" | "after-reply", downMs?: number) {
      armed = { text, when, downMs };
    },
    /** The answer to the next statement containing `text` arrives `ms` late (the link stays up). */
    slowOn(text: string, ms: number) {
      armed = { text, when: "slow-reply", downMs: ms };
    },
    cut(downMs?: number) {
      cut(downMs);
    },
    restore() {
      if (restoreTimer) clearTimeout(restoreTimer);
      armed = null;
      down = false;
    },
    stop() {
      armed = null;
      cut();
      if (restoreTimer) clearTimeout(restoreTimer);
      server.stop(true);
    },
  };
}

export type RawReply = { status: number; headers: Record<string, string>; body: any; text: string };

/**
 * Sends `request` byte for byte over a fresh TCP connection and reads the reply until the server closes
 * it — the way an attacker talks HTTP: no Host, odd Hosts, HTTP/1.0, absolute-form or dot-segment
 * targets, none of which fetch() can send. Status 0: the server closed without a reply.
 */
export function rawHttp(port: number, request: string | Uint8Array, timeoutMs = 10_000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      resolve(parseRawReply(Buffer.concat(chunks)));
    };
    const timer = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms to ${JSON.stringify(String(request).slice(0, 120))}`)), timeoutMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (s) => void s.write(request),
        data: (_s, chunk) => void chunks.push(Buffer.from(chunk)),
        close: done,
        error: done,
      },
    }).catch(reject);
  });
}

function parseRawReply(raw: Buffer): RawReply {
  const text = raw.toString("utf8");
  const head = text.indexOf("\r\n\r\n");
  const lines = (head === -1 ? text : text.slice(0, head)).split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let bodyText = head === -1 ? "" : text.slice(head + 4);
  if (headers["transfer-encoding"]?.includes("chunked")) {
    let out = "";
    for (let rest = bodyText; ; ) {
      const nl = rest.indexOf("\r\n");
      const size = parseInt(rest.slice(0, nl), 16);
      if (!(size > 0)) break;
      out += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    bodyText = out;
  }
  let body: unknown = bodyText;
  try {
    body = bodyText ? JSON.parse(bodyText) : null;
  } catch {
    /* keep the raw text */
  }
  return { status, headers, body, text: bodyText };
}

/**
 * The API over raw sockets (rawHttp), one fresh connection per request, as an attacker's script
 * talks to it: the same calls as `client`, plus each reply's headers.
 */
export function rawClient(port: number) {
  async function call(method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<RawReply> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const body = opts.body !== undefined ? JSON.stringify(opts.body) : opts.raw;
    return rawHttp(port, rawRequest(method, path, { host: `127.0.0.1:${port}`, headers, body }));
  }
  const admin = { token: ADMIN_TOKEN };
  return {
    port,
    call,
    createEvent: (body: Record<string, unknown>) => call("POST", "/admin/events", { ...admin, body }),
    enter: (id: number, user: string) => call("POST", `/api/events/${id}/enter`, { token: token(user) }),
    poll: (id: number, auth: string) => call("GET", `/api/events/${id}/queue`, { token: auth }),
    leave: (id: number, user: string) => call("DELETE", `/api/events/${id}/queue`, { token: token(user) }),
    issue: (id: number, user: string) => call("POST", `/api/events/${id}/issue`, { token: token(user) }),
  };
}
export type RawClient = ReturnType<typeof rawClient>;

/** A raw HTTP request: `host` undefined sends no Host header at all; HTTP/1.1 asks the server to close after replying. */
export function rawRequest(method: string, target: string, opts: { version?: "1.0" | "1.1"; host?: string; headers?: Record<string, string>; body?: string } = {}): string {
  const version = opts.version ?? "1.1";
  const lines = [`${method} ${target} HTTP/${version}`];
  if (opts.host !== undefined) lines.push(`Host: ${opts.host}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) lines.push(`${k}: ${v}`);
  if (opts.body !== undefined) lines.push("Content-Type: application/json", `Content-Length: ${Buffer.byteLength(opts.body)}`);
  if (version === "1.1") lines.push("Connection: close");
  return `${lines.join("\r\n")}\r\n\r\n${opts.body ?? ""}`;
}

/** A /metrics page: each series as the server writes it (`name{a="1",b="2"}`) → its value, and each metric's `# TYPE` and `# HELP`. */
export type Exposition = { samples: Map<string, number>; types: Map<string, string>; help: Map<string, string> };

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*,?)?\})? (\S+)(?: -?\d+)?$/;
// a float as Go's ParseFloat (Prometheus) reads it: NaN and Inf in any case (prom-client writes "Nan")
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|[+-]?inf(?:inity)?)$/i;
const number = (v: string) => (/inf/i.test(v) ? (v.startsWith("-") ? -Infinity : Infinity) : /nan/i.test(v) ? NaN : Number(v));

/** Prometheus text, parsed strictly: a line that is no sample, no comment and not blank throws, and so does a series written twice. */
export function parseMetrics(text: string): Exposition {
  const out: Exposition = { samples: new Map(), types: new Map(), help: new Map() };
  for (const line of text.split("\n")) {
    if (!line) continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      out[meta[1] === "HELP" ? "help" : "types"].set(meta[2]!, meta[3]!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m || !VALUE.test(m[3]!)) throw new Error(`not Prometheus text: ${line}`);
    const series = m[1]! + (m[2] ?? "");
    if (out.samples.has(series)) throw new Error(`series written twice: ${series}`);
    out.samples.set(series, number(m[3]!));
  }
  return out;
}

/** GET `url`/metrics and parse it (parseMetrics); anything but a 200 throws. */
export async function scrapeMetrics(url: string): Promise<Exposition> {
  const r = await fetch(`${url}/metrics`);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${text}`);
  return parseMetrics(text);
}

/** The series of `url`/metrics → their values. */
export async function readMetrics(url: string): Promise<Map<string, number>> {
  return (await scrapeMetrics(url)).samples;
}

/** The value of the series `name` with exactly `labels` (in any order), or undefined when there is none. */
export function valueOf(samples: Map<string, number>, name: string, labels: Record<string, string | number> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).sort().join(",");
  for (const [series, value] of samples) {
    const brace = series.indexOf("{");
    if ((brace === -1 ? series : series.slice(0, brace)) !== name) continue;
    const got = brace === -1 ? "" : series.slice(brace + 1, -1).replace(/,$/, "");
    if (splitLabels(got).sort().join(",") === want) return value;
  }
  return undefined;
}

/** `a="1",b="x,y"` → [`a="1"`, `b="x,y"`]: commas inside a quoted value do not split it. */
function splitLabels(s: string): string[] {
  return s ? [...s.matchAll(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g)].map((m) => m[0]) : [];
}

/** valueOf one fresh read of `url`/metrics. */
export async function metricValue(url: string, name: string, labels: Record<string, string | number> = {}): Promise<number | undefined> {
  return valueOf(await readMetrics(url), name, labels);
}
