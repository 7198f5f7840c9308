// The OpenAPI document at /swagger/json: valid OpenAPI 3.0 (a kept validator says so), small, typed
// for client generators (integers, named schemas, one JSON content per body), every status of the
// contract listed, a client generated from it that type-checks, and every reply of a real server
// through the contract's flows valid against the schema documented for its status.
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import Ajv, { type ValidateFunction } from "ajv";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, startServer, stopServer, token, waitFor, type Started } from "../scripts/testkit";
import { SCOPES } from "./auth";
import { isLimited } from "./ratelimit";

setDefaultTimeout(120_000);

type Json = Record<string, any>;
const ROOT = join(import.meta.dir, "..");
const METHODS = ["get", "put", "post", "delete", "patch"];
// the parser and the dereferencer change the document they are given
const copy = (v: unknown) => JSON.parse(JSON.stringify(v));

let s: Started;
let text: string;
let spec: Json;
beforeAll(async () => {
  // a low per-user limit, so the conformance flows can meet a 429
  s = await startServer({ RATE_LIMIT_USER_PER_SEC: "1", RATE_LIMIT_USER_BURST: "8" });
  text = await (await fetch(`${s.url}/swagger/json`)).text();
  spec = JSON.parse(text);
});
afterAll(() => stopServer(s));

const operations = () =>
  Object.entries(spec.paths as Json).flatMap(([path, ops]) => Object.entries(ops as Json).filter(([m]) => METHODS.includes(m)).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, method, op: op as Json })));

/** Every schema object in the document, wherever it sits. */
function* schemasIn(node: unknown): Generator<Json> {
  if (Array.isArray(node)) for (const n of node) yield* schemasIn(n);
  else if (node && typeof node === "object") {
    const o = node as Json;
    if (typeof o.type === "string" || o.anyOf || o.oneOf || o.allOf || o.$ref) yield o;
    for (const v of Object.values(o)) yield* schemasIn(v);
  }
}

// What CONTRACT.md says each route answers (the document may list more: 503 where a backing
// service can be down, 411/413 on bodies, 429 on the limited routes).
const CONTRACT: Record<string, number[]> = {
  "GET /api/events/{id}": [200, 404],
  "POST /api/events/{id}/enter": [200, 202, 401, 404, 409, 410, 429],
  "GET /api/events/{id}/queue": [200, 401, 404, 429],
  "DELETE /api/events/{id}/queue": [204, 401, 429],
  "POST /api/events/{id}/issue": [201, 401, 403, 404, 409, 410, 429, 503, 504],
  "GET /api/events/{id}/coupon": [200, 401],
  "GET /api/me/coupons": [200, 401],
  "POST /admin/events": [201, 400, 401, 411, 413],
  "GET /admin/events": [200, 400, 401],
  "GET /admin/events/{id}": [200, 401, 404],
  "PATCH /admin/events/{id}": [200, 400, 401, 404, 409, 413],
  "POST /admin/events/{id}/pause": [200, 401, 404],
  "POST /admin/events/{id}/resume": [200, 401, 404],
  "POST /admin/events/{id}/close": [200, 401, 404],
  "DELETE /admin/events/{id}": [200, 401, 404, 409],
  "GET /admin/events/{id}/issues": [200, 400, 401, 404],
  "GET /admin/coupons/{code}": [200, 401, 404],
  "POST /admin/coupons/{code}/redeem": [200, 400, 401, 404, 409, 410, 413],
  "GET /health/live": [200],
  "GET /health/ready": [200, 503],
  "GET /metrics": [200, 401],
};

