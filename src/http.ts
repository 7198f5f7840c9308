import { Elysia } from "elysia";

/** An error with a status and a stable machine code; every non-2xx reply is `{error, message}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra?: Record<string, unknown>,
    /** response headers that go with it (Retry-After on a 409 pending) */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const errorBody = (code: string, message: string, extra?: Record<string, unknown>) => ({ error: code, message, ...extra });

/** A dependency that is down or unreachable (checked through wrapped causes, e.g. drizzle's query errors). */
function isUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; fatal?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.fatal === true) return true;
    if (typeof e.code === "string" && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|PROTOCOL_CONNECTION_LOST|ER_CON_COUNT_ERROR|ER_SERVER_SHUTDOWN|ER_LOCK_WAIT_TIMEOUT|ER_LOCK_DEADLOCK)$/.test(e.code)) return true;
    if (/ECONNREFUSED|ETIMEDOUT|ECONNRESET|Connection is closed|Connection lost|Command aborted due to connection close|isn't writeable|enableOfflineQueue|MaxRetriesPerRequest|Pool is closed|CLUSTERDOWN|LOADING|connect ETIMEDOUT/i.test(String(e.message ?? ""))) return true;
  }
  return false;
}

// The body as received, for the router to forward byte for byte after the parser consumed it.
const rawBodies = new WeakMap<Request, string>();
export const rawBody = (request: Request): string | undefined => rawBodies.get(request);

// Requests whose body was not JSON, and the body they get meanwhile (no schema accepts it).
const badJson = new WeakSet<Request>();
const NOT_JSON = Object.freeze(Object.create(null) as Record<string, never>);
const invalidJson = () => new ApiError(400, "invalid_json", "the request body is not valid JSON");

// Requests whose body holds a string that is not valid Unicode (a lone surrogate, "\ud800"): MySQL
// would store it as U+FFFD, and a redeem with that orderId could never be repeated or matched.
const badText = new WeakSet<Request>();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
function holdsLoneSurrogate(v: unknown): boolean {
  if (typeof v === "string") return LONE_SURROGATE.test(v);
  if (Array.isArray(v)) return v.some(holdsLoneSurrogate);
  if (v && typeof v === "object") return Object.entries(v).some(([k, x]) => LONE_SURROGATE.test(k) || holdsLoneSurrogate(x));
  return false;
}

/** The body, read as JSON (see the parse hook below): the parsed value, or NOT_JSON with the request marked. */
async function parseJson(request: Request): Promise<unknown> {
  const text = await request.text();
  rawBodies.set(request, text);
  if (text === "") return null;
  try {
    const body = JSON.parse(text);
    // only a \uD800–\uDFFF escape can make one (a raw one in UTF-8 is decoded as U+FFFD): walk the body only then
    if (/\\u[dD][89a-fA-F]/.test(text) && holdsLoneSurrogate(body)) badText.add(request);
    return body;
  } catch {
    // Parsing runs before a route's guards (Elysia's order: parse, transform, validation), so the
    // verdict waits: a caller without the admin token learns nothing about the body it sent.
    badJson.add(request);
    return NOT_JSON;
  }
}

/**
 * Maps every failure to the contract's JSON error shape: our own ApiErrors keep their status, bad
 * input is a 4xx, an unreachable dependency is a 503, and nothing else ever leaks a stack trace.
 */
