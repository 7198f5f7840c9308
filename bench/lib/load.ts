// Closed-loop load from autocannon's programmatic API: every connection runs `steps` in order, again
// and again; each pass gets a fresh context (so a pass can be one distinct user).
import autocannon from "autocannon";
import { Recorder, type LoadStats } from "./stats";

export type Ctx = Record<string, any>;

export type Step = {
  kind: string;
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** called as the request is built; returns the Authorization header (and may set ctx.user) */
  auth: (ctx: Ctx) => string;
  /** more headers, built after `auth` (which may have set ctx.user) */
  headers?: (ctx: Ctx) => Record<string, string>;
  onReply?: (status: number, ctx: Ctx, body: string) => void;
};

export type LoadOptions = {
  url: string;
  connections: number;
  durationS: number;
  steps: Step[];
  timeoutS?: number;
  /** stop after exactly this many requests (then durationS is only an upper bound) */
  amount?: number;
  /** receives a function that ends the run early (e.g. once the event is sold out) */
  onStart?: (stop: () => void) => void;
};

export async function hammer(o: LoadOptions): Promise<LoadStats> {
  const rec = new Recorder();
  // autocannon calls a request's onResponse and then, synchronously, emits 'response' with the
  // latency; remembering the kind in between gives per-kind latencies from one shared run.
  let lastKind = "";
  const requests = o.steps.map((s) => ({
    method: s.method,
    path: s.path,
    setupRequest: (req: autocannon.Request, ctx: object) => {
      const authorization = s.auth(ctx as Ctx);
      return { ...req, headers: { ...req.headers, authorization, ...s.headers?.(ctx as Ctx) } };
    },
    onResponse: (status: number, body: string, ctx: object) => {
      lastKind = s.kind;
      s.onReply?.(status, ctx as Ctx, body);
    },
  }));
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const opts = { url: o.url, connections: o.connections, duration: o.durationS, requests, timeout: o.timeoutS ?? 30, ...(o.amount ? { amount: o.amount } : {}) };
    const instance = autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on("response", (_client, status, _bytes, ms) => rec.add(lastKind, status, ms));
    o.onStart?.(() => instance.stop());
  });
  rec.errors = result.errors;
  rec.timeouts = result.timeouts;
  return rec.summary(result.duration, o.connections);
}
