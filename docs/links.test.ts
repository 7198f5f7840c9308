// The README and the pages in docs/ stay connected: every relative link (and image) names a file that
// exists, every #anchor a heading of that page, every page is linked from the README, and the README
// stays a front door.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(import.meta.dir, "..");
const PAGES = [join(ROOT, "README.md"), ...readdirSync(import.meta.dir).filter((f) => f.endsWith(".md")).map((f) => join(import.meta.dir, f))];

/** The text without code (fenced blocks and inline spans): a link shown as code is not a link. */
const prose = (md: string) => md.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "");

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of prose(md).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = text!
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Every link target of a page: markdown links and images, and src/href of inline HTML. */
function targets(md: string): string[] {
  const text = prose(md);
  return [...text.matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g), ...text.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
}

describe("docs", () => {
  test("every relative link and image resolves to a file, and every #anchor to a heading", () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      const md = readFileSync(page, "utf8");
      for (const target of targets(md)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split("#") as [string, string | undefined];
        const file = path ? resolve(dirname(page), decodeURIComponent(path)) : page;
        const where = `${relative(ROOT, page)} → ${target}`;
        if (!existsSync(file)) broken.push(`${where}: no such file`);
        else if (anchor !== undefined && file.endsWith(".md") && !anchors(readFileSync(file, "utf8")).has(anchor)) broken.push(`${where}: no such heading`);
      }
    }
    expect(broken).toEqual([]);
  });

  test("the README is a front door: at most 200 lines, the two commands, a link to every page in docs/", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme.split("\n").length).toBeLessThanOrEqual(200);
    expect(readme).toContain("bash scripts/demo.sh");
    expect(readme).toContain("bash scripts/test.sh");
    const linked = new Set(targets(readme).map((t) => t.split("#")[0]));
    const unlinked = PAGES.slice(1).map((p) => relative(ROOT, p)).filter((p) => !linked.has(p));
    expect(unlinked).toEqual([]);
  });
});