export const errors = (maxBodyBytes: number) =>
  new Elysia({ name: "errors" })
  // Bun's own limit (set higher) answers with an empty body; this one answers in the contract's shape.
  .onRequest(({ request, set }) => {
    // read once: every request passes here (most carry no body)
    const declared = request.headers.get("content-length");
    const len = Number(declared ?? 0);
    // A body must declare its length, so the limit here holds before a single byte is read: a
    // streamed (chunked) body would otherwise be parsed whatever its size and content type.
    if (declared === null && request.headers.has("transfer-encoding")) {
      set.status = 411;
      set.headers["content-type"] = "application/json";
      return errorBody("length_required", "request bodies must be sent with a Content-Length");
    }
    if (len > maxBodyBytes) {
      set.status = 413;
      set.headers["content-type"] = "application/json";
      return errorBody("payload_too_large", `request body over ${maxBodyBytes} bytes`);
    }
  })
  // Every body is read as JSON, whatever its Content-Type claims (fetch sends text/plain, curl -d a
  // form type): one strict parser, so a form or text body can never be coerced into a valid-looking
  // request, and a client that forgot the header is not punished for it.
  // most requests (enter, issue) carry no body: answered at once, without touching the stream or
  // making a promise (Elysia awaits a parser only when it returns one)
  .onParse({ as: "global" }, ({ request }) => (Number(request.headers.get("content-length")) ? parseJson(request) : null))
  .onBeforeHandle({ as: "global" }, ({ request }) => {
    if (badJson.has(request)) throw invalidJson();
    if (badText.has(request)) throw new ApiError(400, "bad_request", "a string in the body is not valid Unicode (a lone surrogate such as \\ud800)");
  })
  .onError({ as: "global" }, ({ code, error, set, request }) => {
    set.headers["content-type"] = "application/json";
    if (error instanceof ApiError) {
      set.status = error.status;
      if (error.headers) Object.assign(set.headers, error.headers);
      return errorBody(error.code, error.message, error.extra);
    }
    switch (code) {
      case "VALIDATION":
        set.status = 400;
        if (badJson.has(request)) return errorBody("invalid_json", "the request body is not valid JSON");
        return errorBody("bad_request", validationMessage(error));
      case "PARSE":
        set.status = 400;
        return errorBody("invalid_json", "the request body is not valid JSON");
      case "NOT_FOUND":
        set.status = 404;
        return errorBody("not_found", "no such route");
      case "INVALID_COOKIE_SIGNATURE":
        set.status = 400;
        return errorBody("bad_request", "invalid cookie");
    }
    const status = (error as { status?: unknown })?.status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      set.status = status;
      return errorBody(status === 413 ? "payload_too_large" : "bad_request", String((error as Error).message || "bad request"));
    }
    // a key of the wrong type is damaged state (an event being reconciled), not the client's fault
    if (isUnavailable(error) || /^WRONGTYPE/.test(String((error as Error)?.message))) {
      set.status = 503;
      return errorBody("unavailable", "a backing service is unavailable, try again shortly");
    }
    console.error("unhandled error:", error);
    set.status = 500;
    return errorBody("internal", "internal error");
  });

/** The path of a request URL as Bun hands it over: absolute ("http://host/p?q") or, for a missing or odd Host, path-only ("/p?q"). */
function pathOf(url: string): string {
  const start = url.charCodeAt(0) === 47 ? 0 : url.indexOf("/", url.indexOf("://") + 3);
  if (start === -1) return "/";
  const q = url.indexOf("?", start);
  return q === -1 ? url.slice(start) : url.slice(start, q);
}

/**
 * Bun routes requests itself, on the path as sent. Whatever it does not match (the wildcard routes of
 * a split router, unknown paths) goes to Elysia's own router, which takes the path out of request.url
 * by position and cuts it wrong when Bun hands over a path-only URL (no Host, or one it cannot use).
 * Such a request is answered 404, never routed to whatever the wrong cut happens to name.
 */
export const routedAsSent = () =>
  new Elysia({ name: "routed-as-sent" }).onRequest((c) => {
    // matched by Bun's own router: the route is the one the path names
    if ("params" in c.request) return;
    // Elysia's router has cut `path` out of the URL by now (its request hooks run before the lookup)
    if ((c as { path?: string }).path === pathOf(c.request.url)) return;
    c.set.status = 404;
    c.set.headers["content-type"] = "application/json";
    return errorBody("not_found", "no such route");
  });

function validationMessage(error: unknown): string {
  try {
    const first = (error as { all?: { path?: string; message?: string; summary?: string }[] }).all?.[0];
    if (first) return `${first.path || "body"}: ${first.summary || first.message}`.slice(0, 300);
  } catch {
    /* fall through to a generic message */
  }
  return "invalid request";
}
