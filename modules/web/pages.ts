import { readFileSync } from "node:fs";
import { join } from "node:path";

export const PUBLIC = join(import.meta.dir, "public");

/** The pages' languages (public/lang-*.js). */
export const LANGUAGES = ["en", "ko"] as const;

// Each page's file in public/ holds its <body>; its title and module scripts are here, the rest of the head is one for all.
const PAGES = {
  event: { title: "Event", scripts: ["event.js"] },
  waiting: { title: "Waiting room", scripts: ["waiting.js"] },
  "not-found": { title: "Not found", scripts: ["i18n.js"] },
  admin: { title: "Admin", scripts: ["admin.js", "admin-live.js", "admin-webhooks.js", "admin-audit.js", "admin-keys.js"] },
};
export type PageName = keyof typeof PAGES;

/** The modules `script` imports from public/, directly or through another, each once. */
function importsOf(script: string, seen = new Set<string>()): Set<string> {
  const text = readFileSync(join(PUBLIC, script), "utf8");
  for (const m of text.matchAll(/^import\s(?:[^;]*?\sfrom\s*)?"\.\/([\w-]+\.js)"/gm)) {
    if (seen.has(m[1]!)) continue;
    seen.add(m[1]!);
    importsOf(m[1]!, seen);
  }
  return seen;
}

function render(name: PageName): string {
  const { title, scripts } = PAGES[name];
  const imported = new Set(scripts.flatMap((s) => [...importsOf(s)]));
  const head = [
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${title} · massive coupon</title>`,
    '<link rel="icon" href="data:,">',
    '<link rel="stylesheet" href="/assets/app.css">',
    ...scripts.map((s) => `<script type="module" src="/assets/${s}"></script>`),
    // the whole import graph asked for at once, not one level per round trip
    ...[...imported].filter((m) => !scripts.includes(m)).map((m) => `<link rel="modulepreload" href="/assets/${m}">`),
  ];
  const body = readFileSync(join(PUBLIC, `${name}.html`), "utf8");
  return `<!doctype html>\n<html lang="en">\n<head>\n${head.map((l) => `  ${l}\n`).join("")}</head>\n${body}</html>\n`;
}

/**
 * Every page, rendered once at start; the user pages also in each language the server may pick from
 * Accept-Language (`<html lang>` and a data attribute the script reads), under `<lang>:<name>`.
 */
export function renderPages(): Map<string, string> {
  const html = new Map<string, string>();
  for (const name of Object.keys(PAGES) as PageName[]) {
    const text = render(name);
    html.set(name, text);
    if (name === "admin") continue;
    for (const lang of LANGUAGES) html.set(`${lang}:${name}`, text.replace('<html lang="en">', `<html lang="${lang}" data-accept-language="${lang}">`));
  }
  return html;
}
