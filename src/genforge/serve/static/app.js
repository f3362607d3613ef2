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

// Every request that changes state carries X-Genforge-CSRF: a page of another website cannot
// send that header (nor a JSON Content-Type) without the server's consent, which it refuses.
async function api(path, { method = "GET", body, form } = {}) {
  const extra = method === "GET" ? {} : { "X-Genforge-CSRF": "1" };
  if (body) extra["Content-Type"] = "application/json";
  const opts = { method, headers: headers(extra) };
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
  if (name === "train" && state.watchMetrics) drawCurves($("#loss-canvas"), lossSeries(state.watchMetrics));
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
  const ticket = (state.datasetTicket = (state.datasetTicket || 0) + 1);
  const d = await api(`/datasets/${name}`);
  if (ticket !== state.datasetTicket) return;  // another dataset was picked meanwhile
  const r = d.report || {};
  if (r.format) { showFileReport(d, r); say(""); return; }
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

function showFileReport(d, r) {
  // An uploaded text (.txt/.jsonl) or table (.csv) file: what it holds, and its first lines.
  const rows = [["kind", d.kind], ["file", r.format], ["trains", `${r.feeds} models`], ["bytes", r.bytes], ["lines", r.lines]];
  if (r.records !== undefined) rows.push(["records", r.records], ["fields", (r.fields || []).join(", ")]);
  if (r.rows !== undefined) {
    const total = r.columns_total ?? r.columns.length, out = r.columns_left_out || 0;
    rows.push(["rows", r.rows], ["columns", out ? `${total} (the first ${r.columns.length} shown, ${out} left out)` : total]);
  }
  if (r.paragraphs !== undefined) rows.push(["paragraphs", r.paragraphs]);
  const preview = r.columns ? [el("h2", {}, "First rows"), table(r.columns, r.preview || [])]
    : r.preview ? [el("h2", {}, "Start of the text"), el("pre", {}, r.preview)] : [];
  $("#dataset-report").replaceChildren(table(["", ""], rows), ...preview);
}

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
  if (!state.models.length) state.models = (await api("/models")).filter((m) => (m.kind ?? "family") === "family");
  if (!state.datasets.length) state.datasets = await api("/datasets");
  fillSelect($("#train-model"), state.models.map((m) => [m.name, `${m.name} (${m.modality})`]), "dcgan");
  fillSelect($("#train-data"), state.datasets.map((d) => [d.name, d.name]), "digits");
  syncTrainForm();
  await refreshRuns();
  renderRunList();
});

const modelModality = (name) => state.models.find((m) => m.name === name)?.modality ?? "image";

function syncTrainForm() {
  // Image size is an image option; other modalities' data sets their own shapes.
  $("#train-image-size").hidden = modelModality($("#train-model").value) !== "image";
}

function fillSelect(select, options, preferred) {
  const keep = select.value;
  select.replaceChildren(...options.map(([v, label]) => el("option", { value: v }, label)));
  select.value = options.some(([v]) => v === keep) ? keep : (options.some(([v]) => v === preferred) ? preferred : options[0]?.[0] ?? "");
}

function renderRunList() {
  $("#run-list").replaceChildren(...state.runs.map((r) =>
    el("li", { onclick: () => { watchRun(r.name); showWatchOnPhone(); }, "data-name": r.name, class: r.name === state.watch ? "selected" : "" },
      el("span", {}, r.name, el("br"), el("small", {}, `${r.model} · step ${r.step}/${r.steps ?? "?"}`)),
      el("span", { class: `badge ${r.state}` }, r.state))));
}

function showWatchOnPhone() {
  // One column on a phone: the watch panel sits below the form and the run list.
  if (window.matchMedia("(max-width: 760px)").matches) $("#watch-title").scrollIntoView({ block: "start" });
}

const startTraining = guard(async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = {
    model: f.get("model"), data: f.get("data"), steps: Number(f.get("steps")),
    options: { batch_size: Number(f.get("batch_size")), seed: Number(f.get("seed")),
      log_every: Number(f.get("log_every")), sample_every: Number(f.get("sample_every")) },
  };
  if (modelModality(body.model) === "image") body.options.image_size = Number(f.get("image_size"));
  if (f.get("name")) body.name = f.get("name");
  const run = await api("/runs", { method: "POST", body });
  say(`started ${run.name}`);
  await refreshRuns();
  watchRun(run.name);
  showWatchOnPhone();
});

