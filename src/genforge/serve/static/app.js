// genforge web UI: plain JS over the /v1 API. Images and files are fetched with the API key
// (Authorization header) and shown through blob URLs, so nothing secret goes into URLs.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { info: null, runs: [], datasets: [], models: [], watch: null, watchAbort: null };

// -- API ------------------------------------------------------------------------------------
function headers(extra = {}) {
  const key = localStorage.getItem("genforge-key");
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function api(path, { method = "GET", body, form } = {}) {
  const opts = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (body) opts.body = JSON.stringify(body);
  if (form) opts.body = form;
  const res = await fetch(`/v1${path}`, opts);
  if (res.status === 401) { $("#keyform").hidden = false; throw new Error("this server needs an API key"); }
  if (!res.ok) {
    let detail = res.statusText;
    try { const j = await res.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch (_) {}
    throw new Error(`${res.status}: ${detail}`);
  }
  return res.status === 204 ? null : res.json();
}

const blobCache = new Map();
async function blobUrl(url, fresh = false) {
  if (!fresh && blobCache.has(url)) return blobCache.get(url);
  const res = await fetch(url, { headers: headers() });
  if (!res.ok) throw new Error(`${res.status} for ${url}`);
  const obj = URL.createObjectURL(await res.blob());
  if (!fresh) blobCache.set(url, obj);
  return obj;
}

async function showImage(img, url, fresh = false) {
  try { img.src = await blobUrl(url, fresh); img.hidden = false; } catch (e) { img.hidden = true; }
}

function say(msg, error = false) {
  const s = $("#status");
  s.textContent = msg;
  s.className = error ? "error" : "";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") e.addEventListener("click", v);
    else if (k === "class") e.className = v;
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const guard = (fn) => async (...args) => {
  try { await fn(...args); } catch (e) { say(e.message, true); }
};

// -- tabs -----------------------------------------------------------------------------------
function showTab(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.id === name));
  location.hash = name;
  ({ datasets: loadDatasets, train: loadRuns, generate: loadGenerate, gallery: loadGallery,
     compare: loadCompare, reports: loadReports })[name]?.();
}

// -- datasets -------------------------------------------------------------------------------
const loadDatasets = guard(async () => {
  state.datasets = await api("/datasets");
  const ul = $("#dataset-list");
  ul.replaceChildren(...state.datasets.map((d) =>
    el("li", { onclick: () => showDataset(d.name), "data-name": d.name },
      el("span", {}, d.name), el("small", {}, d.kind))));
});

const showDataset = guard(async (name) => {
  document.querySelectorAll("#dataset-list li").forEach((li) => li.classList.toggle("selected", li.dataset.name === name));
  $("#dataset-title").textContent = name;
  say(`reading ${name}...`);
  showImage($("#dataset-thumbs"), `/v1/datasets/${name}/thumbnails.png?n=64`);
  const d = await api(`/datasets/${name}`);
  const r = d.report || {};
  const rows = [
    ["kind", d.kind], ["source", r.source], ["files looked at", r.num_files], ["images kept", r.num_images],
    ["classes", Object.keys(r.class_counts || {}).length || "none (unlabeled)"],
    ["sizes", Object.entries(r.original_sizes || {}).map(([k, v]) => `${k}: ${v}`).join(", ")],
    ["skipped", (r.skipped || []).length], ["duplicates", (r.duplicates || []).length],
  ];
  const counts = Object.entries(r.class_counts || {});
  $("#dataset-report").replaceChildren(
    table(["", ""], rows),
    ...(counts.length ? [el("h2", {}, "Class balance"), table(["class", "images"], counts)] : []),
    ...((r.skipped || []).length ? [el("h2", {}, "Skipped files"), table(["file", "why"], r.skipped.slice(0, 50).map((s) => [s.path, s.reason]))] : []),
  );
  say("");
});

function table(head, rows) {
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c ?? "")))))));
}

