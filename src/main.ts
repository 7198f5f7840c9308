import { createApp } from "./app";
import { ConfigError, loadConfig } from "./config";
import { redactUrl } from "./secrets";

let config;
try {
  config = loadConfig();
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(`config error: ${redactUrl(e.message)}`);
    process.exit(1);
  }
  throw e;
}

const roles = [...config.roles].join(",");
const app = await createApp(config).catch((e) => {
  // a driver's message may quote the URL it was given
  console.error(`start failed: ${redactUrl(String((e as Error)?.message ?? e))}`);
  process.exit(1);
});
const port = await app.start();
console.log(`massive-coupon [${roles}] listening on :${port} (swagger: /swagger)`);

let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const)
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    console.log(`${sig}: draining…`);
    await app.stop();
    process.exit(0);
  });
