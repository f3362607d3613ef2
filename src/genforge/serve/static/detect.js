// genforge web UI, the Detect tab: drop a file, POST /v1/detect, show the verdict, its score
// and every piece of evidence. Uses app.js's helpers ($, el, api, say, guard, table).
// File names and evidence are user-influenced: they are shown as text, never parsed as HTML.
"use strict";

function runOptions(sel, runs, none) {
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "" }, none),
    ...runs.map((r) => el("option", { value: r.name }, r.name)));
  if (runs.some((r) => r.name === keep)) sel.value = keep;
}

const loadDetect = guard(async () => {
  const runs = (await refreshRuns()).filter((r) => r.checkpoint_step > 0);
  runOptions($("#detect-detector"), runs.filter((r) => r.model === "detector"), "none (marks only)");
  runOptions($("#detect-model"), runs.filter((r) => r.modality === "text"), "none");
});

function fmtScore(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(3); }

function showVerdict(v) {
  $("#detect-title").textContent = v.path;
  const badge = el("span", { class: `badge verdict ${v.verdict}`, "data-verdict": v.verdict }, v.verdict);
  $("#detect-verdict").replaceChildren(badge, ` score ${fmtScore(v.score)}`);
  const rows = v.evidence.map((e) => [e.kind, e.says, fmtScore(e.score), e.detail]);
  $("#detect-evidence").replaceChildren(rows.length
    ? table(["evidence", "says", "score", "detail"], rows)
    : el("p", { class: "empty" }, "No evidence either way: genforge cannot tell."));
}

const detectFile = guard(async (e) => {
  e?.preventDefault();
  const form = new FormData($("#detect-form"));
  for (const k of ["detector", "model"]) if (!form.get(k)) form.delete(k);
  if (!form.get("file")?.name) { say("pick a file first", true); return; }
  say(`judging ${form.get("file").name}...`);
  $("#detect-go").disabled = true;
  try { showVerdict(await api("/detect", { method: "POST", form })); say(""); }
  finally { $("#detect-go").disabled = false; }
});

function startDetect() {
  $("#detect-form").addEventListener("submit", detectFile);
  const drop = $("#detect-drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    if (!e.dataTransfer.files.length) return;
    $("#detect-file").files = e.dataTransfer.files;
    detectFile();
  });
  // app.js shows a tab by its class: load the run lists whenever this tab becomes active
  const section = $("#detect");
  new MutationObserver(() => { if (section.classList.contains("active")) loadDetect(); })
    .observe(section, { attributes: true, attributeFilter: ["class"] });
  if (section.classList.contains("active")) loadDetect();
}

startDetect();
