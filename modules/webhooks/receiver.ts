// Test kit: an HTTPS webhook receiver (Bun.serve with a self-signed certificate made by openssl) that
// verifies each delivery with the `standardwebhooks` package, as a shop would. Servers under test
// trust the certificate through WEBHOOK_CA_FILE, so deliveries stay https-only.
import { afterAll, beforeAll } from "bun:test";
import mysql from "mysql2/promise";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { TEST_DB } from "../../scripts/testkit";

export type Tls = { cert: string; key: string; caFile: string; cleanup(): void };

/** A self-signed certificate for `hooks.test`, 127.0.0.1 and ::1 (its own CA). */
export function selfSigned(): Tls {
  const dir = mkdtempSync(join(tmpdir(), "hooks-tls-"));
  const r = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=hooks.test",
      "-addext", "subjectAltName=DNS:hooks.test,IP:127.0.0.1,IP:::1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
    { stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8"), caFile: join(dir, "cert.pem"), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A webhook test file's ground: a MySQL schema of its own, `<TEST_DB>_<suffix>` (once an event has a
 * webhookUrl, an issuer without WEBHOOK_SECRET refuses to start on that database), dropped before the
 * file and after it, and a certificate for its receivers. `env` lets a server deliver to them with
 * `secret`, polling its outbox often so a test sees deliveries soon. Servers started at the file's top level must stop in a describe's afterAll (which runs first).
 */
export function webhookTestFile(suffix: string, secret: string) {
  const db = TEST_DB.replace(/\/([^/?]+)$/, `/$1_${suffix}`);
  const tls = selfSigned();
  const drop = async () => {
    const u = new URL(db);
    const c = await mysql.createConnection({ host: u.hostname, port: Number(u.port || 3306), user: u.username || "root", password: u.password });
    await c.query(`DROP DATABASE IF EXISTS \`${u.pathname.slice(1)}\``);
    await c.end();
  };
  beforeAll(drop);
  afterAll(async () => {
    await drop();
    tls.cleanup();
  });
  return { db, tls, env: { DATABASE_URL: db, WEBHOOK_SECRET: secret, WEBHOOK_ALLOW_PRIVATE: "on", WEBHOOK_CA_FILE: tls.caFile, WEBHOOK_POLL_MS: "50" } };
}

export type Received = { id: string; timestamp: string; signature: string; raw: string; host: string; verified: boolean; payload: any };

/**
 * A receiver that answers 500 to its first `failFirst` requests, can be made to hang (take requests
 * and never answer), and can be taken down and brought back on its port. Keeps every accepted
 * delivery with its headers and raw body, and whether Webhook.verify accepted it.
 */
export function receiver(tls: Tls, secret: string | Uint8Array, failFirst = 0) {
  const wh = typeof secret === "string" && secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(typeof secret === "string" ? new TextEncoder().encode(secret) : secret, { format: "raw" });
  const received: Received[] = [];
  let refused = 0;
  let hanging = false;
  let hung = 0;
  let failing = false;
  const fetch = async (req: Request) => {
    const raw = await req.text();
    if (hanging) {
      hung++;
      return new Promise<Response>(() => {});
    }
    if (failing || refused < failFirst) {
      refused++;
      return new Response("not today", { status: 500 });
    }
    const headers = { "webhook-id": req.headers.get("webhook-id") ?? "", "webhook-timestamp": req.headers.get("webhook-timestamp") ?? "", "webhook-signature": req.headers.get("webhook-signature") ?? "" };
    let verified = false;
    let payload: unknown = null;
    try {
      payload = wh.verify(raw, headers);
      verified = true;
    } catch {
      /* kept as unverified: the test says so */
    }
    received.push({ id: headers["webhook-id"], timestamp: headers["webhook-timestamp"], signature: headers["webhook-signature"], raw, host: req.headers.get("host") ?? "", verified, payload });
    return new Response(null, { status: 204 });
  };
  const serve = (port: number) => Bun.serve({ hostname: "127.0.0.1", port, tls: { cert: tls.cert, key: tls.key }, fetch });
  let server = serve(0);
  const port = server.port as number;
  return {
    url: `https://127.0.0.1:${port}/hooks/coupons`,
    port,
    received,
    webhook: wh,
    refused: () => refused,
    hung: () => hung,
    hang: (on: boolean) => void (hanging = on),
    /** answer 500 to everything until told otherwise */
    fail: (on: boolean) => void (failing = on),
    down: () => server.stop(true),
    up: () => void (server = serve(port)),
    stop: () => server.stop(true),
    /** the verified payloads of one type */
    ofType: (type: string) => received.filter((r) => r.verified && r.payload?.type === type).map((r) => r.payload),
  };
}
