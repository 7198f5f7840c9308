// How the admin page shows things: numbers, times, the event's status and why its line stalls, and
// the charts. Nothing here calls the server or keeps state.

export const WINDOW_MS = 5 * 60_000;
export const $ = (sel, root = document) => root.querySelector(sel);

export const problem = (r) => (r.status === -1 ? "Sign in with the admin token first." : r.status === 0 ? "Could not reach the server." : r.status === 401 ? "The admin token was rejected: sign in again." : r.body?.message || `Request failed (${r.status}).`);
export const num = (n) => Number(n).toLocaleString("en");
export const STATUS_TEXT = { open: "open", paused: "paused", scheduled: "scheduled", sold_out: "sold out", closed: "closed", cancelled: "cancelled" };
export const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "medium" }) : "—");

// datetime-local inputs hold the admin's local time; the API takes and gives ISO-8601 instants
export function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export const fromLocalInput = (v) => (v ? new Date(v).toISOString() : null);

// a control recorded in the database and not yet in force everywhere (a slow database; or its process
// died and another settles it within seconds): the status is what users are answered meanwhile
const CONTROL_TEXT = {
  cancel: "Cancelling: the cancel is being recorded; the event does not open meanwhile.",
  close: "Closing: the close is being recorded; until it is in force the event goes on as before.",
  pause: "Pausing: the pause is being recorded; until it is in force the event goes on as before.",
  resume: "Resuming: the resume is being recorded; until it is in force the event stays paused.",
};
export const CONTROL_WORD = { cancel: "cancelling", close: "closing", pause: "pausing", resume: "resuming" };

export function stallText(ev) {
  if (ev.unaccounted > 0) return unaccountedText(ev);
  if (ev.control) return CONTROL_TEXT[ev.control];
  if (ev.status === "closed" || ev.status === "cancelled") return `The event is ${STATUS_TEXT[ev.status]}: nobody more is admitted.`;
  if (ev.status === "sold_out") return "Sold out: nobody more is admitted.";
  switch (ev.stall) {
    case "paused":
      return `Paused: nobody new is admitted; ${num(ev.waiting)} waiting keep their places.`;
    case "scheduled":
      return `Not started: opens at ${when(ev.startsAt)}; ${num(ev.waiting)} waiting.`;
    case "capacity_full":
      return `Capacity full: ${num(ev.running)} of ${num(ev.runningCapacity)} slots held${ghosts(ev)}; ${num(ev.waiting)} waiting.`;
    case "admit_per_second":
      return `admitPerSecond reached: ${num(Math.max(ev.admittedThisSecond, ev.admittedLastSecond))} of ${num(ev.admitPerSecond)} admitted this second; ${num(ev.waiting)} waiting.`;
  }
  if (ev.paused) return "Paused: nobody new will be admitted once it starts.";
  if (ev.status === "scheduled") return `Not started: opens at ${when(ev.startsAt)}.`;
  return ev.waiting > 0 ? `Admitting from the line: ${num(ev.waiting)} waiting.` : "Nobody waiting.";
}

// units gone with no user for them anywhere: the event refuses every sale until the operator acts (docs/runbook.md)
const unaccountedText = (ev) =>
  `${num(ev.unaccounted)} ${ev.unaccounted === 1 ? "unit is" : "units are"} gone with no user for ${ev.unaccounted === 1 ? "it" : "them"} in Redis, MySQL or the streams: nothing is sold, so that none is sold twice. ` +
  `To sell ${ev.unaccounted === 1 ? "it" : "them"} again: POST /admin/events/${ev.id}/release-unaccounted; or close the event (runbook: CouponUnitsUnaccounted).`;

// slots held by users admitted from the line who never came back: named, so a full house of them is not taken for a crowd
const ghosts = (ev) =>
  ev.ghostSlots > 0 ? ` (${num(ev.ghostSlots)} ${ev.ghostSlots === 1 ? "is a ghost slot" : "are ghost slots"}: held by users who stopped polling, freed when ${ev.ghostSlots === 1 ? "it lapses" : "they lapse"})` : "";

const TURNED_AWAY = { sold_out: "sold out", line_full: "line full", not_open: "not open", rate_limited: "rate limited", bot_check_failed: "bot check failed" };

/** The funnel in words: where the ones who did not get a coupon went, and who was turned away at the door. */
export function funnelText(ev) {
  const f = ev.funnel;
  const rest = `Slots lapsed unused: ${num(f.slotsLapsed)} · dropped for not polling: ${num(f.droppedSilent)} · left: ${num(f.left)} · ghost slots now: ${num(ev.ghostSlots)}`;
  const away = Object.entries(TURNED_AWAY).map(([k, label]) => `${label} ${num(f.turnedAway[k])}`).join(" · ");
  return { rest, away: `Turned away: ${away}` };
}

/** The charts of the last few minutes, from the server's samples ({t: ms, issued: per second, waiting, admitted: per second}). */
export function drawCharts(samples) {
  const now = Date.now();
  // the time axis spans what has been seen, from one minute up to the whole window
  const span = Math.min(WINDOW_MS, Math.max(60_000, now - (samples[0]?.t ?? now)));
  for (const fig of document.querySelectorAll(".chart")) {
    const key = fig.dataset.series;
    const values = samples.map((s) => s[key]);
    const peak = Math.max(1, ...values);
    const points = samples.map((s) => `${(((s.t - (now - span)) / span) * 300).toFixed(1)},${(58 - (s[key] / peak) * 56).toFixed(1)}`).join(" ");
    $("polyline", fig).setAttribute("points", points);
    const last = values.length ? values[values.length - 1] : 0;
    const fmt = (v) => (key === "waiting" ? num(Math.round(v)) : (Math.round(v * 10) / 10).toLocaleString("en"));
    $(".chart-now", fig).textContent = values.length ? fmt(last) : "–";
    $(".chart-peak", fig).textContent = values.length ? `(peak ${fmt(Math.max(0, ...values))})` : "";
    $("svg", fig).setAttribute("aria-label", `${$("figcaption", fig).firstChild.textContent.trim()} over the last ${Math.round(span / 1000)} seconds: now ${fmt(last)}, peak ${fmt(Math.max(0, ...values))}`);
  }
}
