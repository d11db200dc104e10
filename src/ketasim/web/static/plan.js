// The personal-plan page: the record goes to /api/plan as text; the page only draws what comes back.
"use strict";
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));

function form() {
  const txt = $("#record").value;
  const yaml = /^\s*(events:|-\s*\{|-\s*[A-Za-z_]+\s*:|ID:|WT:)/m.test(txt) && !/^\s*ID\s*,/i.test(txt);
  return { record: txt, format: yaml ? "yaml" : "csv", target: $("#target").value, probability: $("#probability").value,
           window: $("#window").value, limits: $("#limits").value, patient_id: $("#patient-id").value };
}

function table(rows) {
  if (!rows.length) return "<p class='hint'>none</p>";
  const cols = Object.keys(rows[0]);
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : v === null ? "–" : esc(v));
  return `<table class="t"><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${cols.map((c) => `<td>${fmt(r[c])}</td>`).join("")}</tr>`).join("") + "</tbody></table>";
}

function yamlLines(lines) {
  return lines.map((l) => "- {" + Object.entries(l).map(([k, v]) => `${k}: ${v}`).join(", ") + "}").join("\n");
}

// a number box holding text ('1e', '0,8') has the value "" in the browser, which the plan read as the default 0.8:
// say so instead of planning at a probability the user did not type
function badNumber() {
  if (!$("#probability").validity.badInput) return false;
  $("#errors").textContent = "probability: not a number (a fraction between 0 and 1, e.g. 0.8)";
  return true;
}

async function run() {
  if (badNumber()) return;
  $("#errors").textContent = ""; $("#status").textContent = "fitting…"; $("#run").disabled = true;
  const t0 = performance.now();
  let body;
  try {
    const resp = await fetch("/api/plan", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(form()) });
    body = await resp.json();
  } catch (e) { body = { ok: false, errors: [{ message: String(e) }] }; }
  $("#run").disabled = false;
  if (!body.ok) { $("#errors").textContent = body.errors.map((e) => e.message).join("; "); $("#status").textContent = ""; return; }
  const res = body.result;
  $("#status").textContent = `fit ${res.fit.seconds.toFixed(2)} s, plan search ${res.search.seconds.toFixed(2)} s ` +
    `(${res.search.candidates_evaluated} candidates` +
    (res.search.unsafe_candidates ? `, ${res.search.unsafe_candidates} above a safety limit: SBP ` +
      `${res.search.unsafe_by_limit.sbp_rise_mmhg}, CADSS ${res.search.unsafe_by_limit.cadss}` : "") +
    `), page ${((performance.now() - t0) / 1000).toFixed(2)} s; ` +
    `patient ${res.patient.id}: ${res.observations.length} observed values; ` +
    (res.fit.sampling ? `importance sampling: ${res.fit.sampling.summary}` :
      `effective sample size ${res.fit.effective_sample_size.toFixed(0)}`);
  $("#warns").innerHTML = res.fit.warnings.map((w) => `<div>warning: ${esc(w)}</div>`).join("");
  for (const [id, fig] of [["#fig-forecast", body.figures.forecast], ["#fig-plans", body.figures.plans]]) {
    Plotly.react($(id), fig.data, fig.layout, { displaylogo: false, responsive: true });
  }
  // the text output's note: without a reading during a session a safety limit is judged at another quantile
  const unread = Object.entries(res.search.has_reading || {}).filter(([, v]) => !v).map(([k]) => k);
  $("#target-text").textContent = `Target: ${res.target.text}, probability ≥ ${res.target.probability}. Limits: ` +
    Object.entries(res.limits).filter(([k]) => k !== "note").map(([k, v]) => `${k}=${v}`).join(", ") +
    (unread.length ? `. No ${unread.map((k) => (k === "cadss" ? "CADSS" : "SBP")).join(" or ")} reading during a ` +
      `session in the record: ${unread.join(" and ")} judged at quantile ${res.limits.quantile_without_reading} of ` +
      "a session's peak (the population's spread; with a reading, the 90th percentile of this patient's)" : "");
  $("#plans-table").innerHTML = table(body.plan_table);
  $("#plan-yaml").textContent = res.plans.map((p) => `# #${p.rank} ${p.label} (p_target ${p.p_target.toFixed(2)})\n` +
    yamlLines(p.regimen)).join("\n");
  $("#params-table").innerHTML = table(res.fit.parameters.map((p) => ({ parameter: p.name, MAP: p.estimate,
    "5 % (sampled)": p.interval90[0], "95 % (sampled)": p.interval90[1], "prior SD": p.prior_sd,
    "shrinkage (Laplace)": p.shrinkage, "informed (Laplace)": p.informed ? "yes" : "no" })));
  document.body.dataset.ready = "1";
}

async function report() {
  if (badNumber()) return;
  const resp = await fetch("/api/plan/report.html", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(form()) });
  if (!resp.ok) { const b = await resp.json(); $("#errors").textContent = b.errors.map((e) => e.message).join("; "); return; }
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a"); a.href = url; a.download = "ketasim-plan-report.html"; a.click();
}

function addObservation() {
  const t = $("#obs-time").value, v = $("#obs-value").value, dvid = $("#obs-dvid").value;
  // text in a number box reads as "" (s52 review L1: a typed '12,5' became a forecast point without a word)
  if ($("#obs-time").validity.badInput) { $("#errors").textContent = "add an observation: time (h): not a number (e.g. 48)"; return; }
  if ($("#obs-value").validity.badInput) { $("#errors").textContent = "add an observation: value: not a number (use a point for decimals, e.g. 12.5; leave it empty for a forecast point)"; return; }
  if (t === "") { $("#errors").textContent = "add an observation: time (h) is required"; return; }
  const lines = $("#record").value.replace(/\s+$/, "").split("\n");
  const header = lines[0].split(",").map((h) => h.trim().toUpperCase());
  const row = header.map((h) => ({ ID: lines.length > 1 ? lines[1].split(",")[header.indexOf("ID")] : "1", TIME: t, EVID: "0", DV: v, DVID: dvid }[h] ?? ""));
  const time = parseFloat(t);
  const iT = header.indexOf("TIME");
  let at = lines.length;
  for (let i = 1; i < lines.length; i++) { if (parseFloat(lines[i].split(",")[iT]) > time) { at = i; break; } }
  lines.splice(at, 0, row.join(","));
  $("#record").value = lines.join("\n") + "\n";
}

$("#run").addEventListener("click", run);
$("#report").addEventListener("click", report);
$("#obs-add").addEventListener("click", addObservation);
$("#upload").addEventListener("change", async (ev) => { const f = ev.target.files[0]; if (f) { $("#record").value = await f.text(); } });
(async () => {
  const r = await (await fetch("/api/plan/example")).json();
  $("#record").value = r.csv;
})();