// -- runs and training ----------------------------------------------------------------------
async function refreshRuns() {
  state.runs = await api("/runs");
  return state.runs;
}

const loadRuns = guard(async () => {
  if (!state.models.length) state.models = await api("/models");
  if (!state.datasets.length) state.datasets = await api("/datasets");
  fillSelect($("#train-model"), state.models.map((m) => [m.name, `${m.name} (${m.modality})`]), "dcgan");
  fillSelect($("#train-data"), state.datasets.map((d) => [d.name, d.name]), "digits");
  await refreshRuns();
  renderRunList();
});

function fillSelect(select, options, preferred) {
  const keep = select.value;
  select.replaceChildren(...options.map(([v, label]) => el("option", { value: v }, label)));
  select.value = options.some(([v]) => v === keep) ? keep : (options.some(([v]) => v === preferred) ? preferred : options[0]?.[0] ?? "");
}

function renderRunList() {
  $("#run-list").replaceChildren(...state.runs.map((r) =>
    el("li", { onclick: () => watchRun(r.name), "data-name": r.name, class: r.name === state.watch ? "selected" : "" },
      el("span", {}, r.name, el("br"), el("small", {}, `${r.model} · step ${r.step}/${r.steps ?? "?"}`)),
      el("span", { class: `badge ${r.state}` }, r.state))));
}

const startTraining = guard(async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = {
    model: f.get("model"), data: f.get("data"), steps: Number(f.get("steps")),
    options: { image_size: Number(f.get("image_size")), batch_size: Number(f.get("batch_size")), seed: Number(f.get("seed")) },
  };
  if (f.get("name")) body.name = f.get("name");
  const run = await api("/runs", { method: "POST", body });
  say(`started ${run.name}`);
  await refreshRuns();
  watchRun(run.name);
});

function drawCurves(canvas, series) {
  // series: [{label, color, points: [[step, value], ...]}]
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 36;
  ctx.clearRect(0, 0, W, H);
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) { ctx.fillStyle = "#888"; ctx.fillText("no metrics yet", pad, H / 2); return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]).filter(Number.isFinite);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-6);
  const X = (x) => pad + (x - x0) / (x1 - x0) * (W - pad - 10), Y = (y) => H - pad + 10 - (y - y0) / (y1 - y0) * (H - pad - 10);
  ctx.strokeStyle = "#ccc"; ctx.beginPath(); ctx.moveTo(pad, 10); ctx.lineTo(pad, H - pad + 10); ctx.lineTo(W - 10, H - pad + 10); ctx.stroke();
  ctx.fillStyle = "#555"; ctx.font = "11px sans-serif";
  ctx.fillText(y1.toPrecision(3), 2, 14); ctx.fillText(y0.toPrecision(3), 2, H - pad + 10);
  ctx.fillText(String(x0), pad, H - 8); ctx.fillText(`step ${x1}`, W - 70, H - 8);
  series.forEach((s, i) => {
    ctx.strokeStyle = s.color; ctx.lineWidth = 1.5; ctx.beginPath();
    s.points.forEach(([x, y], j) => (j ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.stroke();
    if (s.points.length < 40) s.points.forEach(([x, y]) => ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4));
    ctx.fillStyle = s.color; ctx.fillText(s.label, pad + 8 + i * 110, 22);
  });
}

