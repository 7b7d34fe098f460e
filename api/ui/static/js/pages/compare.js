// Comparison: all jobs of one dataset by method and label fraction with their test metrics;
// selected jobs side by side (curves, result panels, genotypes).

import { cursorAll, listAll } from "../api.js";
import { el, fmtNum, replace, statusEl, table } from "../dom.js";
import { curves, genotype, resultPanel, testMetrics } from "../panels.js";

const method = (j) => j.spec?.method || "ssl";
const fraction = (j) => j.spec?.run?.finetune?.label_fraction;
const COLS = [["weighted_f1@0.5", "weighted F1"], ["micro_f1@0.5", "micro F1"], ["macro_f1@0.5", "macro F1"],
  ["samples_f1@0.5", "samples F1"], ["accuracy", "accuracy"]];

export async function comparePage(root, _id, query) {
  const datasets = await listAll("/datasets");
  const pick = el("select", { id: "c-dataset" }, el("option", { value: "" }, "choose a dataset"),
    datasets.map((d) => el("option", { value: d.id }, `${d.name} (${d.id.slice(0, 8)})`)));
  pick.value = query.get("dataset") || "";
  const body = el("div", {}), side = el("div", { class: "compare", id: "compare-grid" });
  pick.addEventListener("change", () => { location.hash = `#/compare?dataset=${pick.value}`; });
  replace(root, el("h1", {}, "Compare jobs"), el("form", { class: "inline" }, "Dataset:", pick), body, side);
  if (!pick.value) { body.append(el("p", { class: "muted" }, "Pick a dataset to see all its jobs.")); return; }

  const jobs = (await listAll("/jobs")).filter((j) => j.dataset_id === pick.value)
    .sort((a, b) => method(a).localeCompare(method(b)) || (fraction(a) ?? 0) - (fraction(b) ?? 0));
  const rowsByJob = new Map(await Promise.all(jobs.map(async (j) =>
    [j.id, j.status === "succeeded" ? (await cursorAll(`/jobs/${j.id}/metrics`)).items : []])));
  const chosen = new Set((query.get("jobs") || "").split(",").filter(Boolean));
  const boxes = jobs.map((j) => el("input", { type: "checkbox", value: j.id, checked: chosen.has(j.id), class: "pick" }));
  const cols = COLS.filter(([k]) => jobs.some((j) => (testMetrics(j, rowsByJob.get(j.id)) || {})[k] !== undefined));
  const rows = jobs.map((j, i) => {
    const t = testMetrics(j, rowsByJob.get(j.id)) || {};
    return [boxes[i], el("a", { href: `#/jobs/${j.id}` }, j.id.slice(0, 8)), method(j), fmtNum(fraction(j) ?? ""),
      statusEl(j.status), ...cols.map(([k]) => fmtNum(t[k] ?? ""))];
  });
  const go = el("button", { type: "button", id: "compare-go", onclick: () => {
    const ids = boxes.filter((b) => b.checked).map((b) => b.value);
    location.hash = `#/compare?dataset=${pick.value}&jobs=${ids.join(",")}`;
  } }, "Compare selected");
  replace(body, jobs.length ? el("div", { class: "card" }, table(["", "job", "method", "label fraction", "status",
    ...cols.map(([, name]) => `test ${name}`)], rows, [3, ...cols.map((_, i) => i + 5)]), el("p", {}, go))
    : el("p", { class: "muted" }, "No jobs on this dataset yet."));

  for (const j of jobs.filter((x) => chosen.has(x.id))) {
    const rowsJ = rowsByJob.get(j.id).length ? rowsByJob.get(j.id) : (await cursorAll(`/jobs/${j.id}/metrics`)).items;
    side.append(el("div", { class: "card", "data-job": j.id },
      el("h2", {}, el("a", { href: `#/jobs/${j.id}` }, `${method(j)} · r=${fmtNum(fraction(j) ?? "?")} · ${j.id.slice(0, 8)}`)),
      statusEl(j.status), curves(rowsJ, { width: 360, height: 190 }),
      j.result ? resultPanel(j.result) : "", await genotype(j.id)));
  }
}
