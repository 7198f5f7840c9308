// The admin page's audit trail of the event being managed (#event-<id> in the address): who did which
// admin write when, with the fields before and after, newest first (GET /admin/audit?eventId=).
import { adminApi, storedToken } from "./admin-api.js";
import { $, when } from "./admin-view.js";

const REFRESH_MS = 5000;

const eventInHash = () => {
  const m = /^#event-([1-9][0-9]{0,9})$/.exec(location.hash);
  return m ? Number(m[1]) : null;
};

const show = (v) => (v === null || v === undefined ? "—" : JSON.stringify(v));

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

let shownFor = null;

async function load() {
  const id = eventInHash();
  $("#audit").hidden = id === null || !storedToken();
  if ($("#audit").hidden) return;
  const r = await adminApi("GET", `/admin/audit?eventId=${id}&limit=50`);
  if (eventInHash() !== id) return;
  if (r.status !== 200) {
    $("#audit-status").textContent = r.status === 403 ? "This key may not read the audit trail (audit:read)." : "Could not load the audit trail.";
    return;
  }
  $("#audit-status").textContent = "";
  shownFor = id;
  $("#audit-rows").replaceChildren(
    ...r.body.entries.map((e) => {
      const tr = document.createElement("tr");
      tr.append(cell(when(e.at)), cell(e.actor), cell(e.action), cell(show(e.before)), cell(show(e.after)));
      return tr;
    }),
  );
  $("#audit-empty").hidden = r.body.entries.length > 0;
}

window.addEventListener("hashchange", () => {
  if (eventInHash() !== shownFor) $("#audit-rows").replaceChildren();
  load();
});
setInterval(load, REFRESH_MS);
load();
