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
  const fromResult = res.test || res.test_metrics || (res.model && (res.model.test || res.model));
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

// the `result` object of GET /jobs/{id}: baselines, verdict, warnings, test metrics, any shape
export function resultPanel(result) {
  const box = el("div", { class: "result", "data-role": "result" });
  if (!result) return box;
  const warnings = [].concat(result.warnings || []);
  for (const w of warnings) box.append(el("p", { class: "warn" }, `⚠ ${w}`));
  const scalars = [];
  for (const [k, v] of Object.entries(result)) {
    if (k === "warnings") continue;
    if (isObj(v) && Object.values(v).length && Object.values(v).every(isObj)) {
      box.append(el("h3", {}, k), objectTable(v));
    } else if (isObj(v)) {
      box.append(el("h3", {}, k), kv(Object.entries(v).map(([a, b]) => [a, value(b)])));
    } else {
      scalars.push([k, value(v)]);
    }
  }
  if (scalars.length) box.prepend(kv(scalars));
  return box;
}