const COLORS = ["#2f6fde", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c"];

function lossSeries(metrics) {
  const keys = [...new Set(metrics.flatMap((m) => Object.keys(m).filter((k) => k.startsWith("loss"))))];
  return keys.map((k, i) => ({ label: k, color: COLORS[i % COLORS.length],
    points: metrics.filter((m) => Number.isFinite(m[k])).map((m) => [m.step, m[k]]) }));
}

async function watchRun(name) {
  state.watch = name;
  if (state.watchAbort) state.watchAbort.abort();
  renderRunList();
  $("#watch-title").textContent = name;
  $("#watch-actions").hidden = false;
  let metrics = await api(`/runs/${name}/metrics`).catch(() => []);
  const update = async (info) => {
    $("#watch-state").replaceChildren(el("span", { class: `badge ${info.state}`, id: "watch-badge" }, info.state),
      ` step ${info.step} / ${info.steps ?? "?"}`, info.error ? el("div", { class: "error" }, info.error) : "");
    const p = $("#watch-progress"); p.hidden = false; p.max = info.steps || 1; p.value = info.step;
    drawCurves($("#loss-canvas"), lossSeries(metrics));
    showImage($("#watch-samples"), `/v1/runs/${name}/files/samples/latest.png`, true);
    $("#samples-caption").textContent = `latest samples (step ${info.step})`;
  };
  let info = await api(`/runs/${name}`);
  await update(info);
  // Server-sent events, read through fetch so the API key can go in a header.
  const ctrl = new AbortController();
  state.watchAbort = ctrl;
  try {
    const res = await fetch(`/v1/runs/${name}/events`, { headers: headers(), signal: ctrl.signal });
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    metrics = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(chunk)?.[1];
        const data = /^data: (.*)$/m.exec(chunk)?.[1];
        if (!data) continue;
        const d = JSON.parse(data);
        if (ev === "progress") {
          metrics.push(...d.metrics);
          info = { ...info, ...d };
          await update(info);
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") say(e.message, true);
  }
  if (state.watch === name) {
    await refreshRuns(); renderRunList();
    const now = state.runs.find((r) => r.name === name);
    if (now) await update(now);
  }
}

const runAction = (what) => guard(async () => {
  const name = state.watch;
  if (!name) return;
  if (what === "delete") {
    if (!confirm(`Delete run ${name} and its files?`)) return;
    await api(`/runs/${name}`, { method: "DELETE" });
    state.watch = null; $("#watch-title").textContent = "Pick a run to watch"; $("#watch-actions").hidden = true;
  } else if (what === "resume") {
    const more = Number(prompt("Train how many more steps?", "500"));
    const run = state.runs.find((r) => r.name === name);
    await api(`/runs/${name}/resume`, { method: "POST", body: { steps: (run?.step || 0) + more } });
    watchRun(name);
  } else {
    await api(`/runs/${name}/cancel`, { method: "POST" });
  }
  say(`${what}: ${name}`);
  await refreshRuns(); renderRunList();
});

// -- generation -----------------------------------------------------------------------------
const CONTROL_INPUTS = {
  n: () => el("label", {}, "How many (n)", el("input", { name: "n", type: "number", min: 1, max: state.info.limits.max_n, value: 4 })),
  seed: () => el("label", {}, "Seed", el("input", { name: "seed", type: "number", min: 0, value: 0 })),
  truncation: () => el("label", {}, "Truncation (empty = none)", el("input", { name: "truncation", type: "number", step: "0.1", min: "0.1" })),
  label: (run) => el("label", {}, "Label", el("select", { name: "label" }, el("option", { value: "" }, "(cycle classes)"),
    ...run.class_names.map((c) => el("option", { value: c }, c)))),
  prompt: () => el("label", {}, "Prompt", el("input", { name: "prompt", maxlength: state.info.limits.max_prompt_chars })),
  steps: () => el("label", {}, "Sampling steps", el("input", { name: "steps", type: "number", min: 1 })),
};

const loadGenerate = guard(async () => {
  await refreshRuns();
  const ready = state.runs.filter((r) => r.step > 0);
  fillSelect($("#gen-run"), ready.map((r) => [r.name, `${r.name} (${r.modality}, step ${r.step})`]));
  renderControls();
});

function renderControls(preset = {}) {
  const run = state.runs.find((r) => r.name === $("#gen-run").value);
  if (!run) { $("#gen-controls").replaceChildren(el("p", {}, "No trained runs yet.")); return; }
  const controls = state.info.modalities[run.modality] || ["n", "seed"];
  const nodes = controls.filter((c) => c !== "label" || run.conditional).map((c) => CONTROL_INPUTS[c]?.(run)).filter(Boolean);
  $("#gen-controls").replaceChildren(...nodes);
  for (const [k, v] of Object.entries(preset)) {
    const input = $(`#gen-controls [name=${k}]`);
    if (input && v !== null && v !== undefined) input.value = v;
  }
}

const generate = guard(async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { run: f.get("run") };
  for (const [k, v] of f.entries()) {
    if (k === "run" || v === "") continue;
    body[k] = ["n", "seed", "steps"].includes(k) ? Number(v) : k === "truncation" ? Number(v) : v;
  }
  $("#gen-go").disabled = true;
  say("generating...");
  try {
    const res = await api("/generate", { method: "POST", body });
    $("#gen-results").replaceChildren(...res.outputs.map(outputCard));
    say(`${res.outputs.length} output(s) from ${res.run} at step ${res.step}`);
  } finally { $("#gen-go").disabled = false; }
});

function outputCard(o) {
  const img = el("img", { alt: o.id, "data-id": o.id });
  showImage(img, o.url);
  const p = o.params;
  return el("div", { class: "card", "data-id": o.id }, img,
    el("code", {}, o.id), el("span", {}, `${p.run} · seed ${p.seed} #${p.index}`),
    el("span", {}, `label ${p.label ?? "-"} · trunc ${p.truncation ?? "-"}${o.watermarked ? " · watermarked" : ""}`),
    el("button", { class: "secondary", onclick: () => rerun(p) }, "Re-run"));
}

async function rerun(p) {
  showTab("generate");
  await loadGenerate();
  $("#gen-run").value = p.run;
  renderControls({ n: p.n, seed: p.seed, label: p.label, truncation: p.truncation, prompt: p.prompt });
}

// -- gallery --------------------------------------------------------------------------------
const loadGallery = guard(async (ev) => {
  ev?.preventDefault?.();
  if (!state.runs.length) await refreshRuns();
  const sel = $("#gallery-run");
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "all runs"), ...state.runs.map((r) => el("option", { value: r.name }, r.name)));
  sel.value = keep;
  const q = new URLSearchParams({ limit: 100 });
  if ($("#gallery-q").value) q.set("q", $("#gallery-q").value);
  if (sel.value) q.set("run", sel.value);
  const res = await api(`/outputs?${q}`);
  $("#gallery-count").textContent = `${res.total} output(s)`;
  $("#gallery-items").replaceChildren(...res.items.map((r) => {
    const card = outputCard(r);
    card.append(el("small", {}, `${r.created.replace("T", " ").slice(0, 19)} by ${r.who}`));
    return card;
  }));
});

