// The pages' language: one catalogue per language (lang-en.js, lang-ko.js), every visible string from
// it, and Intl for numbers, dates and durations. Which language: ?lang=en|ko (kept for the tab), else
// the one the server picked from Accept-Language (<html data-accept-language>), else the browser's
// languages, else English.
import { num, setLocale } from "./format.js";
import en from "./lang-en.js";
import ko from "./lang-ko.js";

export { num };

const CATALOGUES = { en, ko };
export const LANGUAGES = Object.keys(CATALOGUES);
const LANG_KEY = "coupon.lang";
const known = (l) => typeof l === "string" && Object.hasOwn(CATALOGUES, l);
const base = (tag) => String(tag).toLowerCase().split("-")[0];

function pick() {
  const asked = new URL(location.href).searchParams.get("lang");
  if (known(asked)) {
    sessionStorage.setItem(LANG_KEY, asked);
    return asked;
  }
  const kept = sessionStorage.getItem(LANG_KEY);
  if (known(kept)) return kept;
  const negotiated = document.documentElement.dataset.acceptLanguage;
  if (known(negotiated)) return negotiated;
  for (const tag of navigator.languages ?? [navigator.language]) if (known(base(tag))) return base(tag);
  return "en";
}

export const lang = pick();
/** The locale for Intl: the browser's own when it speaks this language (en-GB keeps its 24-hour clock), else the language's usual one. */
export const locale = (navigator.languages ?? []).find((tag) => base(tag) === lang) ?? (lang === "ko" ? "ko-KR" : "en-US");
const catalogue = CATALOGUES[lang];
setLocale(locale);

/** The text of `key` in the page's language (English where the catalogue lacks it); functions take `args`. */
export function t(key, ...args) {
  const v = Object.hasOwn(catalogue, key) ? catalogue[key] : en[key];
  if (v === undefined) {
    console.error(`missing text: ${key}`);
    return key;
  }
  return typeof v === "function" ? v(...args) : v;
}

/**
 * Writes a template with {placeholders} into `el`, each placeholder replaced by the given node (or
 * text): word order is the language's, the elements (a <strong> number, say) stay elements.
 */
export function fill(el, template, parts) {
  el.replaceChildren(...template.split(/\{(\w+)\}/).map((piece, i) => (i % 2 ? (parts[piece] ?? "") : piece)).filter((p) => p !== ""));
}


/** A duration in words, for the language: "2 minutes", "2분", "90 seconds". */
export function formatDuration(seconds) {
  const unit = (n, u) => new Intl.NumberFormat(locale, { style: "unit", unit: u, unitDisplay: "long" }).format(n);
  if (seconds >= 3600 && seconds % 3600 === 0) return unit(seconds / 3600, "hour");
  if (seconds >= 60 && seconds % 60 === 0) return unit(seconds / 60, "minute");
  return unit(Math.round(seconds), "second");
}

/** A countdown: "1:02:03", "4:05", "0:09" (the same in both languages). */
export function formatCountdown(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  return hms[0] ? `${hms[0]}:${String(hms[1]).padStart(2, "0")}:${String(hms[2]).padStart(2, "0")}` : `${hms[1]}:${String(hms[2]).padStart(2, "0")}`;
}

export const timeOf = (d) => d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
export const dateOf = (d) => d.toLocaleDateString(locale, { dateStyle: "medium" });
export const dateTimeOf = (d) => d.toLocaleString(locale, { dateStyle: "long", timeStyle: "short" });

/** The browser's time zone and its offset at that instant: "Europe/Berlin, UTC+1". */
export function zoneOf(iso) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const minutes = -new Date(iso).getTimezoneOffset();
  const h = Math.trunc(Math.abs(minutes) / 60);
  const m = Math.abs(minutes) % 60;
  const offset = minutes === 0 ? "UTC" : `UTC${minutes < 0 ? "−" : "+"}${h}${m ? `:${String(m).padStart(2, "0")}` : ""}`;
  return zone === "UTC" ? "UTC" : `${zone}, ${offset}`;
}

/** Fills every element marked data-i18n (its text) or data-i18n-label (its aria-label), and the language switch. */
export function translatePage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  const nav = document.getElementById("langs");
  if (!nav) return;
  nav.setAttribute("aria-label", t("lang.switch"));
  nav.replaceChildren(
    ...LANGUAGES.map((l) => {
      const a = document.createElement("a");
      const url = new URL(location.href);
      url.searchParams.set("lang", l);
      url.searchParams.delete("token");
      a.href = url.pathname + url.search;
      a.lang = l;
      a.hreflang = l;
      a.textContent = CATALOGUES[l]["lang.name"];
      if (l === lang) a.setAttribute("aria-current", "true");
      return a;
    }),
  );
}

translatePage();
