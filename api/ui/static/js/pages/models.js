// Models: the list, and one model with its predict form and the weights download.

import { api, getJson } from "../api.js";
import { bar, el, fmtBytes, fmtNum, fmtTime, kv, replace, table } from "../dom.js";
import { genotype, TEST_KEYS } from "../panels.js";

const IMAGE = ["efficientnet_lite0", "vgg19"], AUDIO = ["audio_cnn"], TEXT = ["minilm"];

export async function modelsPage(root) {
  const { items } = await getJson("/models");
  const rows = items.map((m) => [el("a", { href: `#/models/${m.id}` }, m.id.slice(0, 8)),
    m.job_id ? el("a", { href: `#/jobs/${m.job_id}` }, m.job_id.slice(0, 8)) : "",
    m.label_names.length, fmtNum(m.metrics?.test?.["weighted_f1@0.5"] ?? m.metrics?.test?.weighted_f1 ?? ""),
    fmtBytes(m.weights_size), fmtTime(m.created_at)]);
  replace(root, el("h1", {}, "Models"), items.length
    ? table(["model", "job", "labels", "test weighted F1", "weights", "created"], rows, [2, 3])
    : el("p", { class: "muted" }, "No models yet."));
}

// raw input fields of the model: name -> "image" | "audio" | "text" | "vector"
function fieldKinds(model) {
  const out = {};
  for (const [field, b] of Object.entries(model.backbones || {})) {
    const name = typeof b === "string" ? b : b?.name;
    out[field] = IMAGE.includes(name) ? "image" : AUDIO.includes(name) ? "audio" : TEXT.includes(name) ? "text" : "vector";
  }
  return out;
}

function fileInput(field, kind) {
  const input = el("input", { type: "file", name: field, id: `in-${field}`, accept: kind === "image" ? "image/*" : "audio/*" });
  const preview = el("div", {});
  const drop = el("label", { class: "drop", for: `in-${field}` }, `Drop ${kind === "image" ? "an image" : "a WAV file"} here or click`, input, preview);
  const show = () => {
    const f = input.files[0];
    replace(preview, f ? (kind === "image" ? el("img", { src: URL.createObjectURL(f), alt: f.name }) : f.name) : "");
  };
  input.addEventListener("change", show);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    input.files = e.dataTransfer.files; show();
  });
  return drop;
}

function genreBars(result) {
  const p = result.predictions[0];
  const sorted = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]);
  return el("div", { id: "prediction" }, el("p", {}, "Predicted: ", el("strong", { id: "predicted" }, p.labels.join(", ") || "(none)"),
    el("span", { class: "muted" }, ` (threshold ${fmtNum(result.threshold)})`)),
    sorted.map(([name, prob]) => el("div", { class: p.labels.includes(name) ? "genre on" : "genre" },
      el("span", {}, name), bar(prob), el("span", { class: "num" }, prob.toFixed(3)))));
}

function predictForm(model) {
  const kinds = fieldKinds(model);
  const out = el("div", {});
  if (!Object.keys(kinds).length) {
    return el("p", { class: "muted" }, "This model was trained on precomputed features: send them to POST /models/{id}/predict as {\"features\": ...}.");
  }
  const inputs = Object.entries(kinds).map(([field, kind]) => el("div", { class: "grow" }, el("h3", {}, `${field} (${kind})`),
    kind === "image" || kind === "audio" ? fileInput(field, kind)
      : el("textarea", { name: field, id: `in-${field}`, placeholder: kind === "vector" ? "[0.1, 0.2, ...]" : `${field} text` })));
  const form = el("form", { id: "predict-form" }, el("div", { class: "row" }, inputs), el("button", { type: "submit" }, "Predict"), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const inputs = {};
    try {
      for (const [field, kind] of Object.entries(kinds)) {
        const node = form.querySelector(`[name="${field}"]`);
        if (kind === "image" || kind === "audio") {
          if (!node.files[0]) throw new Error(`choose a file for ${field}`);
          inputs[field] = { base64: await base64(node.files[0]) };
        } else inputs[field] = kind === "vector" ? JSON.parse(node.value) : node.value;
      }
      replace(out, el("p", { class: "muted" }, "Predicting..."));
      const r = await api(`/models/${model.id}/predict`, { method: "POST", json: { inputs } });
      replace(out, genreBars(await r.json()));
    } catch (e) { replace(out, el("p", { class: "error", id: "predict-error" }, e.message)); }
  });
  return form;
}

async function base64(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

async function sha256hex(buf) {
  if (!crypto.subtle) return null;  // only in secure contexts (https or localhost)
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", buf))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function downloadButton(model) {
  const note = el("span", { class: "muted", id: "download-note" });
  const btn = el("button", { type: "button", id: "download", onclick: async () => {
    btn.disabled = true; note.textContent = " downloading...";
    try {
      const blob = await (await api(`/models/${model.id}/weights`)).blob();
      const sha = await sha256hex(await blob.arrayBuffer());
      if (sha && sha !== model.weights_sha256) throw new Error(`sha256 mismatch: ${sha}`);
      const a = el("a", { href: URL.createObjectURL(blob), download: `model-${model.id}.safetensors` });
      document.body.append(a); a.click(); a.remove();
      note.textContent = sha ? " saved, sha256 checked" : " saved";
    } catch (e) { note.textContent = ` ${e.message}`; }
    btn.disabled = false;
  } }, `Download weights (${fmtBytes(model.weights_size)})`);
  return el("span", {}, btn, note);
}

export async function modelPage(root, id) {
  const m = await getJson(`/models/${encodeURIComponent(id)}`);
  const test = m.metrics?.test || {};
  const shown = TEST_KEYS.filter((k) => k in test).concat(Object.keys(test).filter((k) => !TEST_KEYS.includes(k) && typeof test[k] === "number")).slice(0, 12);
  replace(root, el("h1", {}, `Model ${m.id}`),
    el("div", { class: "row" },
      el("div", { class: "card grow" }, kv([["job", m.job_id ? el("a", { href: `#/jobs/${m.job_id}` }, m.job_id) : "—"],
        ["labels", `${m.label_names.length}: ${m.label_names.join(", ")}`], ["threshold", fmtNum(m.threshold)],
        ["sha256", m.weights_sha256], ["created", fmtTime(m.created_at)]]), el("p", {}, downloadButton(m))),
      el("div", { class: "card grow" }, el("h2", {}, "Test metrics"), shown.length
        ? table(["metric", "value"], shown.map((k) => [k, fmtNum(test[k])]), [1]) : el("p", { class: "muted" }, "none"))),
    el("div", { class: "card" }, el("h2", {}, "Try it"), predictForm(m)),
    el("h2", {}, "Genotype"), m.job_id ? await genotype(m.job_id) : el("p", { class: "muted" }, "—"));
}