// -- compare --------------------------------------------------------------------------------
const loadCompare = guard(async () => {
  await refreshRuns();
  const picked = new Set([...document.querySelectorAll("#compare-pick input:checked")].map((i) => i.value));
  $("#compare-pick").replaceChildren(...state.runs.map((r) => el("label", {},
    el("input", { type: "checkbox", value: r.name, ...(picked.has(r.name) ? { checked: "" } : {}) }), ` ${r.name}`)));
  document.querySelectorAll("#compare-pick input").forEach((i) => i.addEventListener("change", renderCompare));
  renderCompare();
});

const renderCompare = guard(async () => {
  const names = [...document.querySelectorAll("#compare-pick input:checked")].map((i) => i.value);
  const series = [], rows = [];
  for (const [i, name] of names.entries()) {
    const [info, metrics] = await Promise.all([api(`/runs/${name}`), api(`/runs/${name}/metrics`)]);
    const key = metrics.some((m) => "loss_g" in m) ? "loss_g" : Object.keys(metrics[0] || {}).find((k) => k.startsWith("loss"));
    if (key) series.push({ label: `${name}:${key}`, color: COLORS[i % COLORS.length], points: metrics.map((m) => [m.step, m[key]]).filter((p) => Number.isFinite(p[1])) });
    const last = metrics[metrics.length - 1] || {};
    const img = el("img", { class: "pixel", style: "width:120px" });
    if (info.files.includes("samples/latest.png")) showImage(img, `/v1/runs/${name}/files/samples/latest.png`, true);
    rows.push([name, info.model, info.data, `${info.step}/${info.steps ?? "?"}`,
      Object.entries(last).filter(([k]) => k.startsWith("loss")).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(" "), img]);
  }
  drawCurves($("#compare-canvas"), series);
  $("#compare-table").replaceChildren(table(["run", "model", "data", "step", "last losses", "samples"], rows));
});

