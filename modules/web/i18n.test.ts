// The pages' catalogues: the same keys in every language, every key the pages use present, and
// the server's pick from Accept-Language.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { negotiateLanguage } from ".";

const PUBLIC = join(import.meta.dir, "public");
// the catalogues are the browser's plain modules (no types)
const en: Record<string, any> = (await import(join(PUBLIC, "lang-en.js"))).default;
const ko: Record<string, any> = (await import(join(PUBLIC, "lang-ko.js"))).default;
const userFiles = readdirSync(PUBLIC).filter((f) => !f.startsWith("admin") && (f.endsWith(".js") || f.endsWith(".html")) && !f.startsWith("lang-"));

describe("catalogues", () => {
  test("English and Korean have the same keys, and no Korean text is left in English", () => {
    expect(Object.keys(ko).sort()).toEqual(Object.keys(en).sort());
    const same = Object.keys(en).filter((k) => typeof en[k] === "string" && en[k] === ko[k]);
    // the product's name is a name in both
    expect(same).toEqual(["site.name"]);
  });

  test("every key a page uses is in the catalogues", () => {
    const used = new Set<string>();
    for (const f of userFiles) {
      const text = readFileSync(join(PUBLIC, f), "utf8");
      for (const m of text.matchAll(/\bt\(\s*"([\w.]+)"/g)) used.add(m[1]!);
      for (const m of text.matchAll(/\bt\(\s*\w+ \? "([\w.]+)" : "([\w.]+)"/g)) (used.add(m[1]!), used.add(m[2]!));
      for (const m of text.matchAll(/data-i18n(?:-label)?="([\w.]+)"/g)) used.add(m[1]!);
      for (const m of text.matchAll(/(?:headingKey|end\()\s*"([\w.]+)"/g)) used.add(m[1]!);
    }
    // keys made from a reply's code or an event's status
    for (const k of ["issued", "already_issued", "sold_out", "closed", "paused", "cancelled", "not_open", "event_not_found", "not_admitted", "line_full", "unauthorized", "busy", "offline", "no_token", "rate_limited", "outcome_unknown", "bot_check_failed"]) used.add(`result.${k}`);
    for (const s of ["open", "paused", "sold_out", "closed", "cancelled"]) used.add(`status.${s}`);
    expect(used.size).toBeGreaterThan(100);
    expect([...used].filter((k) => !(k in en))).toEqual([]);
  });

  test("functions give text for the numbers they take (plurals in English)", () => {
    const f = (cat: Record<string, any>, key: string, ...args: unknown[]) => cat[key](...args);
    expect(f(en, "wait.chances", 1, 1)).toBe("1 coupon left · 1 person ahead of you");
    expect(f(en, "wait.chances", 1500, 2)).toBe("1,500 coupons left · 2 people ahead of you");
    expect(f(ko, "wait.chances", 1500, 2)).toBe("쿠폰 1,500장 남음 · 내 앞에 2명");
    expect(f(en, "event.stockLine", 1)).toBe("{remaining} of {stock} coupon left");
    // Korean particles after a name: 으로/로 by the last syllable's final consonant (ㄹ takes 로), digits as read, else both
    expect(["무신사", "올리브영", "서울", "presser-13", "shop-2", "알 수 없는 계정", "29CM"].map((n) => f(ko, "site.backToShop", n))).toEqual([
      "무신사로 돌아가기",
      "올리브영으로 돌아가기",
      "서울로 돌아가기",
      "presser-13으로 돌아가기",
      "shop-2로 돌아가기",
      "알 수 없는 계정으로 돌아가기",
      "29CM(으)로 돌아가기",
    ]);
  });
});

describe("Accept-Language", () => {
  test("the first of the pages' languages by q, then by order", () => {
    expect(negotiateLanguage("ko-KR")).toBe("ko");
    expect(negotiateLanguage("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7")).toBe("ko");
    expect(negotiateLanguage("en-US,en;q=0.9,ko;q=0.8")).toBe("en");
    expect(negotiateLanguage("fr-FR,fr;q=0.9,ko;q=0.5,en;q=0.4")).toBe("ko");
    expect(negotiateLanguage("en;q=0.2, ko;q=0.8")).toBe("ko");
    expect(negotiateLanguage("ko;q=0, en")).toBe("en");
    expect(negotiateLanguage("fr, de")).toBeNull();
    expect(negotiateLanguage("")).toBeNull();
    expect(negotiateLanguage(null)).toBeNull();
    expect(negotiateLanguage(";;;,,q=,ko;q=abc")).toBe("ko");
  });
});
