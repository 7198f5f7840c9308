// The baseline: the same routes and reply shapes as the real server, with no auth, Redis or MySQL
// behind them. What this serves on the same box with the same connections is the ceiling.
import { Elysia } from "elysia";

const expiresAt = new Date(Date.now() + 3600_000).toISOString();

new Elysia()
  .get("/health/ready", () => ({ status: "ready" }))
  .post("/api/events/:id/enter", () => ({ status: "admitted", expiresAt }))
  .post("/api/events/:id/issue", ({ params, set }) => {
    set.status = 201;
    return { status: "issued", eventId: Number(params.id), userId: "bare" };
  })
  .get("/api/events/:id/queue", () => ({ status: "waiting", position: 1234, etaSeconds: 4.1, pollAfterMs: 410, remaining: 1000, running: 1000 }))
  .get("/health/live", () => ({ status: "ok" }))
  .listen({ port: Number(process.env.PORT || 0), hostname: "127.0.0.1" });