function drawCurves(canvas, series) {
  // series: [{label, color, points: [[step, value], ...]}]. Drawn at the canvas's on-screen
  // width (times the pixel ratio), so labels stay readable from a phone to a laptop.
  const dpr = window.devicePixelRatio || 1;
  const cssW = Math.max(200, Math.round(canvas.clientWidth || 480));  // 0 while its tab is hidden
  const cssH = Math.round(Math.min(300, Math.max(180, cssW * 0.55)));
  canvas.width = cssW * dpr; canvas.height = cssH * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const W = cssW, H = cssH, left = 48, right = 10, top = 10 + 16 * Math.ceil(series.length / Math.max(1, Math.floor((W - left) / 110))), bottom = 26;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "12px system-ui, sans-serif";
  const pts = series.flatMap((s) => s.points);
  canvas.dataset.series = series.map((s) => s.label).join(" ");
  canvas.dataset.points = String(pts.length);
  if (!pts.length) { ctx.fillStyle = "#888"; ctx.fillText("no metrics yet", left, H / 2); return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]).filter(Number.isFinite);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x1 === x0) { x0 -= 1; x1 += 1; }  // one logged step: centre it
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => left + (x - x0) / (x1 - x0) * (W - left - right);
  const Y = (y) => H - bottom - (y - y0) / (y1 - y0) * (H - bottom - top);
  ctx.strokeStyle = "#e3e6ea"; ctx.fillStyle = "#555"; ctx.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {  // horizontal grid with values
    const v = y0 + (y1 - y0) * k / 4, yy = Y(v);
    ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(W - right, yy); ctx.stroke();
    ctx.fillText(Number(v.toPrecision(3)).toString(), 2, yy + 4);
  }
  const xmin = Math.min(...xs), xmax = Math.max(...xs);
  if (xmax > xmin) ctx.fillText(String(xmin), left, H - 8);
  const lastLabel = `step ${xmax}`;
  ctx.fillText(lastLabel, W - right - ctx.measureText(lastLabel).width, H - 8);
  const perRow = Math.max(1, Math.floor((W - left) / 110));
  series.forEach((s, i) => {
    const smooth = s.points.length > 60;  // raw curve faint, its moving average on top
    ctx.lineWidth = 1; ctx.strokeStyle = smooth ? s.color + "55" : s.color;
    ctx.beginPath();
    s.points.forEach(([x, y], j) => (j ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.stroke();
    if (smooth) {
      let avg = s.points[0][1];
      ctx.lineWidth = 2; ctx.strokeStyle = s.color; ctx.beginPath();
      s.points.forEach(([x, y], j) => { avg = j ? 0.9 * avg + 0.1 * y : y; j ? ctx.lineTo(X(x), Y(avg)) : ctx.moveTo(X(x), Y(avg)); });
      ctx.stroke();
    } else {
      ctx.fillStyle = s.color;
      s.points.forEach(([x, y]) => ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4));
    }
    const last = s.points[s.points.length - 1];
    ctx.fillStyle = s.color;
    ctx.fillText(`${s.label}${last ? " " + Number(last[1]).toPrecision(3) : ""}`, left + 4 + (i % perRow) * 110, 14 + 16 * Math.floor(i / perRow));
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
  let shown = "";
  const update = async (info) => {
    $("#watch-state").replaceChildren(el("span", { class: `badge ${info.state}`, id: "watch-badge" }, info.state),
      ` step ${info.step} / ${info.steps ?? "?"}`, info.error ? el("div", { class: "error" }, info.error) : "");
    const p = $("#watch-progress"); p.hidden = false; p.max = info.steps || 1; p.value = info.step;
    const live = info.state === "running" || info.state === "queued";
    $("#btn-cancel").hidden = !live; $("#btn-resume").hidden = live; $("#btn-delete").hidden = live;
    state.watchMetrics = metrics;
    drawCurves($("#loss-canvas"), lossSeries(metrics));
    const shot = `${info.step}/${info.state}`;
    if (shot !== shown) {  // a new step or state (the end writes the last preview) may bring a new grid
      shown = shot;
      const img = $("#watch-samples"), old = img.src;
      await showImage(img, `/v1/runs/${name}/files/samples/latest.png`, true);
      if (old.startsWith("blob:") && old !== img.src) URL.revokeObjectURL(old);
      $("#samples-caption").textContent = `latest samples (step ${info.step})`;
    }
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
          metrics = metrics.concat(d.metrics);
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
// Text runs and text-to-text runs (translation, summarisation): outputs are text, n is 1.
const isText = (modality) => modality === "text" || modality === "text-pair";
const num = (name, label, attrs = {}) => el("label", { "data-control": name }, label, el("input", { name, type: "number", ...attrs }));
const CONTROL_INPUTS = {
  n: (run) => run.modality === "table"
    ? num("n", "Rows (n)", { min: 1, max: state.info.limits.max_rows, value: 20 })
    : num("n", run.modality === "audio" || run.modality === "video" ? "Clips (n)" : isText(run.modality) ? "Texts (n)" : "How many (n)",
      { min: 1, max: state.info.limits.max_n, value: isText(run.modality) ? 1 : 4 }),
  seed: () => num("seed", "Seed", { min: 0, value: 0 }),
  truncation: () => num("truncation", "Truncation (empty = none)", { step: "0.1", min: "0.1" }),
  label: (run) => el("label", { "data-control": "label" }, run.modality === "captioned-image" ? "Caption" : "Label", el("select", { name: "label" },
    el("option", { value: "" }, run.modality === "captioned-image" ? "(none: use the prompt)" : "(cycle classes)"),
    ...run.class_names.map((c) => el("option", { value: c }, c)))),
  prompt: (run) => run.modality === "text-pair"
    ? el("label", { "data-control": "prompt" }, "Source text", el("textarea", { name: "prompt", rows: 3, required: "",
      maxlength: state.info.limits.max_prompt_chars, placeholder: "the text to translate or summarise" }))
    : el("label", { "data-control": "prompt" }, "Prompt", run.modality === "text"
    ? el("textarea", { name: "prompt", rows: 3, maxlength: state.info.limits.max_prompt_chars, placeholder: "(empty: start from nothing)" })
    : el("input", { name: "prompt", maxlength: state.info.limits.max_prompt_chars,
      placeholder: run.class_names[0] ? `e.g. ${run.class_names[run.class_names.length > 7 ? 7 : 0]} (or pick a caption)` : "" })),
  sampler: (run, ctl) => el("label", { "data-control": "sampler" }, "Sampler", el("select", { name: "sampler" },
    ...ctl.samplers.map((s) => el("option", { value: s, ...(s === ctl.default_sampler ? { selected: "" } : {}) }, s)))),
  steps: (run, ctl) => num("steps", "Denoising steps", { min: 1, max: ctl.max_sampling_steps ?? undefined,
    placeholder: `default ${ctl.default_steps?.[ctl.default_sampler] ?? ""}` }),
  eta: () => num("eta", "DDIM eta (0 = deterministic; empty = 0)", { step: "0.1", min: 0, max: 1 }),
  guidance: (run, ctl) => num("guidance", `Guidance (empty = ${ctl.default_guidance ?? "model default"})`, { step: "0.5", min: 0, max: 100 }),
  best_of: (run, ctl) => num("best_of", "Best of k (quality score; empty = off)", { min: 1, max: ctl.max_best_of }),
  gate: () => el("label", { "data-control": "gate" }, "Gate for best of k", el("select", { name: "gate" },
    el("option", { value: "" }, "automatic"), el("option", { value: "learned" }, "learned from ratings"),
    el("option", { value: "both" }, "both"))),
  max_new_tokens: () => num("max_new_tokens", "Max new tokens (empty = model default)", { min: 1, max: state.info.limits.max_new_tokens }),
  decoding: () => el("label", { "data-control": "decoding" }, "Decoding", el("select", { name: "decoding" },
    el("option", { value: "" }, "(auto: greedy for 1, sampling for more)"), el("option", { value: "greedy" }, "greedy"),
    el("option", { value: "beams" }, "beam search"), el("option", { value: "sampling" }, "sampling"))),
  num_beams: () => num("num_beams", "Beams (empty = max(4, n))", { min: 1, max: 16, "data-when": "beams" }),
  temperature: () => num("temperature", "Temperature", { step: "0.05", min: "0.05", max: 10, "data-when": "sampling" }),
  top_k: () => num("top_k", "Top-k (empty = off)", { min: 0, "data-when": "sampling" }),
  top_p: () => num("top_p", "Top-p (empty = off)", { step: "0.05", min: "0.05", max: 1, "data-when": "sampling" }),
  watermark: () => el("label", { "data-control": "watermark", class: "check" }, el("input", { name: "watermark", type: "checkbox", value: "true" }), " Watermark the text (green-list)"),
};
const NUMERIC = new Set(["n", "seed", "steps", "truncation", "max_new_tokens", "num_beams", "temperature", "top_k", "top_p", "guidance", "eta", "best_of"]);

const loadGenerate = guard(async () => {
  await refreshRuns();
  const ready = state.runs.filter((r) => r.step > 0);
  fillSelect($("#gen-run"), ready.map((r) => [r.name, `${r.name} (${r.model}, step ${r.step})`]));
  await renderControls();
});

function syncDecoding() {
  // Beam and sampling options show only for the decoding that uses them.
  const sel = $("#gen-controls [name=decoding]");
  if (!sel) return;
  const n = Number($("#gen-controls [name=n]")?.value || 1);
  const mode = sel.value || (n > 1 ? "sampling" : "greedy");
  document.querySelectorAll("#gen-controls [data-when]").forEach((input) => {
    const on = input.dataset.when === mode;
    input.closest("label").hidden = !on;
    if (!on) input.value = "";
  });
}

function syncSampler() {
  // DDIM's eta shows only with the ddim sampler (the others refuse it).
  const sel = $("#gen-controls [name=sampler]");
  const eta = $("#gen-controls [name=eta]");
  if (!sel || !eta) return;
  const on = sel.value === "ddim";
  eta.closest("label").hidden = !on;
  if (!on) eta.value = "";
}

async function runControls(run) {
  // What this run's /v1/generate takes (GET /v1/runs/{run}/controls), kept per run and step.
  const key = `${run.name}@${run.step}`;
  state.controls = state.controls || {};
  if (!state.controls[key]) state.controls[key] = await api(`/runs/${run.name}/controls`);
  return state.controls[key];
}

async function renderControls(preset = {}) {
  const run = state.runs.find((r) => r.name === $("#gen-run").value);
  if (!run) { $("#gen-controls").replaceChildren(el("p", {}, "No trained runs yet.")); return; }
  $("#gen-go").disabled = true;  // until this run's controls are shown
  let ctl;
  try { ctl = await runControls(run); } finally { $("#gen-go").disabled = false; }
  if ($("#gen-run").value !== run.name) return;  // another run was picked meanwhile
  const nodes = ctl.controls.map((c) => CONTROL_INPUTS[c]?.(run, ctl)).filter(Boolean);
  $("#gen-controls").replaceChildren(...nodes);
  $("#gen-controls").dataset.modality = run.modality;
  $("#gen-controls").dataset.run = run.name;
  for (const [k, v] of Object.entries(preset)) {
    const input = $(`#gen-controls [name=${k}]`);
    if (!input || v === null || v === undefined) continue;
    if (input.type === "checkbox") input.checked = Boolean(v); else input.value = v;
    if (k === "label" && input.value !== String(v) && /^\d+$/.test(String(v))) input.value = run.class_names[Number(v)] ?? "";  // an index
  }
  $("#gen-controls [name=decoding]")?.addEventListener("change", syncDecoding);
  $("#gen-controls [name=n]")?.addEventListener("input", syncDecoding);
  $("#gen-controls [name=sampler]")?.addEventListener("change", syncSampler);
  $("#gen-controls [name=sampler]")?.addEventListener("change", (e) => {
    const steps = $("#gen-controls [name=steps]");
    if (steps) steps.placeholder = `default ${ctl.default_steps[e.target.value] ?? ""}`;
  });
  syncDecoding();
  syncSampler();
}

const generate = guard(async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { run: f.get("run") };
  for (const [k, v] of f.entries()) {
    if (k === "run" || v === "") continue;
    body[k] = NUMERIC.has(k) ? Number(v) : k === "watermark" ? true : v;
  }
  $("#gen-go").disabled = true;
  $("#gen-results").replaceChildren();  // no stale results while this one runs
  say("generating...");
  try {
    const res = await api("/generate", { method: "POST", body });
    $("#gen-results").replaceChildren(...res.outputs.map((o) => outputCard({ ...o, modality: res.modality })));
    say(`${res.outputs.length} output(s) from ${res.run} at step ${res.step}`);
  } finally { $("#gen-go").disabled = false; }
});

function parseCsv(text, maxRows) {
  // Enough CSV for a preview: quoted fields, doubled quotes, commas and newlines inside quotes.
  const rows = []; let row = [], field = "", q = false;
  for (let i = 0; i < text.length && rows.length <= maxRows; i++) {
    const c = text[i];
    if (q) { if (c === '"') { if (text[i + 1] === '"') { field += '"'; i++; } else q = false; } else field += c; }
    else if (c === '"') q = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n") { row.push(field.replace(/\r$/, "")); rows.push(row); row = []; field = ""; }
    else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

async function fetchText(url) {
  const res = await fetch(url, { headers: headers() });
  if (!res.ok) throw new Error(`${res.status} for ${url}`);
  return res.text();
}

function downloadLink(url, name, label) {
  const a = el("a", { href: "#", download: name, class: "download" }, label);
  blobUrl(url).then((u) => { a.href = u; }).catch(() => { a.textContent = "(file gone)"; });
  return a;
}

const PREVIEW_ROWS = 10;

function outputBody(o) {
  // What the card shows: the image, the text, a table preview, an audio or a video player.
  const kind = o.modality ?? "image";
  if (kind === "text") {
    const pre = el("pre", { class: "gen-text" });
    const p = o.params;
    const show = (t) => pre.replaceChildren(...(p.prompt ? [el("span", { class: "prompt" }, p.prompt)] : []), t);
    if (o.text !== undefined && o.text !== null) show(o.text); else fetchText(o.url).then(show).catch(() => show("(file gone)"));
    return [pre];
  }
  if (kind === "text-pair") {  // the source (the request's prompt), then its translation
    const out = el("pre", { class: "gen-text" });
    if (o.text !== undefined && o.text !== null) out.textContent = o.text;
    else fetchText(o.url).then((t) => { out.textContent = t; }).catch(() => { out.textContent = "(file gone)"; });
    return [el("pre", { class: "source" }, o.params.prompt ?? ""), out];
  }
  if (kind === "table") {
    const wrap = el("div", { class: "table-wrap" });
    const fill = (rows) => wrap.replaceChildren(table(rows[0], rows.slice(1, PREVIEW_ROWS + 1)));
    if (o.rows) {
      const cols = o.params.columns || Object.keys(o.rows[0] || {});
      fill([cols, ...o.rows.map((r) => cols.map((c) => r[c]))]);
    } else fetchText(o.url).then((t) => fill(parseCsv(t, PREVIEW_ROWS))).catch(() => wrap.replaceChildren("(file gone)"));
    const n = o.params.n;
    return [wrap, el("span", {}, `showing ${Math.min(PREVIEW_ROWS, n)} of ${n} rows · `, downloadLink(o.url, `${o.id}.csv`, "download CSV"))];
  }
  if (kind === "audio") {
    const audio = el("audio", { controls: "", preload: "none" });
    blobUrl(o.url).then((u) => { audio.src = u; }).catch(() => {});
    const img = el("img", { alt: `spectrogram of ${o.id}`, class: "spec" });
    showImage(img, o.spectrogram_url ?? `/v1/outputs/${o.id}/spectrogram.png`);
    return [img, audio];
  }
  if (kind === "video") {
    const video = el("video", { controls: "", loop: "", muted: "", autoplay: "", playsinline: "", class: "clip" });
    blobUrl(o.url).then((u) => { video.src = u; }).catch(() => {});
    return [video];
  }
  const img = el("img", { alt: o.id, "data-id": o.id });
  showImage(img, o.url);
  return [img];
}

function paramLine(kind, p, watermarked) {
  if (kind === "text") {
    const dec = p.decoding === "sampling" ? `sampling T=${p.temperature ?? 1}${p.top_k ? ` k=${p.top_k}` : ""}${p.top_p ? ` p=${p.top_p}` : ""}` : p.decoding;
    return `${dec} · ${p.new_tokens ?? "?"} tokens${p.watermark ? " · watermarked" : ""}`;
  }
  if (kind === "text-pair") {
    const mode = p.decoding ?? (p.n > 1 ? "sampling" : "greedy");  // the server's auto choice
    const dec = mode === "sampling" ? `sampling T=${p.temperature ?? 1}${p.top_p ? ` p=${p.top_p}` : ""}` : mode === "beams" ? `beams ${p.num_beams ?? 4}` : mode;
    return `${dec}${p.watermark ? " · watermarked" : ""}`;
  }
  if (kind === "table") return `${p.n} rows · ${(p.columns || []).length} columns`;
  if (kind === "audio") return `${p.class ?? "unconditional"} · ${p.sample_rate} Hz`;
  if (kind === "video") return `${p.class ?? "unconditional"} · ${p.frames} frames at ${p.fps} fps`;
  const parts = [];
  if (p.prompt) parts.push(`"${p.prompt}"`);
  if (p.label !== undefined && p.label !== null) parts.push(`label ${p.label}`);
  if (p.sampler) parts.push(`${p.sampler} ${p.steps} steps${p.eta ? ` eta ${p.eta}` : ""}`);
  if (p.guidance !== undefined && p.guidance !== null) parts.push(`guidance ${p.guidance}`);
  if (p.truncation !== undefined && p.truncation !== null) parts.push(`trunc ${p.truncation}`);
  if (p.best_of) parts.push(`best of ${p.best_of} (score ${p.score})`);
  else if (p.review && p.score !== undefined) parts.push(`review · ${p.gate} gate ${p.score}`);
  if (watermarked) parts.push("watermarked");
  return parts.join(" · ") || "defaults";
}

function outputCard(o) {
  const p = o.params;
  const kind = o.modality ?? "image";
  return el("div", { class: `card ${kind}`, "data-id": o.id }, ...outputBody(o),
    el("code", {}, o.id), el("span", {}, `${p.run} · seed ${p.seed} #${p.index}`),
    el("span", {}, paramLine(kind, p, o.watermarked)),
    el("button", { class: "secondary rerun", onclick: guard(() => rerun(p)), title: "generate again with these parameters" }, "Re-run"));
}

async function rerun(p) {
  // The same run and parameters again (same seed: the same outputs while the run is unchanged).
  showTab("generate");
  await loadGenerate();
  if (!state.runs.some((r) => r.name === p.run && r.step > 0)) throw new Error(`run ${p.run} is gone or has no checkpoint`);
  $("#gen-run").value = p.run;
  const preset = {};
  for (const k of Object.keys(CONTROL_INPUTS)) if (p[k] !== undefined) preset[k] = p[k];
  await renderControls(preset);
  $("#gen-form").requestSubmit();
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
  const ticket = (state.galleryTicket = (state.galleryTicket || 0) + 1);
  const res = await api(`/outputs?${q}`);
  if (ticket !== state.galleryTicket) return; // a newer search was sent while this one ran
  $("#gallery-count").textContent = `${res.total} output(s)`;
  showGalleryCards(res.items);
  showAgreement(sel.value);
});

// A review batch: fresh outputs of the selected run, the ones the gate doubts most first.
const drawReview = guard(async () => {
  const run = $("#gallery-run").value;
  if (!run) throw new Error("pick a run to review");
  say(`drawing a review batch of ${run} ...`);
  const res = await api(`/runs/${run}/review`, { method: "POST", body: { n: Number($("#review-n").value) || 16, seed: Date.now() % 2 ** 31 } });
  $("#gallery-count").textContent = `review batch of ${res.items.length}, ` +
    (res.gate ? `least sure first by the ${res.gate} gate` : "in drawing order (no gate yet)");
  showGalleryCards(res.items);
  showAgreement(run);
  say("");
});

async function showAgreement(run) {
  const box = $("#gallery-agreement");
  box.textContent = "";
  if (!run) return;
  const s = (await api(`/runs/${run}/feedback?limit=1`)).summary;
  const a = s.agreement;
  box.textContent = `· ${run}: ${s.ratings} ratings by ${s.raters.length} rater(s)` +
    (a ? ` · raters agree on ${Math.round(a.pairs_agreeing * 100)}% of pairs (kappa ${a.fleiss_kappa.toFixed(2)})` : "");
}

function showGalleryCards(items) {
  $("#gallery-items").replaceChildren(...items.map((r) => {
    const card = outputCard(r);
    const bar = ratingBar(r);
    card.append(el("small", {}, `${r.created.replace("T", " ").slice(0, 19)} by ${r.who}`), bar);
    showRating(bar);
    card.addEventListener("click", (e) => { if (!e.target.closest("button, input, audio")) selectCard(card); });
    return card;
  }));
  state.selected = null;
  updateRatingCounts();
}

// -- ratings: thumbs, a 1-5 score, tags and a note per output; j/k move, u/d, 1-5 rate -------
function ratingBar(o) {
  const bar = el("div", { class: "rating" });
  bar.rating = o.rating ? { thumb: o.rating.thumb, score: o.rating.score, tags: o.rating.tags, note: o.rating.note } : {};
  const thumb = (t, label) => el("button", { type: "button", class: `thumb ${t}`, "data-thumb": t, title: `${t} (${t[0]})`,
    onclick: guard(() => rate(bar.closest(".card"), { thumb: bar.rating.thumb === t ? null : t })) }, label);
  const scores = el("span", { class: "scores" }, ...[1, 2, 3, 4, 5].map((n) => el("button", { type: "button", "data-score": n,
    title: `score ${n} (${n})`, onclick: guard(() => rate(bar.closest(".card"), { score: bar.rating.score === n ? null : n })) }, n)));
  const tags = el("input", { class: "tags", placeholder: "tags, comma-separated", maxlength: "200" });
  const note = el("input", { class: "note", placeholder: "note", maxlength: "2000" });
  tags.value = (bar.rating.tags || []).join(", ");
  note.value = bar.rating.note || "";
  const save = guard(() => rate(bar.closest(".card"), {
    tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean), note: note.value }));
  tags.addEventListener("change", save);
  note.addEventListener("change", save);
  bar.append(thumb("up", "\u2713 up"), thumb("down", "\u2717 down"), scores, tags, note);
  showRating(bar);
  return bar;
}

function showRating(bar) {
  const r = bar.rating;
  bar.querySelectorAll("[data-thumb]").forEach((b) => b.classList.toggle("on", b.dataset.thumb === r.thumb));
  bar.querySelectorAll("[data-score]").forEach((b) => b.classList.toggle("on", Number(b.dataset.score) === r.score));
  bar.closest(".card")?.classList.toggle("rated", isRated(r));
}

const isRated = (r) => Boolean(r.thumb || r.score || (r.tags && r.tags.length) || r.note);

async function rate(card, change) {
  const bar = $(".rating", card);
  const next = { ...bar.rating, ...change };
  const body = {};
  if (next.thumb) body.thumb = next.thumb;
  if (next.score) body.score = next.score;
  if (next.tags && next.tags.length) body.tags = next.tags;
  if (next.note) body.note = next.note;
  if (!isRated(body)) throw new Error("a rating needs a thumb, a score, a tag or a note");
  const saved = await api(`/outputs/${card.dataset.id}/rating`, { method: "PUT", body });
  bar.rating = { thumb: saved.thumb, score: saved.score, tags: saved.tags, note: saved.note };
  showRating(bar);
  updateRatingCounts();
  const run = $("#gallery-run").value;
  if (run) showAgreement(run).catch(() => {});
}

function updateRatingCounts() {
  const bars = [...document.querySelectorAll("#gallery-items .rating")].map((b) => b.rating);
  const rated = bars.filter(isRated);
  const up = rated.filter((r) => r.thumb === "up").length, down = rated.filter((r) => r.thumb === "down").length;
  const scores = rated.map((r) => r.score).filter(Boolean);
  const mean = scores.length ? ` · mean score ${(scores.reduce((a, b) => a + b, 0) / scores.length).toFixed(1)}` : "";
  $("#gallery-rated").textContent = bars.length ? `· rated ${rated.length} of ${bars.length} shown · ${up} up · ${down} down${mean}` : "";
}

function selectCard(card) {
  state.selected?.classList.remove("selected");
  state.selected = card;
  if (!card) return;
  card.classList.add("selected");
  card.scrollIntoView({ block: "nearest" });
}

function reviewKeys(e) {
  if (!$("#gallery").classList.contains("active") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest("input, textarea, select")) {  // Escape leaves a field for the keys
    if (e.key === "Escape" && e.target.closest(".rating")) e.target.blur();
    return;
  }
  const cards = [...document.querySelectorAll("#gallery-items .card")];
  if (!cards.length) return;
  const i = cards.indexOf(state.selected);
  if (e.key === "j" || e.key === "k") {
    selectCard(cards[e.key === "j" ? Math.min(cards.length - 1, i + 1) : Math.max(0, i - 1)]);
  } else if (state.selected && (e.key === "u" || e.key === "d")) {
    guard(() => rate(state.selected, { thumb: e.key === "u" ? "up" : "down" }))();
  } else if (state.selected && "12345".includes(e.key) && e.key.length === 1) {
    guard(() => rate(state.selected, { score: Number(e.key) }))();
  } else return;
  e.preventDefault();
}

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

// Only the latest choice renders: a slow answer for an earlier run or file is dropped, so it
// cannot overwrite what the user picked after it.
const showReport = guard(async () => {
  const seq = state.reportSeq = (state.reportSeq || 0) + 1;
  const current = () => seq === state.reportSeq;
  const run = $("#report-run").value, file = $("#report-file").value;
  const frame = $("#report-frame"), pre = $("#report-text"), card = $("#report-card");
  const show = (view) => { for (const v of [frame, pre, card]) v.hidden = v !== view; };
  if (!run || !file) { show(null); return; }
  if (file === "README.md") {
    const content = await fetchCard(run);
    if (!current()) return;
    card.dataset.run = run; card.replaceChildren(content); show(card); return;
  }
  const res = await fetch(`/v1/runs/${run}/files/${file}`, { headers: headers() });
  const body = file.endsWith(".png") ? await res.blob() : await res.text();
  if (!current()) return;
  if (file.endsWith(".html")) {
    frame.srcdoc = body; show(frame);
  } else if (file.endsWith(".png")) {
    const url = URL.createObjectURL(body);
    frame.srcdoc = `<img src="${url}" style="max-width:100%;image-rendering:pixelated">`;
    show(frame);
  } else {
    pre.textContent = body; show(pre);
  }
});

// The model card, rendered by the server (any HTML in the card comes back escaped). It is
// parsed in a <template> (inert: nothing loads there), its images are fetched with the API key
// (blob URLs) and links to the run's files open them on this page.
async function fetchCard(run) {
  const res = await fetch(`/v1/runs/${run}/card`, { headers: headers() });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail; } catch (_) {}
    throw new Error(`${res.status}: ${detail}`);
  }
  const tpl = document.createElement("template");
  tpl.innerHTML = await res.text();
  const files = `/v1/runs/${run}/files/`;
  for (const img of tpl.content.querySelectorAll("img")) {
    const src = img.getAttribute("src") || "";
    img.removeAttribute("src");
    // small sample grids are scaled up with sharp pixels; charts keep smooth scaling
    img.addEventListener("load", () => img.classList.toggle("pixel", img.naturalWidth < 512));
    if (src.startsWith(files)) showImage(img, src);
  }
  for (const a of tpl.content.querySelectorAll(`a[href^="${files}"]`)) {
    const file = decodeURIComponent(a.getAttribute("href").slice(files.length));
    a.addEventListener("click", (e) => {
      if (![...$("#report-file").options].some((o) => o.value === file)) return;
      e.preventDefault(); $("#report-file").value = file; showReport();
    });
  }
  return tpl.content;
}

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
  $("#train-model").addEventListener("change", syncTrainForm);
  $("#btn-cancel").addEventListener("click", runAction("cancel"));
  $("#btn-resume").addEventListener("click", runAction("resume"));
  $("#btn-delete").addEventListener("click", runAction("delete"));
  $("#gen-form").addEventListener("submit", generate);
  $("#gen-run").addEventListener("change", guard(() => renderControls()));
  $("#gallery-q").addEventListener("input", () => {  // search as you type (debounced)
    clearTimeout(state.searchTimer); state.searchTimer = setTimeout(() => loadGallery(), 300);
  });
  window.addEventListener("resize", () => {
    clearTimeout(state.resizeTimer);
    state.resizeTimer = setTimeout(() => {
      if (state.watchMetrics && $("#train").classList.contains("active")) drawCurves($("#loss-canvas"), lossSeries(state.watchMetrics));
    }, 150);
  });
  $("#gallery-form").addEventListener("submit", loadGallery);
  document.addEventListener("keydown", reviewKeys);
  $("#review-draw").addEventListener("click", drawReview);
  $("#report-run").addEventListener("change", showReportFiles);
  $("#report-file").addEventListener("change", showReport);
  try {
    state.info = await api("/info");
    if (state.info.auth) $("#keyform").hidden = false;
  } catch (e) { say(e.message, true); return; }
  showTab(location.hash.slice(1) || "datasets");
}

start();