describe("the OpenAPI document", () => {
  test("is valid OpenAPI 3.0 (swagger-parser: structure, $refs, unique operationIds, path parameters)", async () => {
    expect(spec.openapi).toBe("3.0.3");
    const api = await SwaggerParser.validate(copy(spec) as never);
    expect(Object.keys(api.paths ?? {}).length).toBeGreaterThan(15);
  });

  test("is at most 150 KB", () => {
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(150 * 1024);
  });

  test("integers are integers: no string-or-number unions, no whole numbers typed `number`; path ids are integers", () => {
    for (const sch of schemasIn(spec)) {
      const types = (sch.anyOf ?? sch.oneOf ?? []).map((m: Json) => m.type);
      expect({ sch, mixed: types.includes("string") && (types.includes("integer") || types.includes("number")) }).toMatchObject({ mixed: false });
      expect({ sch, wholeNumber: sch.type === "number" && sch.multipleOf === 1 }).toMatchObject({ wholeNumber: false });
    }
    const ids = operations().flatMap(({ key, op }) => (op.parameters ?? []).filter((p: Json) => p.in === "path" && p.name === "id").map((p: Json) => ({ key, schema: p.schema })));
    expect(ids.length).toBeGreaterThanOrEqual(15);
    for (const id of ids) expect(id).toMatchObject({ schema: { type: "integer", minimum: 1 } });
    // bodies: integers stay integers (the runtime refuses "10" and 1.5)
    expect(spec.components.schemas.CreateEvent.properties.stock).toMatchObject({ type: "integer", minimum: 1, maximum: 10_000_000 });
    expect(spec.components.schemas.Waiting.properties.position).toMatchObject({ type: "integer", minimum: 1 });
  });

  test("every operation: an operationId, a tag, security, and its 4xx/5xx replies as the Error schema (or a named one of its kind)", () => {
    const ids = new Set<string>();
    for (const { key, op } of operations()) {
      expect({ key, operationId: typeof op.operationId }).toEqual({ key, operationId: "string" });
      expect(ids.has(op.operationId)).toBe(false);
      ids.add(op.operationId);
      expect({ key, tags: op.tags?.length ?? 0 }).toMatchObject({ tags: 1 });
      expect({ key, security: Array.isArray(op.security) }).toEqual({ key, security: true });
      const failures = Object.entries(op.responses as Json).filter(([status]) => Number(status) >= 400);
      if (!key.startsWith("GET /health/")) expect({ key, has4xx: failures.some(([st]) => Number(st) < 500) }).toEqual({ key, has4xx: true });
      for (const [status, r] of failures) {
        const ref = r.content?.["application/json"]?.schema?.$ref;
        expect({ key, status, ref }).toEqual({ key, status, ref: expect.stringMatching(/^#\/components\/schemas\/(Error|RateLimited|NotReady)$/) });
        // the codes it can carry are listed
        expect({ key, status, description: r.description }).toEqual({ key, status, description: expect.stringMatching(/`[a-z_]+`/) });
      }
    }
  });

  test("every status of the contract is listed for each route, and 429 documents Retry-After", () => {
    const listed = Object.fromEntries(operations().map(({ key, op }) => [key, Object.keys(op.responses).map(Number)]));
    for (const [route, statuses] of Object.entries(CONTRACT)) expect({ route, missing: statuses.filter((st) => !listed[route]?.includes(st)) }).toEqual({ route, missing: [] });
    // exactly the rate-limited routes say 429: every user route (its limits) and every admin route (the admin guard's)
    const limited = Object.entries(listed).filter(([, st]) => st.includes(429)).map(([k]) => k.split(" ")[1]!.replace(/\{(\w+)\}/g, ":$1"));
    expect(new Set(limited)).toEqual(new Set(Object.keys(listed).map((k) => k.split(" ")[1]!.replace(/\{(\w+)\}/g, ":$1")).filter((r) => isLimited(r) || r.startsWith("/admin/"))));
    for (const { op } of operations()) if (op.responses[429]) expect(op.responses[429].headers["Retry-After"].schema).toMatchObject({ type: "integer", minimum: 1 });
    // a 204 has no body
    expect(spec.paths["/api/events/{id}/queue"].delete.responses[204].content).toBeUndefined();
  });

  test("every admin operation lists what the admin guard answers (401, 403 forbidden, 429 lockout and limits) and, if a POST, a split router's 504", () => {
    const admin = operations().filter(({ path }) => path.startsWith("/admin/"));
    expect(admin.length).toBeGreaterThan(20);
    for (const { key, method, op } of admin) {
      const r = op.responses as Json;
      const codes = (st: number) => String(r[st]?.description ?? "");
      expect({ key, unauthorized: codes(401).includes("`unauthorized`"), forbidden: codes(403).includes("`forbidden`"), limited: r[429]?.content?.["application/json"]?.schema?.$ref }).toEqual({
        key,
        unauthorized: true,
        forbidden: true,
        limited: "#/components/schemas/RateLimited",
      });
      if (method === "post") expect({ key, unknown: codes(504).includes("`outcome_unknown`") }).toEqual({ key, unknown: true });
    }
  });

  test("named schemas, referenced from the operations; pre_queue is a reply of enter and poll", () => {
    const names = ["Event", "EventStats", "PublicEvent", "EventList", "CreateEvent", "PatchEvent", "Error", "RateLimited", "Waiting", "Admitted", "PreQueue", "Issued", "Coupon", "MyCoupons", "CouponRecord", "WinnersPage"];
    expect(Object.keys(spec.components.schemas)).toEqual(expect.arrayContaining(names));
    const ref = (n: string) => ({ $ref: `#/components/schemas/${n}` });
    const json = (op: Json, st: number) => op.responses[st].content["application/json"].schema;
    const enter = spec.paths["/api/events/{id}/enter"].post;
    expect(json(enter, 200).anyOf).toEqual([ref("Admitted"), ref("IssuedOnTurn")]);
    expect(json(enter, 202).anyOf).toEqual([ref("Waiting"), ref("PreQueue")]);
    expect(json(spec.paths["/api/events/{id}/queue"].get, 200).anyOf).toEqual(expect.arrayContaining([ref("Admitted"), ref("IssuedOnTurn"), ref("Waiting"), ref("PreQueue")]));
    expect(copy(spec.components.schemas.PreQueue)).toMatchObject({ required: expect.arrayContaining(["status", "startsAt", "pollAfterMs"]), properties: { status: { enum: ["pre_queue"] } } });
    expect(json(spec.paths["/api/events/{id}/issue"].post, 201)).toEqual(ref("Issued"));
    expect(json(spec.paths["/admin/events/{id}"].get, 200)).toEqual(ref("EventStats"));
    expect(spec.paths["/admin/events"].post.requestBody.content["application/json"].schema).toEqual(ref("CreateEvent"));
    // request bodies refuse unknown fields, as the server does
    expect(spec.components.schemas.CreateEvent.additionalProperties).toBe(false);
  });

  test("both claims are described: `claim` wherever it appears, the settings each one uses, and what the user routes answer under each", () => {
    const claims = [...schemasIn(spec.components)].flatMap((sch) => (sch.properties?.claim ? [sch.properties.claim] : []));
    expect(claims.length).toBeGreaterThanOrEqual(8);
    for (const c of claims) expect(c).toMatchObject({ enum: ["manual", "on_turn"], description: expect.stringMatching(/manual: .*on_turn: /) });
    const create = spec.components.schemas.CreateEvent.properties;
    for (const k of ["slotSeconds", "graceSeconds", "runningCapacity", "trafficRpm"]) expect({ k, d: create[k].description }).toEqual({ k, d: expect.stringMatching(/manual/) });
    for (const k of ["runningCapacity", "trafficRpm", "admitPerSecond"]) expect({ k, d: create[k].description }).toEqual({ k, d: expect.stringMatching(/on_turn/) });
    expect(spec.paths["/api/events/{id}/enter"].post.description).toMatch(/On_turn events: joining the line is the request/);
    expect(spec.paths["/api/events/{id}/queue"].get.description).toMatch(/Manual events: .*lapsedAt.*On_turn events: nobody is dropped for silence/);
    expect(spec.paths["/api/events/{id}/issue"].post.responses[403].description).toMatch(/on_turn events have no slots/);
    expect(spec.components.schemas.IssuedOnTurn.properties.persisted.description).toMatch(/MySQL/);
  });

  test("one JSON content per body; CSV only for the winners export, text only for /metrics; security by who may call", () => {
    for (const { key, op } of operations()) {
      if (op.requestBody) expect({ key, types: Object.keys(op.requestBody.content) }).toEqual({ key, types: ["application/json"] });
      for (const [status, r] of Object.entries(op.responses as Json)) {
        const types = Object.keys(r.content ?? {});
        const expected =
          status === "204" ? [] : key === "GET /admin/events/{id}/issues" && status === "200" ? ["application/json", "text/csv"] : key === "GET /metrics" && status === "200" ? ["text/plain"] : ["application/json"];
        expect({ key, status, types }).toEqual({ key, status, types: expected });
      }
      const schemes = (op.security as Json[]).flatMap((r) => Object.keys(r));
      // the root token or an API key with the operation's scope (named in x-required-scope)
      if (key.includes(" /admin/")) expect({ key, security: op.security, scope: SCOPES.includes(op["x-required-scope"]) }).toEqual({ key, security: [{ adminToken: [] }, { apiKey: [] }], scope: true });
      else if (/^(GET|DELETE) \/api\/events\/\{id\}\/queue$|^POST \/api\/events\/\{id\}\/issue$/.test(key)) expect({ key, schemes }).toEqual({ key, schemes: ["userToken", "ticket"] });
      else if (key.startsWith("GET /api/events/{id}") && key.endsWith("}")) expect({ key, schemes }).toEqual({ key, schemes: [] });
      else if (key.includes(" /api/")) expect({ key, schemes }).toEqual({ key, schemes: ["userToken"] });
    }
    expect(spec.paths["/metrics"].get.security).toEqual([{ metricsToken: [] }, {}]);
    expect(Object.keys(spec.components.securitySchemes).sort()).toEqual(["adminToken", "apiKey", "metricsToken", "ticket", "userToken"]);
  });

  test("a split router documents the same API as one process (it forwards the rest, and says so)", async () => {
    const router = await startServer({ ROLE: "router", QUEUE_URL: s.url, COUPON_URL: s.url });
    try {
      expect(await (await fetch(`${router.url}/swagger/json`)).json()).toEqual(spec);
    } finally {
      await stopServer(router);
    }
  });

  test("hidden routes stay out: internal, docs, pages, assets", () => {
    for (const path of Object.keys(spec.paths)) expect(path).toMatch(/^\/(api|admin)\/|^\/health\/|^\/metrics$/);
    expect(Object.keys(spec.paths).filter((p) => /internal|swagger|assets|^\/events\/|^\/admin$|\/dev\//.test(p))).toEqual([]);
  });

  test("a typed client generated from it (openapi-typescript + openapi-fetch) type-checks against the API as the contract has it", async () => {
    // inside node_modules, so the check resolves openapi-fetch like any file of the project
    const dir = mkdtempSync(join(ROOT, "node_modules", ".openapi-client-"));
    try {
      await Bun.write(join(dir, "openapi.json"), text);
      const gen = Bun.spawn(["bun", "scripts/openapi-types.ts", join(dir, "openapi.json")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      const [types, err, exit] = await Promise.all([new Response(gen.stdout).text(), new Response(gen.stderr).text(), gen.exited]);
      expect({ exit, err }).toEqual({ exit: 0, err: "" });
      expect(types).toContain("export interface paths");
      await Bun.write(join(dir, "api.d.ts"), types);
      await Bun.write(join(dir, "use.ts"), CLIENT_USE);
      const tsconfig = { compilerOptions: { strict: true, noEmit: true, target: "ESNext", module: "Preserve", moduleResolution: "bundler", lib: ["ESNext", "DOM"], types: [], skipLibCheck: true }, files: ["use.ts"] };
      await Bun.write(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
      const tsc = Bun.spawn([join(ROOT, "node_modules", ".bin", "tsc"), "-p", join(dir, "tsconfig.json")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      const [out, tscErr, tscExit] = await Promise.all([new Response(tsc.stdout).text(), new Response(tsc.stderr).text(), tsc.exited]);
      expect({ exit: tscExit, out: out + tscErr }).toEqual({ exit: 0, out: "" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A client of the shop's and the user's side, written against the generated types: it compiles only
// if ids are numbers, bodies have their types, and replies carry the fields the contract names.
const CLIENT_USE = `
import createClient from "openapi-fetch";
import type { components, paths } from "./api";

type S = components["schemas"];
const api = createClient<paths>({ baseUrl: "http://127.0.0.1:3000" });

export async function flow(): Promise<string | null> {
  const created = await api.POST("/admin/events", { body: { name: "launch", stock: 1000, trafficRpm: 600, runningCapacity: 50, queueOpensAt: null, maxWaiting: 0 } });
  if (!created.data) return created.error.error;
  const id: number = created.data.id;
  const status: "scheduled" | "open" | "paused" | "sold_out" | "closed" | "cancelled" = created.data.status;
  // @ts-expect-error an event id is a number
  await api.GET("/api/events/{id}", { params: { path: { id: String(id) } } });
  // @ts-expect-error stock is a JSON number, never a numeric string
  await api.POST("/admin/events", { body: { name: "x", stock: "10", trafficRpm: 0, runningCapacity: 1 } });
  const patch: S["PatchEvent"] = { trafficRpm: 0, maxWaiting: 1000 };
  await api.PATCH("/admin/events/{id}", { params: { path: { id } }, body: patch });
  // @ts-expect-error unknown fields are refused (what remains follows from stock and what was promised)
  const badPatch: S["PatchEvent"] = { remaining: 5 };
  await api.GET("/admin/events", { params: { query: { limit: 20, status } } });

  const entered = await api.POST("/api/events/{id}/enter", { params: { path: { id } } });
  if (entered.error) return entered.error.error;
  const state: S["Admitted"] | S["IssuedOnTurn"] | S["Waiting"] | S["PreQueue"] = entered.data;
  let ticket = state.ticket;
  // on_turn events: the coupon itself (at once when nobody is ahead)
  if (state.status === "issued") return state.code;
  const claim: "manual" | "on_turn" | undefined = state.status === "waiting" ? state.claim : undefined;
  if (state.status === "waiting") ticket = state.ticket ?? ticket;
  if (state.status === "pre_queue") return state.startsAt;
  const polled = await api.GET("/api/events/{id}/queue", { params: { path: { id } } });
  const polledStatus: "admitted" | "issued" | "waiting" | "pre_queue" | "sold_out" | "closed" | undefined = polled.data?.status;
  const issued = await api.POST("/api/events/{id}/issue", { params: { path: { id } } });
  const code: string | undefined = issued.data?.code;
  const eventId: number | undefined = issued.data?.eventId;
  const left = await api.DELETE("/api/events/{id}/queue", { params: { path: { id } } });
  const noBody: undefined | never = left.data;
  const mine = await api.GET("/api/me/coupons");
  const first: S["MyCoupon"] | undefined = mine.data?.coupons[0];
  const stats = await api.GET("/admin/events/{id}", { params: { path: { id } } });
  const pending: number | undefined = stats.data?.pending;
  const redeemed = await api.POST("/admin/coupons/{code}/redeem", { params: { path: { code: code ?? "" } }, body: { orderId: "order-1" } });
  const orderId: string | null | undefined = redeemed.data?.orderId;
  const winners = await api.GET("/admin/events/{id}/issues", { params: { path: { id }, query: { limit: 100 } } });
  // JSON, or the CSV export
  const next: string | null | undefined = typeof winners.data === "string" ? null : winners.data?.next;
  return [ticket, polledStatus, eventId, noBody, first?.code, pending, orderId, next, badPatch].join();
}

export const retryAfter = (limited: S["RateLimited"]): number => limited.retryAfter;
`;

/** The document with every $ref resolved, and a validator per (operation, status, media type) from it. */
function conformance() {
  let deref: Json | null = null;
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const compiled = new Map<string, ValidateFunction>();
  const seen = new Set<string>();
  return {
    seen,
    async check(method: string, template: string, res: Response): Promise<{ status: number; body: any; headers: Headers }> {
      deref ??= (await SwaggerParser.dereference(JSON.parse(text))) as Json;
      const key = `${method} ${template}`;
      const op = deref.paths[template]?.[method.toLowerCase()];
      if (!op) throw new Error(`${key} is not documented`);
      const documented = op.responses[String(res.status)];
      const raw = await res.text();
      if (!documented) throw new Error(`${key} answered ${res.status}, which the document does not list: ${raw.slice(0, 300)}`);
      seen.add(`${key} ${res.status}`);
      if (!documented.content) {
        expect({ key, status: res.status, body: raw }).toEqual({ key, status: res.status, body: "" });
        return { status: res.status, body: null, headers: res.headers };
      }
      const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
      expect({ key, status: res.status, type, documented: type in documented.content }).toEqual({ key, status: res.status, type, documented: true });
      if (type !== "application/json") return { status: res.status, body: raw, headers: res.headers };
      const body = JSON.parse(raw);
      const id = `${key} ${res.status}`;
      let validate = compiled.get(id);
      if (!validate) compiled.set(id, (validate = ajv.compile(documented.content["application/json"].schema)));
      const ok = validate(body);
      expect({ id, body, errors: ok ? null : validate.errors }).toEqual({ id, body, errors: null });
      if (res.status === 429) expect(res.headers.get("retry-after")).toBe(String(body.retryAfter));
      return { status: res.status, body, headers: res.headers };
    },
  };
}

describe("every reply of a real server matches the schema documented for its status", () => {
  const c = conformance();
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  // users of this run only (the test schema keeps earlier runs' coupons)
  const run = Date.now().toString(36);
  const user = (u: string) => ({ authorization: `Bearer ${token(`${run}-${u}`)}` });
  const call = (method: string, template: string, path: string, init: { headers?: Record<string, string>; body?: unknown; raw?: BodyInit } = {}) =>
    fetch(s.url + path, {
      method,
      headers: { ...(init.body !== undefined ? { "content-type": "application/json" } : {}), ...init.headers },
      body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
    }).then((res) => c.check(method, template, res));
  const create = async (body: Json) => (await call("POST", "/admin/events", "/admin/events", { headers: admin, body })).body.id as number;
  const future = (ms: number) => new Date(Date.now() + ms).toISOString();

  test("ops: health, readiness, metrics", async () => {
    expect((await call("GET", "/health/live", "/health/live")).status).toBe(200);
    expect((await call("GET", "/health/ready", "/health/ready")).status).toBe(200);
    expect((await call("GET", "/metrics", "/metrics")).status).toBe(200);
  });

  test("admin: create (201, 400, 401, 411, 413), list (200, 400), stats, patch, controls (200, 409), cancel, restore, dead letters", async () => {
    const id = await create({ name: "conformance", stock: 5, trafficRpm: 0, runningCapacity: 1, maxWaiting: 0, couponValidUntil: null, webhookUrl: null });
    expect((await call("POST", "/admin/events", "/admin/events", { headers: admin, body: { name: "x", stock: "10", trafficRpm: 0, runningCapacity: 1 } })).body.error).toBe("bad_request");
    expect((await call("POST", "/admin/events", "/admin/events", { headers: { ...admin, "content-type": "application/json" }, raw: "{nope" })).body.error).toBe("invalid_json");
    expect((await call("POST", "/admin/events", "/admin/events", { body: { name: "x", stock: 1, trafficRpm: 0, runningCapacity: 1 } })).status).toBe(401);
    expect((await call("POST", "/admin/events", "/admin/events", { headers: admin, raw: JSON.stringify({ name: "x".repeat(s.config.maxBodyBytes) }) })).status).toBe(413);
    const stream = new ReadableStream({ start: (ctl) => (ctl.enqueue(new TextEncoder().encode("{}")), ctl.close()) });
    expect((await call("POST", "/admin/events", "/admin/events", { headers: admin, raw: stream })).status).toBe(411);

    await create({ name: "conformance, second", stock: 1, trafficRpm: 0, runningCapacity: 1 }); // a page of 2 needs 2 events, even on an empty schema
    expect((await call("GET", "/admin/events", "/admin/events?limit=2", { headers: admin })).body.events.length).toBe(2);
    expect((await call("GET", "/admin/events", "/admin/events?limit=0", { headers: admin })).status).toBe(400);
    expect((await call("GET", "/admin/events", "/admin/events?status=bogus", { headers: admin })).status).toBe(400);
    expect((await call("GET", "/admin/events/{id}", `/admin/events/${id}`, { headers: admin })).body.stock).toBe(5);
    expect((await call("GET", "/admin/events/{id}", "/admin/events/abc", { headers: admin })).status).toBe(404);
    expect((await call("PATCH", "/admin/events/{id}", `/admin/events/${id}`, { headers: admin, body: { trafficRpm: 10 } })).body.trafficRpm).toBe(10);
    expect((await call("PATCH", "/admin/events/{id}", `/admin/events/${id}`, { headers: admin, body: { remaining: 10 } })).status).toBe(400);
    expect((await call("PATCH", "/admin/events/{id}", `/admin/events/${id}`, { headers: admin, body: { startsAt: "2099-01-01T00:00:00Z" } })).status).toBe(409);
    expect((await call("PATCH", "/admin/events/{id}", "/admin/events/999999999", { headers: admin, body: { trafficRpm: 1 } })).status).toBe(404);
    expect((await call("POST", "/admin/events/{id}/pause", `/admin/events/${id}/pause`, { headers: admin })).body.status).toBe("paused");
    expect((await call("POST", "/admin/events/{id}/resume", `/admin/events/${id}/resume`, { headers: admin })).body.status).toBe("open");
    expect((await call("DELETE", "/admin/events/{id}", `/admin/events/${id}`, { headers: admin })).body.error).toBe("not_scheduled");
    expect((await call("POST", "/admin/events/{id}/restore", `/admin/events/${id}/restore`, { headers: admin })).status).toBe(200);
    expect((await call("GET", "/admin/events/{id}/dead", `/admin/events/${id}/dead`, { headers: admin })).body.total).toBe(0);
    expect((await call("POST", "/admin/events/{id}/dead/{entry}/retry", `/admin/events/${id}/dead/1-0/retry`, { headers: admin })).status).toBe(404);
    expect((await call("POST", "/admin/events/{id}/close", `/admin/events/${id}/close`, { headers: admin })).body.status).toBe("closed");
    expect((await call("POST", "/admin/events/{id}/pause", `/admin/events/${id}/pause`, { headers: admin })).body.error).toBe("event_ended");
    // a scheduled event: cancelled (200); enter before it opens is 409 not_open
    const later = await create({ name: "later", stock: 5, trafficRpm: 0, runningCapacity: 1, startsAt: future(3_600_000) });
    expect((await call("POST", "/api/events/{id}/enter", `/api/events/${later}/enter`, { headers: user("early") })).body.error).toBe("not_open");
    expect((await call("DELETE", "/admin/events/{id}", `/admin/events/${later}`, { headers: admin })).body.status).toBe("cancelled");
  });

  test("user flow: event info, enter (200, 202, 404, 409, 410), poll, leave (204), issue (201, 403, 409), coupon, my coupons, 401", async () => {
    const open = await create({ name: "open door", stock: 1, trafficRpm: 1_000_000, runningCapacity: 100 });
    expect((await call("GET", "/api/events/{id}", `/api/events/${open}`)).body.remaining).toBe(1);
    for (const bad of ["0", "abc", "99999999999", "1.5"]) expect((await call("GET", "/api/events/{id}", `/api/events/${bad}`)).body.error).toBe("event_not_found");
    expect((await call("POST", "/api/events/{id}/enter", `/api/events/${open}/enter`)).status).toBe(401);
    const admitted = await call("POST", "/api/events/{id}/enter", `/api/events/${open}/enter`, { headers: user("winner") });
    expect(admitted.body.status).toBe("admitted");
    expect((await call("GET", "/api/events/{id}/queue", `/api/events/${open}/queue`, { headers: user("winner") })).body.status).toBe("admitted");
    expect((await call("POST", "/api/events/{id}/issue", `/api/events/${open}/issue`, { headers: { authorization: `Bearer ${admitted.body.ticket}` } })).status).toBe(201);
    expect((await call("POST", "/api/events/{id}/issue", `/api/events/${open}/issue`, { headers: user("winner") })).body.error).toBe("already_issued");
    expect((await call("POST", "/api/events/{id}/issue", `/api/events/${open}/issue`, { headers: user("stranger") })).status).toBeOneOf([403, 410]);
    expect((await call("GET", "/api/events/{id}/coupon", `/api/events/${open}/coupon`, { headers: user("winner") })).body.issued).toBe(true);
    expect((await call("GET", "/api/events/{id}/coupon", `/api/events/${open}/coupon`)).status).toBe(401);
    expect((await call("GET", "/api/me/coupons", "/api/me/coupons", { headers: user("winner") })).body.coupons.length).toBe(1);
    await waitFor("sold out in the router's view", async () => (await call("POST", "/api/events/{id}/enter", `/api/events/${open}/enter`, { headers: user(`late${Date.now()}`) })).status === 410);
    expect((await call("GET", "/api/events/{id}/queue", `/api/events/${open}/queue`, { headers: user("late") })).body.status).toBe("sold_out");
    expect((await call("POST", "/api/events/{id}/enter", "/api/events/999999999/enter", { headers: user("lost") })).body.error).toBe("event_not_found");

    // everyone waits (trafficRpm 0), one running slot, a line of at most 2
    const line = await create({ name: "line", stock: 100, trafficRpm: 0, runningCapacity: 1, maxWaiting: 2 });
    const states = [];
    for (let i = 0; i < 2; i++) states.push((await call("POST", "/api/events/{id}/enter", `/api/events/${line}/enter`, { headers: user(`q${i}`) })).status);
    expect(states.every((st) => st === 200 || st === 202)).toBe(true);
    let n = 2;
    await waitFor("the line is full", async () => (await call("POST", "/api/events/{id}/enter", `/api/events/${line}/enter`, { headers: user(`q${n++}`) })).status === 410, 60_000, 50);
    expect((await call("POST", "/api/events/{id}/issue", `/api/events/${line}/issue`, { headers: user("never-entered") })).body.error).toBe("not_admitted");
    const waiting = (await call("GET", "/api/events/{id}/queue", `/api/events/${line}/queue`, { headers: user("q1") })).body;
    expect(["waiting", "admitted"]).toContain(waiting.status);
    // a ticket of another event
    expect((await call("GET", "/api/events/{id}/queue", `/api/events/${line}/queue`, { headers: { authorization: `Bearer ${admitted.body.ticket}` } })).body.error).toBe("wrong_event");
    expect((await call("DELETE", "/api/events/{id}/queue", `/api/events/${line}/queue`, { headers: user("q1") })).status).toBe(204);
    expect((await call("GET", "/api/events/{id}/queue", `/api/events/${line}/queue`, { headers: user("q1") })).body.error).toBe("not_in_queue");

    // the pre-queue: enter and polls (the exact script, and the router's view with the ticket)
    const pre = await create({ name: "pre-queue", stock: 100, trafficRpm: 0, runningCapacity: 1, queueOpensAt: future(-1000), startsAt: future(3_600_000) });
    const joined = await call("POST", "/api/events/{id}/enter", `/api/events/${pre}/enter`, { headers: user("early") });
    expect([joined.status, joined.body.status]).toEqual([202, "pre_queue"]);
    expect((await call("GET", "/api/events/{id}/queue", `/api/events/${pre}/queue`, { headers: user("early") })).body.status).toBe("pre_queue");
    expect((await call("GET", "/api/events/{id}/queue", `/api/events/${pre}/queue`, { headers: { authorization: `Bearer ${joined.body.ticket}` } })).body.status).toBe("pre_queue");
  });

  test("one user hammering: 429 with Retry-After equal to the body's retryAfter", async () => {
    const id = await create({ name: "hammer", stock: 10, trafficRpm: 0, runningCapacity: 1 });
    const replies = await Promise.all(Array.from({ length: 20 }, () => call("GET", "/api/events/{id}/queue", `/api/events/${id}/queue`, { headers: user("hammer") })));
    expect(replies.filter((r) => r.status === 429).length).toBeGreaterThan(0);
  });

  test("admin guard: a key without the scope (403), the per-key limit and the lockout (429, Retry-After) are documented for the route that answers them", async () => {
    // a server of its own with low admin limits: 3 failures lock an address out, a key may send 2 at once
    const g = await startServer({ ADMIN_LOCKOUT_FAILURES: "3", RATE_LIMIT_ADMIN_PER_SEC: "1", RATE_LIMIT_ADMIN_BURST: "2", TRUST_PROXY: "1" });
    try {
      const at = (ip: string, auth: string) => ({ authorization: `Bearer ${auth}`, "x-forwarded-for": ip });
      const guarded = (method: string, template: string, path: string, headers: Record<string, string>, body?: unknown) =>
        fetch(g.url + path, { method, headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) }).then((res) => c.check(method, template, res));
      const key = (await guarded("POST", "/admin/keys", "/admin/keys", at("198.51.100.1", ADMIN_TOKEN), { name: `reader-${run}`, scopes: ["events:read"] })).body.key as string;
      expect((await guarded("POST", "/admin/events/{id}/pause", "/admin/events/1/pause", at("198.51.100.2", key))).body.error).toBe("forbidden");
      // the key's burst, then its limit: 429 with Retry-After (checked against the body by `check`)
      const burst = await Promise.all(Array.from({ length: 6 }, () => guarded("GET", "/admin/events", "/admin/events?limit=1", at("198.51.100.3", key))));
      expect(burst.map((r) => r.status)).toContain(429);
      // guesses from one address: 401 three times, the fourth locks it out, then every route is 429, whatever the token
      for (let i = 0; i < 3; i++) expect((await guarded("GET", "/admin/audit", "/admin/audit", at("198.51.100.4", `wrong-${i}-${run}`))).status).toBe(401);
      expect((await guarded("GET", "/admin/audit", "/admin/audit", at("198.51.100.4", `wrong-3-${run}`))).status).toBe(429);
      expect((await guarded("POST", "/admin/coupons/{code}/redeem", "/admin/coupons/ANY/redeem", at("198.51.100.4", ADMIN_TOKEN), { orderId: "o" })).body.error).toBe("rate_limited");
      expect((await guarded("DELETE", "/admin/keys/{id}", "/admin/keys/1", at("198.51.100.4", ADMIN_TOKEN))).status).toBe(429);
    } finally {
      await stopServer(g);
    }
  });

  test("shop: winners as JSON and CSV, a coupon by code, redeem (200, 409, 410, 404)", async () => {
    const id = await create({ name: "shop", stock: 2, trafficRpm: 1_000_000, runningCapacity: 10, couponValidUntil: future(3_000) });
    const codes: string[] = [];
    for (const u of ["buyer1", "buyer2"]) {
      await call("POST", "/api/events/{id}/enter", `/api/events/${id}/enter`, { headers: user(u) });
      codes.push((await call("POST", "/api/events/{id}/issue", `/api/events/${id}/issue`, { headers: user(u) })).body.code);
    }
    await waitFor("persisted", async () => (await call("GET", "/admin/events/{id}", `/admin/events/${id}`, { headers: admin })).body.persisted === 2);
    const page = await call("GET", "/admin/events/{id}/issues", `/admin/events/${id}/issues?limit=1`, { headers: admin });
    expect(page.body.next).toBeString();
    expect((await call("GET", "/admin/events/{id}/issues", `/admin/events/${id}/issues?after=%21`, { headers: admin })).status).toBe(400);
    const csv = await call("GET", "/admin/events/{id}/issues", `/admin/events/${id}/issues`, { headers: { ...admin, accept: "text/csv" } });
    expect(csv.body.split("\r\n")[0]).toBe("userId,code,issuedAt,redeemedAt,orderId");
    expect((await call("GET", "/admin/coupons/{code}", `/admin/coupons/${codes[0]}`, { headers: admin })).body.eventId).toBe(id);
    expect((await call("GET", "/admin/coupons/{code}", "/admin/coupons/NOPE", { headers: admin })).status).toBe(404);
    const redeem = (code: string, orderId: unknown) => call("POST", "/admin/coupons/{code}/redeem", `/admin/coupons/${code}/redeem`, { headers: admin, body: { orderId } });
    expect((await redeem(codes[0]!, "order-1")).body.orderId).toBe("order-1");
    expect((await redeem(codes[0]!, "order-1")).status).toBe(200);
    expect((await redeem(codes[0]!, "order-2")).body.error).toBe("already_redeemed");
    expect((await redeem(codes[0]!, 7)).status).toBe(400);
    // once couponValidUntil has passed
    const { validUntil } = (await call("GET", "/admin/coupons/{code}", `/admin/coupons/${codes[1]}`, { headers: admin })).body;
    await Bun.sleep(Math.max(0, Date.parse(validUntil) - Date.now()) + 100);
    expect((await redeem(codes[1]!, "late")).body.error).toBe("expired");
  });

  test("every status the contract names for a route was met at least once by these flows", () => {
    const expected = [
      "POST /admin/events 201", "POST /admin/events 400", "POST /admin/events 401", "POST /admin/events 411", "POST /admin/events 413",
      "GET /admin/events 200", "GET /admin/events 400", "GET /admin/events/{id} 200", "GET /admin/events/{id} 404",
      "PATCH /admin/events/{id} 200", "PATCH /admin/events/{id} 400", "PATCH /admin/events/{id} 409", "PATCH /admin/events/{id} 404",
      "POST /admin/events/{id}/pause 200", "POST /admin/events/{id}/pause 409", "POST /admin/events/{id}/resume 200", "POST /admin/events/{id}/close 200",
      "DELETE /admin/events/{id} 200", "DELETE /admin/events/{id} 409", "POST /admin/events/{id}/restore 200",
      "GET /admin/events/{id}/dead 200", "POST /admin/events/{id}/dead/{entry}/retry 404",
      "GET /api/events/{id} 200", "GET /api/events/{id} 404",
      "POST /api/events/{id}/enter 200", "POST /api/events/{id}/enter 202", "POST /api/events/{id}/enter 401", "POST /api/events/{id}/enter 404", "POST /api/events/{id}/enter 409", "POST /api/events/{id}/enter 410",
      "GET /api/events/{id}/queue 200", "GET /api/events/{id}/queue 403", "GET /api/events/{id}/queue 404", "GET /api/events/{id}/queue 429",
      "DELETE /api/events/{id}/queue 204",
      "POST /api/events/{id}/issue 201", "POST /api/events/{id}/issue 403", "POST /api/events/{id}/issue 409",
      "GET /api/events/{id}/coupon 200", "GET /api/events/{id}/coupon 401", "GET /api/me/coupons 200",
      "GET /admin/events/{id}/issues 200", "GET /admin/events/{id}/issues 400",
      "GET /admin/coupons/{code} 200", "GET /admin/coupons/{code} 404",
      "POST /admin/coupons/{code}/redeem 200", "POST /admin/coupons/{code}/redeem 400", "POST /admin/coupons/{code}/redeem 409", "POST /admin/coupons/{code}/redeem 410",
      "GET /health/live 200", "GET /health/ready 200", "GET /metrics 200",
      "POST /admin/events/{id}/pause 403", "GET /admin/events 429", "GET /admin/audit 401", "GET /admin/audit 429", "POST /admin/coupons/{code}/redeem 429", "DELETE /admin/keys/{id} 429",
    ];
    expect(expected.filter((k) => !c.seen.has(k))).toEqual([]);
  });
});