// -- reports --------------------------------------------------------------------------------
const loadReports = guard(async () => {
  await refreshRuns();
  fillSelect($("#report-run"), state.runs.map((r) => [r.name, r.name]));
  showReportFiles();
});

function showReportFiles() {
  const run = state.runs.find((r) => r.name === $("#report-run").value);
  const files = (run?.files || []).filter((f) => !f.startsWith("samples/step-"));
  fillSelect($("#report-file"), files.map((f) => [f, f]), files.includes("report.html") ? "report.html" : "README.md");
  showReport();
}

const showReport = guard(async () => {
  const run = $("#report-run").value, file = $("#report-file").value;
  const frame = $("#report-frame"), pre = $("#report-text");
  if (!run || !file) { frame.hidden = true; pre.hidden = true; return; }
  const res = await fetch(`/v1/runs/${run}/files/${file}`, { headers: headers() });
  if (file.endsWith(".html")) {
    frame.srcdoc = await res.text(); frame.hidden = false; pre.hidden = true;
  } else if (file.endsWith(".png")) {
    const url = URL.createObjectURL(await res.blob());
    frame.srcdoc = `<img src="${url}" style="max-width:100%;image-rendering:pixelated">`;
    frame.hidden = false; pre.hidden = true;
  } else {
    pre.textContent = await res.text(); pre.hidden = false; frame.hidden = true;
  }
});

// -- start ----------------------------------------------------------------------------------
async function start() {
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $("#keyform").addEventListener("submit", (e) => {
    e.preventDefault(); localStorage.setItem("genforge-key", $("#apikey").value.trim()); location.reload();
  });
  $("#register-form").addEventListener("submit", guard(async (e) => {
    e.preventDefault(); const f = new FormData(e.target);
    await api("/datasets", { method: "POST", body: { name: f.get("name"), path: f.get("path") } });
    say(`registered ${f.get("name")}`); await loadDatasets(); showDataset(f.get("name"));
  }));
  $("#upload-form").addEventListener("submit", guard(async (e) => {
    e.preventDefault(); const f = new FormData(e.target);
    say("uploading..."); await api("/datasets/upload", { method: "POST", form: f });
    say(`uploaded ${f.get("name")}`); await loadDatasets(); showDataset(f.get("name"));
  }));
  $("#train-form").addEventListener("submit", startTraining);
  $("#btn-cancel").addEventListener("click", runAction("cancel"));
  $("#btn-resume").addEventListener("click", runAction("resume"));
  $("#btn-delete").addEventListener("click", runAction("delete"));
  $("#gen-form").addEventListener("submit", generate);
  $("#gen-run").addEventListener("change", () => renderControls());
  $("#gallery-form").addEventListener("submit", loadGallery);
  $("#report-run").addEventListener("change", showReportFiles);
  $("#report-file").addEventListener("change", showReport);
  try {
    state.info = await api("/info");
    if (state.info.auth) $("#keyform").hidden = false;
  } catch (e) { say(e.message, true); return; }
  showTab(location.hash.slice(1) || "datasets");
}

start();
