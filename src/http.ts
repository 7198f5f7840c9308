import { Elysia } from "elysia";
import type { Auth } from "./auth";

/** An error with a status and a stable machine code; every non-2xx reply is `{error, message}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra?: Record<string, unknown>,
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
    if (/ECONNREFUSED|ETIMEDOUT|ECONNRESET|Connection is closed|Connection lost|MaxRetriesPerRequest|Pool is closed|CLUSTERDOWN|LOADING|connect ETIMEDOUT/i.test(String(e.message ?? ""))) return true;
  }
  return false;
}

// The body as received, for the router to forward byte for byte after the parser consumed it.
const rawBodies = new WeakMap<Request, string>();
export const rawBody = (request: Request): string | undefined => rawBodies.get(request);

/**
 * Maps every failure to the contract's JSON error shape: our own ApiErrors keep their status, bad
 * input is a 4xx, an unreachable dependency is a 503, and nothing else ever leaks a stack trace.
 */
export const errors = (maxBodyBytes: number) =>
  new Elysia({ name: "errors" })
  // Bun's own limit (set higher) answers with an empty body; this one answers in the contract's shape.
  .onRequest(({ request, set }) => {
    const len = Number(request.headers.get("content-length") ?? 0);
    // A body must declare its length, so the limit here holds before a single byte is read: a
    // streamed (chunked) body would otherwise be parsed whatever its size and content type.
    if (request.headers.has("transfer-encoding") && !request.headers.has("content-length")) {
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
  .onParse({ as: "global" }, async ({ request }) => {
    // most requests (enter, issue) carry no body: do not touch the stream at all
    if (!Number(request.headers.get("content-length"))) return null;
    const text = await request.text();
    rawBodies.set(request, text);
    if (text === "") return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(400, "invalid_json", "the request body is not valid JSON");
    }
  })
  .onError({ as: "global" }, ({ code, error, set }) => {
    set.headers["content-type"] = "application/json";
    if (error instanceof ApiError) {
      set.status = error.status;
      return errorBody(error.code, error.message, error.extra);
    }
    switch (code) {
      case "VALIDATION":
        set.status = 400;
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

function validationMessage(error: unknown): string {
  try {
    const first = (error as { all?: { path?: string; message?: string; summary?: string }[] }).all?.[0];
    if (first) return `${first.path || "body"}: ${first.summary || first.message}`.slice(0, 300);
  } catch {
    /* fall through to a generic message */
  }
  return "invalid request";
}

const ADMIN_URL = /^[a-z]+:\/\/[^/]+\/admin\//i;

/**
 * Every /admin/ route of this process needs the admin token, checked before routing and body
 * parsing (a request hook is process-wide): a caller without it gets a 401 and never a hint about
 * bodies, ids or routes.
 */
export const adminOnly = (auth: Auth) =>
  new Elysia({ name: "admin-only" }).onRequest(({ request }) => {
    if (ADMIN_URL.test(request.url)) auth.admin(request.headers.get("authorization"));
  });
