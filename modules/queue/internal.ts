import { Elysia, t } from "elysia";
import { internalGuard, USER_ID } from "../../src/auth";
import { ApiError } from "../../src/http";
import { eventId } from "../events";
import { EventIdParams } from "../events/model";
import type { QueueApi } from "./model";

const Body = t.Object({ userId: t.String({ pattern: USER_ID.source }), rpm: t.Optional(t.Number({ minimum: 0 })) }, { additionalProperties: false });

/**
 * The queue server side of `HttpQueueClient`: QueueApi over HTTP for a router in another process.
 * Service-to-service only: `Authorization: Bearer <INTERNAL_TOKEN>` (never the admin token or an
 * API key), never forwarded from the outside by the router.
 */
export const queueInternalModule = (queue: QueueApi, internalToken: string) =>
  new Elysia({ name: "queue-internal" }).guard(internalGuard(internalToken), (app) =>
    app
      .post("/internal/events/:id/enter", ({ params, body }) => queue.enter(eventId(params.id), body.userId, body.rpm ?? 0), { params: EventIdParams, body: Body })
      .post("/internal/events/:id/poll", ({ params, body }) => queue.poll(eventId(params.id), body.userId), { params: EventIdParams, body: Body })
      .post("/internal/events/:id/leave", async ({ params, body }) => ({ ok: true, seq: await queue.leave(eventId(params.id), body.userId) }), { params: EventIdParams, body: Body }),
  );

/** QueueApi against a remote queue server, with a timeout and a clear 503 when it is down. */
export class HttpQueueClient implements QueueApi {
  private tokenRefused = false;
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  private async post<T>(path: string, body: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method: "POST",
        headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch {
      throw new ApiError(503, "upstream_unavailable", "the queue server is unavailable, try again shortly");
    }
    if (res.status >= 500) throw new ApiError(503, "upstream_unavailable", `the queue server answered ${res.status}`);
    // the queue server refused this router's INTERNAL_TOKEN: the deployment's fault, never the user's
    if (res.status === 401) {
      if (!this.tokenRefused) console.error("the queue server refuses this router's INTERNAL_TOKEN: every process of a deployment must share the same value");
      this.tokenRefused = true;
      throw new ApiError(503, "upstream_unavailable", "the queue server is unavailable, try again shortly");
    }
    const json = (await res.json()) as T & { error?: string; message?: string };
    if (!res.ok) throw new ApiError(res.status, json.error ?? "upstream_error", json.message ?? "queue server error");
    return json;
  }

  enter(eventId: number, userId: string, rpm: number) {
    return this.post<Awaited<ReturnType<QueueApi["enter"]>>>(`/internal/events/${eventId}/enter`, { userId, rpm });
  }
  poll(eventId: number, userId: string) {
    return this.post<Awaited<ReturnType<QueueApi["poll"]>>>(`/internal/events/${eventId}/poll`, { userId });
  }
  async leave(eventId: number, userId: string) {
    return (await this.post<{ seq?: number }>(`/internal/events/${eventId}/leave`, { userId })).seq ?? 0;
  }
}
