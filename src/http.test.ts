// A dependency that drops mid-request is a 503 (try again), never a 500: what ioredis and mysql2 say
// when a connection closes under a command, directly or wrapped as a cause.
import { describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { errors } from "./http";

const MESSAGES = [
  "Command aborted due to connection close",
  "Connection is closed.",
  "Stream isn't writeable and enableOfflineQueue options is false",
  "Reached the max retries per request limit (which is 2). Refer to \"maxRetriesPerRequest\" option for details.",
  "read ECONNRESET",
  "Pool is closed.",
];

describe("errors", () => {
  const app = new Elysia()
    .use(errors(1024))
    .get("/direct/:i", ({ params }) => {
      throw new Error(MESSAGES[Number(params.i)]);
    })
    .get("/wrapped/:i", ({ params }) => {
      throw new Error("Failed query", { cause: new Error(MESSAGES[Number(params.i)]) });
    })
    .get("/bug", () => {
      throw new TypeError("undefined is not an object");
    });

  test("a connection that closes under a command: 503 unavailable, directly or as the cause", async () => {
    for (const way of ["direct", "wrapped"])
      for (let i = 0; i < MESSAGES.length; i++) {
        const res = await app.handle(new Request(`http://localhost/${way}/${i}`));
        expect({ way, message: MESSAGES[i], status: res.status, body: await res.json() }).toMatchObject({ way, message: MESSAGES[i], status: 503, body: { error: "unavailable" } });
      }
  });

  test("anything else is a 500 that says nothing of the inside", async () => {
    const res = await app.handle(new Request("http://localhost/bug"));
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain("undefined is not");
  });
});
