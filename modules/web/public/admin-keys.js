// The admin page's "API keys" section: create a named key with scopes (the key is shown once, here,
// and never again), list the live keys with when they were last used, revoke one. It reads the
// admin token the page's sign-in keeps in this tab's sessionStorage; every text goes in as text.
import { announce } from "./common.js";
import { adminApi } from "./admin-api.js";
import { $, problem, when } from "./admin-view.js";

const SCOPES = ["events:read", "events:write", "coupons:read", "coupons:redeem", "coupons:void", "webhooks", "audit:read", "keys"];

const say = (r) => (r.status === 403 ? r.body?.message || "This key may not manage keys." : problem(r));

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function load() {
  const r = await adminApi("GET", "/admin/keys");
  const rows = $("#key-rows");
  if (r.status !== 200) {
    if (r.status !== -1) announce($("#keys-status"), say(r), "error");
    return;
  }
  rows.replaceChildren(
    ...r.body.keys.map((k) => {
      const tr = document.createElement("tr");
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "danger";
      revoke.textContent = `Revoke ${k.name}`;
      revoke.addEventListener("click", async () => {
        if (!confirm(`Revoke the key "${k.name}"? Every process refuses it within a second.`)) return;
        const d = await adminApi("DELETE", `/admin/keys/${k.id}`);
        announce($("#keys-status"), d.status === 204 ? `Key "${k.name}" revoked.` : say(d), d.status === 204 ? "success" : "error");
        load();
      });
      const actions = document.createElement("td");
      actions.append(revoke);
      tr.append(cell(k.name), cell(k.scopes.join(", ")), cell(when(k.createdAt)), cell(k.lastUsedAt ? when(k.lastUsedAt) : "never"), actions);
      return tr;
    }),
  );
  $("#keys-empty").hidden = r.body.keys.length > 0;
}

function setup() {
  const boxes = $("#key-scopes");
  for (const s of SCOPES) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "scope";
    box.value = s;
    label.append(box, ` ${s}`);
    boxes.append(label);
  }
  $("#key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("#key-name").value.trim();
    const scopes = [...boxes.querySelectorAll("input:checked")].map((b) => b.value);
    if (!scopes.length) return announce($("#keys-status"), "Choose at least one scope.", "error");
    const r = await adminApi("POST", "/admin/keys", { name, scopes });
    if (r.status !== 201) return announce($("#keys-status"), say(r), "error");
    $("#new-key").textContent = r.body.key;
    $("#new-key-box").hidden = false;
    announce($("#keys-status"), `Key "${r.body.name}" created. Copy it now: it is not shown again.`, "success");
    $("#key-form").reset();
    load();
  });
  $("#new-key-done").addEventListener("click", () => {
    $("#new-key").textContent = "";
    $("#new-key-box").hidden = true;
  });
  $("#keys-refresh").addEventListener("click", load);
  // the page's sign-in stores the token: list the keys once it is there
  $("#token-form").addEventListener("submit", () => setTimeout(load, 500));
  load();
}

setup();
