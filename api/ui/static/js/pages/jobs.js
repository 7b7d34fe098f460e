// Jobs: the filterable list, and one job followed live (ETag polls, metric and log cursors).

import { api, getJson, listAll, pollJob } from "../api.js";
import { append, bar, el, fmtDuration, fmtNum, fmtTime, kv, replace, statusEl, table } from "../dom.js";
import { curves, genotype, resultPanel } from "../panels.js";

const ACTIVE = ["queued", "running"];
const method = (j) => j.spec?.method || "ssl";
const fraction = (j) => j.spec?.run?.finetune?.label_fraction;

function latestLine(m) {
  if (!m) return "";
  const vals = Object.entries(m.metrics || {}).filter(([k, v]) => typeof v === "number" && k !== "epoch").slice(0, 4);
  return `${m.stage} epoch ${m.epoch}: ${vals.map(([k, v]) => `${k}=${fmtNum(v)}`).join("  ")}`;
}

export async function jobsPage(root, _id, query) {
  const status = el("select", { id: "f-status" }, ["", "queued", "running", "succeeded", "failed", "cancelled"]
    .map((s) => el("option", { value: s }, s || "any status")));
  const meth = el("select", { id: "f-method" }, el("option", { value: "" }, "any method"));
  const dataset = el("select", { id: "f-dataset" }, el("option", { value: "" }, "any dataset"));
  status.value = query.get("status") || "";
  const body = el("div", {});
  let timer = null, names = {};

  async function load() {
    const jobs = await listAll("/jobs", status.value ? `&status=${status.value}` : "");
    for (const m of new Set(jobs.map(method))) {
      if (![...meth.options].some((o) => o.value === m)) meth.append(el("option", { value: m }, m));
    }
    for (const d of new Set(jobs.map((j) => j.dataset_id).filter(Boolean))) {
      if (![...dataset.options].some((o) => o.value === d)) dataset.append(el("option", { value: d }, names[d] || d));
    }
    const shown = jobs.filter((j) => (!meth.value || method(j) === meth.value) && (!dataset.value || j.dataset_id === dataset.value));
    const rows = shown.map((j) => [el("a", { href: `#/jobs/${j.id}`, class: "job-link" }, j.id.slice(0, 8)),
      method(j), names[j.dataset_id] || j.dataset_id || "", fmtNum(fraction(j) ?? ""), statusEl(j.status), j.stage || "",
      el("span", {}, bar(j.progress), ` ${Math.round(100 * j.progress)}%`), fmtTime(j.created_at)]);
    replace(body, shown.length ? table(["job", "method", "dataset", "label fraction", "status", "stage", "progress", "submitted"], rows, [3])
      : el("p", { class: "muted" }, "No jobs match."));
    clearTimeout(timer);
    if (jobs.some((j) => ACTIVE.includes(j.status))) timer = setTimeout(load, 3000);
  }
  for (const s of [status, meth, dataset]) s.addEventListener("change", load);
  try { names = Object.fromEntries((await listAll("/datasets")).map((d) => [d.id, d.name])); } catch { names = {}; }
  replace(root, el("h1", {}, "Jobs"), el("form", { class: "inline" }, "Filter:", status, meth, dataset), body);
  await load();
  return () => clearTimeout(timer);
}

function header(job, actions) {
  const eta = ACTIVE.includes(job.status) ? ` · ETA ${fmtDuration(job.eta_s)}` : "";
  return el("div", { class: "card", id: "job-header" },
    el("div", { class: "row" }, el("div", { class: "grow" },
      el("div", {}, statusEl(job.status), ` · stage ${job.stage || "-"} · ${(100 * job.progress).toFixed(1)}%${eta}`),
      bar(job.progress, true),
      el("p", { class: "muted", id: "latest" }, latestLine(job.latest_metrics))), actions),
    kv([["method", method(job)], ["dataset", el("a", { href: `#/datasets/${job.dataset_id}` }, job.dataset_id || "")],
        ["label fraction", fmtNum(fraction(job) ?? "")], ["attempt", `${job.attempt} / ${job.max_attempts}`],
        ["submitted", fmtTime(job.created_at)], ["finished", fmtTime(job.finished_at)],
        ["model", job.model_id ? el("a", { href: `#/models/${job.model_id}`, id: "model-link" }, job.model_id) : "—"],
        ...(job.error ? [["error", el("span", { class: "error" }, job.error)]] : [])]));
}

function actionButtons(job, refresh) {
  const act = (path, label, cls) => el("button", { class: cls, id: `btn-${label.toLowerCase()}`, onclick: async (ev) => {
    ev.target.disabled = true;
    try { await api(`/jobs/${job.id}/${path}`, { method: "POST" }); } catch (e) { alert(e.message); }
    refresh();
  } }, label);
  const box = el("div", {});
  if (ACTIVE.includes(job.status) && !job.cancel_requested) box.append(act("cancel", "Cancel", "secondary"));
  if (["failed", "cancelled"].includes(job.status)) box.append(act("retry", "Retry", ""));
  return box;
}

export async function jobPage(root, id) {
  const base = `/jobs/${encodeURIComponent(id)}`;
  const head = el("div", {}), charts = el("div", {}), geno = el("div", {}), result = el("div", {});
  const logs = el("pre", { class: "logs", id: "logs" });
  replace(root, el("h1", {}, `Job ${id}`), head, el("h2", {}, "Result"), result,
    el("h2", {}, "Curves"), charts, el("h2", {}, "Genotype"), geno, el("h2", {}, "Logs"), logs);
  let etag = null, job = null, rows = [], after = 0, logAfter = 0, timer = null, stopped = false, drawn = false;

  async function tick() {
    const polled = await pollJob(id, etag);
    etag = polled.etag;
    const changed = Boolean(polled.job);
    if (changed) job = polled.job;
    if (changed) {
      const page = await getJson(`${base}/metrics?after=${after}&limit=1000`);
      if (page.items.length) { rows = rows.concat(page.items); after = page.next_after; }
      replace(head, header(job, actionButtons(job, () => { clearTimeout(timer); tick().catch(showError); })));
      replace(charts, curves(rows));
      replace(result, job.result ? resultPanel(job.result) : el("p", { class: "muted" }, ACTIVE.includes(job.status) ? "No result yet." : "No result panel for this job."));
      if (!drawn && (job.status === "succeeded" || rows.some((r) => !["search", "features"].includes(r.stage)))) {
        const box = await genotype(id);  // 409 until the job stores one: tried again on the next change
        drawn = box.dataset.ok === "1";
        replace(geno, box);
      } else if (!drawn) replace(geno, el("p", { class: "muted" }, "The genotype appears when the search ends."));
    }
    const lp = await getJson(`${base}/logs?after=${logAfter}&limit=1000`);
    if (lp.items.length) {
      logAfter = lp.next_after;
      append(logs, lp.items.map((l) => `${fmtTime(l.created_at)}  ${l.level.padEnd(7)} ${l.message}\n`));
      logs.scrollTop = logs.scrollHeight;
    }
    document.body.dataset.jobStatus = job.status;
    if (!stopped && ACTIVE.includes(job.status)) timer = setTimeout(() => tick().catch(showError), 1000);
  }
  const showError = (e) => { if (!stopped) replace(head, el("p", { class: "error", id: "page-error" }, e.message)); };
  await tick();
  return () => { stopped = true; clearTimeout(timer); };
}
