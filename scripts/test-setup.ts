// Preloaded by `bun test` (bunfig.toml): the race and fault tests start real servers and processes.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(120_000);
