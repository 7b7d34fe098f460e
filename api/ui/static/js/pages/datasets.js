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

function labelCounts(summary) {
  const counts = summary.label_counts || summary.labels?.counts;
  if (!counts || typeof counts !== "object") return null;
  const entries = Array.isArray(counts) ? counts.map((c, i) => [summary.label_names?.[i] ?? i, c])
    : Object.entries(counts);
  const total = Math.max(...entries.map(([, c]) => (typeof c === "number" ? c : 0)), 1);
  return el("div", { class: "card" }, el("h2", {}, "Label counts"),
    entries.map(([name, c]) => el("div", { class: "genre" }, el("span", {}, name), bar(c / total), el("span", { class: "num" }, fmtNum(c)))));
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
