// Hash router and sign-in. Pages return an optional cleanup (stop polling) run on navigation.

import { api, auth } from "./api.js";
import { el, replace } from "./dom.js";
import { comparePage } from "./pages/compare.js";
import { datasetPage, datasetsPage } from "./pages/datasets.js";
import { jobPage, jobsPage } from "./pages/jobs.js";
import { modelPage, modelsPage } from "./pages/models.js";

const ROUTES = [
  [/^#\/jobs\/([^/?]+)$/, jobPage, "jobs"], [/^#\/jobs(\?.*)?$/, jobsPage, "jobs"],
  [/^#\/datasets\/([^/?]+)$/, datasetPage, "datasets"], [/^#\/datasets$/, datasetsPage, "datasets"],
  [/^#\/models\/([^/?]+)$/, modelPage, "models"], [/^#\/models$/, modelsPage, "models"],
  [/^#\/compare(\?.*)?$/, comparePage, "compare"],
];

const main = document.getElementById("main");
let cleanup = null;

function signinPage(root) {
  const input = el("input", { type: "password", id: "key", placeholder: "ssnas_...", autocomplete: "off" });
  const msg = el("p", { class: "error", id: "signin-error" });
  const form = el("form", { class: "card signin", id: "signin" }, el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, "Paste your API key (`python -m api keys create --owner NAME`, or ",
       "<data dir>/api_key of ssnas serve). It stays in this tab's session storage."),
    input, el("button", { type: "submit" }, "Sign in"), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    try {
      await api("/jobs?limit=1", { key });
      auth.set(key);
      location.hash = "#/jobs";
    } catch (e) {
      msg.textContent = e.status === 401 ? "This key is not valid." : e.message;
    }
  });
  replace(root, form);
  input.focus();
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const hash = location.hash || "#/jobs";
  const signedIn = Boolean(auth.key);
  document.getElementById("signout").hidden = !signedIn;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").textContent = signedIn ? `key ${auth.key.split("_")[1] || ""}…` : "";
  if (!signedIn || hash === "#/signin") { signinPage(main); return; }
  for (const [re, page, nav] of ROUTES) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === nav);
    replace(main, el("p", { class: "muted" }, "Loading..."));
    try {
      const q = new URLSearchParams((hash.split("?")[1]) || "");
      cleanup = (await page(main, decodeURIComponent(m[1] || ""), q)) || null;
    } catch (e) {
      replace(main, el("h1", {}, "Error"), el("p", { class: "error", id: "page-error" }, e.message));
    }
    return;
  }
  location.hash = "#/jobs";
}

document.getElementById("signout").addEventListener("click", () => { auth.clear(); location.hash = "#/signin"; route(); });
window.addEventListener("hashchange", route);
route();
