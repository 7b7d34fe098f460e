// Pieces shared by the job page and the comparison view: curves, genotype, result panel.

import { blobUrl } from "./api.js";
import { stageCharts } from "./charts.js";
import { el, fmtNum, kv, table } from "./dom.js";

export const TEST_KEYS = ["weighted_f1@0.5", "micro_f1@0.5", "macro_f1@0.5", "samples_f1@0.5", "weighted_f1", "accuracy"];

export function curves(rows, opts) {
  const charts = stageCharts(rows, opts);
  return el("div", { class: "charts" }, charts.length ? charts : el("p", { class: "muted" }, "No epochs finished yet."));
}

export async function genotype(jobId) {
  const box = el("div", { class: "genotype" });
  try {
    const url = await blobUrl(`/jobs/${encodeURIComponent(jobId)}/genotype.svg`);
    box.append(el("img", { src: url, alt: "genotype diagram", "data-role": "genotype" }));
    box.dataset.ok = "1";
  } catch (e) {
    box.append(el("p", { class: "muted" }, e.status === 409 ? "No genotype yet." : e.message));
  }
  return box;
}

// test metrics of a job: from its result panel, else its evaluate-stage metric row
export function testMetrics(job, rows) {
  const res = job.result || {};
  const fromResult = res.test_metrics || res.test;
  if (fromResult && typeof fromResult === "object") return fromResult;
  const ev = (rows || []).filter((r) => r.stage === "evaluate").at(-1);
  if (!ev) return null;
  return Object.fromEntries(Object.entries(ev.metrics).map(([k, v]) => [k.replace(/^test_/, ""), v]));
}

const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);

function value(v) {
  if (v === true) return el("span", { class: "pill good" }, "yes");
  if (v === false) return el("span", { class: "pill bad" }, "no");
  if (Array.isArray(v)) return v.every((x) => !isObj(x)) ? v.map(fmtNum).join(", ") : JSON.stringify(v);
  if (isObj(v)) return JSON.stringify(v);
  return fmtNum(v);
}

// an object of objects -> a table (rows = keys, columns = the union of inner keys)
function objectTable(obj) {
  const cols = [...new Set(Object.values(obj).flatMap((o) => Object.keys(o)))].filter(
    (c) => Object.values(obj).some((o) => !isObj(o[c])));
  return table(["", ...cols], Object.entries(obj).map(([k, o]) => [k, ...cols.map((c) => value(o[c]))]),
               cols.map((_, i) => i + 1));
}

const METRIC = /^(weighted_f1|micro_f1|macro_f1|samples_f1|accuracy)(@|$)/;

// the model's test metrics beside each baseline's (result.baselines: name -> {kind, threshold, test})
function panelTable(result) {
  const test = result.test_metrics || {};
  const keys = Object.keys(test).filter((k) => METRIC.test(k) && typeof test[k] === "number");
  const rows = [["this model", "", fmtNum(result.threshold ?? ""), ...keys.map((k) => fmtNum(test[k]))]];
  for (const [name, b] of Object.entries(result.baselines || {})) {
    rows.push([name, b.kind || "", fmtNum(b.threshold ?? ""), ...keys.map((k) => fmtNum(b.test?.[k] ?? ""))]);
  }
  return table(["", "kind", "threshold", ...keys], rows, keys.map((_, i) => i + 3));
}

function verdictTable(verdict) {
  return table(["metric", "model", "best baseline", "its value", "beats", "loses to"],
    Object.entries(verdict).map(([m, v]) => [v.key || m, fmtNum(v.model), v.best_baseline || "", fmtNum(v.best_value ?? ""),
      (v.beats || []).join(", "), el("span", { class: (v.loses_to || []).length ? "warn" : "" }, (v.loses_to || []).join(", ") || "none")]),
    [1, 3]);
}

// the `result` object of GET /jobs/{id}: warnings, verdict, test metrics beside the baseline
// panel, then any other field (shown generically, so fields added later still appear)
export function resultPanel(result) {
  const box = el("div", { class: "result card", "data-role": "result" });
  if (!result) return box;
  for (const w of [].concat(result.warnings || [])) box.append(el("p", { class: "warn" }, `⚠ ${w}`));
  if (isObj(result.verdict) && Object.keys(result.verdict).length) box.append(el("h3", {}, "Verdict"), verdictTable(result.verdict));
  if (isObj(result.test_metrics)) box.append(el("h3", {}, "Test metrics and baselines"), panelTable(result));
  const done = new Set(["warnings", "verdict", "test_metrics", "baselines"]);
  const scalars = [];
  for (const [k, v] of Object.entries(result)) {
    if (done.has(k) || v === null || (Array.isArray(v) && !v.length)) continue;
    if (isObj(v) && Object.values(v).length && Object.values(v).every(isObj)) box.append(el("h3", {}, k), objectTable(v));
    else if (isObj(v)) box.append(el("h3", {}, k), kv(Object.entries(v).map(([a, b]) => [a, value(b)])));
    else scalars.push([k, value(v)]);
  }
  if (scalars.length) box.append(kv(scalars));
  return box;
}
