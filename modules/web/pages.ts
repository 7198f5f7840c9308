import { readFileSync } from "node:fs";
import { join } from "node:path";

export const PUBLIC = join(import.meta.dir, "public");

/** The pages' languages (public/lang-*.js). */
export const LANGUAGES = ["en", "ko"] as const;

/**
 * Each page's file in public/ holds what is inside its <body> (after the site header, on the user
 * pages); its title and module scripts are here, the rest of the head is one for all. The user pages
 * share the header and are served in each language.
 */
export type PageName = "event" | "waiting" | "not-found" | "admin";
const PAGES: Record<PageName, { title: string; scripts: string[]; user: boolean; bodyClass?: string }> = {
  event: { title: "Event", scripts: ["event.js"], user: true },
  waiting: { title: "Waiting room", scripts: ["waiting.js"], user: true },
  "not-found": { title: "Not found", scripts: ["i18n.js"], user: true },
  admin: { title: "Admin", scripts: ["admin.js", "admin-live.js", "admin-webhooks.js", "admin-audit.js", "admin-keys.js"], user: false, bodyClass: "wide" },
};

// the shop's brand (the page's script fills it in), who the tab is signed in as, the language switch
const SITE_HEADER = `  <header class="site">
    <p class="brand"><img id="brand-logo" class="logo" alt="" hidden><span id="brand-name" data-i18n="site.name">massive coupon</span></p>
    <p id="who" class="who" hidden></p>
    <nav id="langs" class="langs"></nav>
  </header>
`;

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
  const { title, scripts, user, bodyClass } = PAGES[name];
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
  const body = `<body${bodyClass ? ` class="${bodyClass}"` : ""}>\n${user ? SITE_HEADER : ""}${readFileSync(join(PUBLIC, `${name}.html`), "utf8")}</body>\n`;
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
    if (!PAGES[name].user) continue;
    for (const lang of LANGUAGES) html.set(`${lang}:${name}`, text.replace('<html lang="en">', `<html lang="${lang}" data-accept-language="${lang}">`));
  }
  return html;
}
