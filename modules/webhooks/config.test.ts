// The webhook settings as the start checks them: the Standard Webhooks secret forms, the address
// rules' switch, and the extra CA file (a bad one stops the start with one line).
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config";

const base = { NODE_ENV: "test", ADMIN_TOKEN: "admin-token-123", AUTH_JWT_SECRET: "a-secret-of-sixteen+" };
const fails = (env: Record<string, string>, message: RegExp) => expect(() => loadConfig({ ...base, ...env })).toThrow(message);

describe("webhook settings", () => {
  test("WEBHOOK_SECRET: whsec_<base64 of ≥ 12 bytes>, or any other string of ≥ 16 characters", () => {
    const whsec = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;
    expect(loadConfig({ ...base, WEBHOOK_SECRET: whsec }).webhookSecret).toBe(whsec);
    expect(loadConfig({ ...base, WEBHOOK_SECRET: "a raw secret, 16+" }).webhookSecret).toBe("a raw secret, 16+");
    for (const bad of ["whsec_not base64 at all!!", "whsec_c2hvcnQhIQ==", `whsec_${"A".repeat(15)}`]) fails({ WEBHOOK_SECRET: bad }, /WEBHOOK_SECRET starting with whsec_ must be whsec_ followed by the base64/);
    fails({ WEBHOOK_SECRET: "short" }, /WEBHOOK_SECRET must be at least 16/);
  });

  test("WEBHOOK_ALLOW_PRIVATE is on or off (off by default); WEBHOOK_CA_FILE must be a readable PEM file", () => {
    expect(loadConfig(base).webhooks.allowPrivate).toBe(false);
    expect(loadConfig({ ...base, WEBHOOK_ALLOW_PRIVATE: "on" }).webhooks.allowPrivate).toBe(true);
    fails({ WEBHOOK_ALLOW_PRIVATE: "yes" }, /WEBHOOK_ALLOW_PRIVATE must be "on" or "off"/);
    const dir = mkdtempSync(join(tmpdir(), "hooks-ca-"));
    try {
      const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
      writeFileSync(join(dir, "ca.pem"), pem);
      writeFileSync(join(dir, "junk.txt"), "not a certificate");
      expect(loadConfig({ ...base, WEBHOOK_CA_FILE: join(dir, "ca.pem") }).webhooks.ca).toBe(pem);
      expect(loadConfig(base).webhooks.ca).toBeUndefined();
      fails({ WEBHOOK_CA_FILE: join(dir, "junk.txt") }, /WEBHOOK_CA_FILE must hold PEM certificates/);
      fails({ WEBHOOK_CA_FILE: join(dir, "missing.pem") }, /WEBHOOK_CA_FILE cannot be read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
