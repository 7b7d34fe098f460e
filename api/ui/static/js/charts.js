// Line charts as hand-written SVG: a few series of at most a few hundred points need no library.

const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function ticks(lo, hi, n = 4) {
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

const label = (v) => (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3));

// series: [{name, points: [[x, y], ...]}]; returns an <svg class="chart"> with one <path> per series
export function lineChart(title, series, { width = 420, height = 220 } = {}) {
  const m = { l: 46, r: 10, t: 22, b: 22 + 12 * Math.ceil(series.length / 3) };
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  const root = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                            "aria-label": title, "data-title": title });
  root.append(svg("text", { x: m.l, y: 14, "font-weight": "600" }, title));
  if (!pts.length) {
    root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data yet"));
    return root;
  }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const yt = ticks(y0, y1), xt = ticks(x0, x1, Math.min(4, Math.max(1, x1 - x0)));
  const W = width - m.l - m.r, H = height - m.t - m.b;
  const sx = (x) => m.l + (xt.at(-1) === xt[0] ? W / 2 : ((x - xt[0]) / (xt.at(-1) - xt[0])) * W);
  const sy = (y) => m.t + H - ((y - yt[0]) / (yt.at(-1) - yt[0])) * H;
  for (const t of yt) {
    root.append(svg("line", { x1: m.l, x2: m.l + W, y1: sy(t), y2: sy(t), stroke: "#eef0f3" }));
    root.append(svg("text", { x: m.l - 4, y: sy(t) + 3, "text-anchor": "end" }, label(t)));
  }
  for (const t of xt) root.append(svg("text", { x: sx(t), y: m.t + H + 13, "text-anchor": "middle" }, label(t)));
  root.append(svg("text", { x: m.l + W, y: m.t - 4, "text-anchor": "end" }, "x: epoch"));
  root.append(svg("rect", { x: m.l, y: m.t, width: W, height: H, fill: "none", stroke: "#d9dde5" }));
  series.forEach((s, i) => {
    const ok = s.points.filter((p) => Number.isFinite(p[1]));
    if (!ok.length) return;
    const color = COLORS[i % COLORS.length];
    const d = ok.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    root.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2, class: "series", "data-name": s.name }));
    for (const p of ok) root.append(svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, fill: color }));
    const lx = m.l + (i % 3) * Math.floor(W / 3), ly = m.t + H + 26 + Math.floor(i / 3) * 12;
    root.append(svg("rect", { x: lx, y: ly - 7, width: 8, height: 8, fill: color }));
    root.append(svg("text", { x: lx + 11, y: ly }, s.name.length > 22 ? `${s.name.slice(0, 21)}…` : s.name));
  });
  return root;
}

// metric rows (stage, epoch, metrics) -> per stage, a loss chart and a score chart
export function stageCharts(rows, opts) {
  const byStage = new Map();
  for (const r of rows) {
    if (r.stage === "evaluate") continue;
    if (!byStage.has(r.stage)) byStage.set(r.stage, new Map());
    const keys = byStage.get(r.stage);
    for (const [k, v] of Object.entries(r.metrics || {})) {
      if (typeof v !== "number" || k === "epoch" || k.endsWith("_time_s")) continue;
      if (!keys.has(k)) keys.set(k, []);
      keys.get(k).push([r.epoch, v]);
    }
  }
  const charts = [];
  for (const [stage, keys] of byStage) {
    const all = [...keys].map(([name, points]) => ({ name, points }));
    const losses = all.filter((s) => /loss/.test(s.name));
    const scores = all.filter((s) => /f1|acc|score/.test(s.name));
    const other = all.filter((s) => !losses.includes(s) && !scores.includes(s));
    if (losses.length) charts.push(lineChart(`${stage}: loss`, losses, opts));
    if (scores.length) charts.push(lineChart(`${stage}: F1`, scores, opts));
    if (other.length) charts.push(lineChart(`${stage}: other`, other, opts));
  }
  return charts;
}
