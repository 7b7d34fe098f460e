// Datasets: the list and one dataset's summary (splits, modalities, label counts).

import { getJson, listAll } from "../api.js";
import { append, bar, el, fmtBytes, fmtNum, fmtTime, kv, replace, table } from "../dom.js";

export async function datasetsPage(root) {
  const items = await listAll("/datasets");
  const rows = items.map((d) => [el("a", { href: `#/datasets/${d.id}` }, d.name), d.format,
    fmtNum(d.summary?.num_samples ?? ""), fmtBytes(d.size), fmtTime(d.created_at),
    el("a", { href: `#/compare?dataset=${d.id}` }, "compare jobs")]);
  replace(root, el("h1", {}, "Datasets"),
    items.length ? table(["name", "format", "samples", "size", "uploaded", ""], rows, [2, 3])
      : el("p", { class: "muted" }, "No datasets yet: `ssnas datasets upload FILE`."));
}

// summary.label_counts: split -> label -> samples (or label -> samples): a table with a bar of the total
function labelCounts(summary) {
  const counts = summary.label_counts;
  if (!counts || typeof counts !== "object") return null;
  const perSplit = Object.values(counts).every((v) => v && typeof v === "object");
  const splits = perSplit ? Object.keys(counts) : ["all"];
  const bySplit = perSplit ? counts : { all: counts };
  const labels = [...new Set(splits.flatMap((sp) => Object.keys(bySplit[sp])))];
  const total = (l) => splits.reduce((a, sp) => a + (bySplit[sp][l] || 0), 0);
  const most = Math.max(1, ...labels.map(total));
  const rows = labels.map((l) => [l, ...splits.map((sp) => fmtNum(bySplit[sp][l] ?? 0)), fmtNum(total(l)), bar(total(l) / most)]);
  return el("div", { class: "card", id: "label-counts" }, el("h2", {}, "Label counts"),
    table(["label", ...splits, "total", ""], rows, splits.map((_, i) => i + 1).concat([splits.length + 1])));
}

export async function datasetPage(root, id) {
  const d = await getJson(`/datasets/${encodeURIComponent(id)}`);
  const s = d.summary || {};
  const simple = Object.entries(s).filter(([k, v]) => k !== "label_counts" && (typeof v !== "object" || v === null));
  const nested = Object.entries(s).filter(([k, v]) => k !== "label_counts" && v && typeof v === "object");
  replace(root, el("h1", {}, `Dataset ${d.name}`),
    el("div", { class: "card" }, kv([["id", d.id], ["format", d.format], ["size", fmtBytes(d.size)],
      ["sha256", d.sha256], ["uploaded", fmtTime(d.created_at)], ...simple.map(([k, v]) => [k, fmtNum(v)])])),
    el("p", {}, el("a", { href: `#/compare?dataset=${d.id}` }, "Compare the jobs of this dataset")));
  for (const [k, v] of nested) {
    const body = Array.isArray(v) ? v.map((x) => (typeof x === "object" ? JSON.stringify(x) : x)).join(", ")
      : kv(Object.entries(v).map(([a, b]) => [a, typeof b === "object" ? JSON.stringify(b) : fmtNum(b)]));
    append(root, [el("div", { class: "card", "data-key": k }, el("h2", {}, k), body)]);
  }
  const lc = labelCounts(s);
  if (lc) root.append(lc);
}
