// Every secret value that appears as an example in the README, the docs or the code's own defaults.
// A production process refuses to start with any of them (src/config.ts): a copied example is a
// public secret. src/config.test.ts checks this list against the docs' text, so an example added
// to a page without being added here fails the tests.
export const EXAMPLE_SECRETS: readonly string[] = [
  // README before the security issue (#21)
  "change-me-admin",
  "change-me-please-32-bytes",
  // NODE_ENV=development defaults (src/config.ts) and scripts/demo.ts
  "dev-admin-token",
  "dev-jwt-secret-change-me",
  "dev-internal-token-change-me",
  // scripts/testkit.ts
  "test-admin-token",
  "test-jwt-secret-0123456789",
  "test-internal-token-0123456789",
  // tests and docs
  "scrape-token-123",
  "scrape-me-please",
];

/** The environment variables that hold secrets (their values are never printed, and never examples in production). */
export const SECRET_VARS = ["ADMIN_TOKEN", "AUTH_JWT_SECRET", "INTERNAL_TOKEN", "METRICS_TOKEN", "WEBHOOK_SECRET", "API_KEY_PEPPER"] as const;

/** `scheme://user:password@host` → `scheme://user:***@host`: a URL as it may appear in a log line. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s/:@"']*):[^\s/@"']*@/gi, "$1:***@");
}
