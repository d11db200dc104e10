/* ketasim dashboard: reads the form, asks the local API, draws what comes back. No model logic here. */
"use strict";

const state = {
  meta: null,
  seq: 0,            // request counter: only the newest answer is drawn
  drawn: 0,          // sequence number of the answer on screen
  inflight: null,    // AbortController of the running /api/simulate request
  timer: null,
  data: null,        // last good /api/simulate answer
  viewIndex: 0,      // time-axis view chosen with the buttons in the figure
  timeH: 1.0,        // moment shown in the chain diagram
  playing: null,
  trialJob: null,
  nameEdited: [false, false, false],
  lines: [[], [], []],   // extra dose lines per regimen (ids of the line rows on the page)
  lineSeq: 0,
  overrides: {},         // parameter name -> value typed by the user
  observed: null,        // {csv, name} of an uploaded observed-data file
  columns: 2,            // figure columns (1 on a phone)
  figureShapes: [],      // shapes the server put in the cascade figure (kept when the time marker moves)
  notes: {},             // dose box -> the server's note on a dose converted to another unit (kept until edited)
  unitSeq: {},           // dose line -> number of its latest unit conversion request (only the newest applies)
  trEdited: false,       // the treatment-resistant box set by hand: a condition change no longer resets it
};
const SLOTS = ["A", "B", "C"];
const PRESETS = {
  "racemic-ketamine": { route: "iv-infusion", dose: 0.5, dose_unit: "mg/kg", duration_min: 40 },
  "esketamine": { route: "intranasal", dose: 56, dose_unit: "mg", duration_min: 40 },
  "arketamine": { route: "iv-infusion", dose: 0.5, dose_unit: "mg/kg", duration_min: 40 },
  "placebo": { route: "iv-infusion", dose: "", dose_unit: "mg", duration_min: 40 },
  "midazolam": { route: "iv-infusion", dose: 0.045, dose_unit: "mg/kg", duration_min: 40 },
  "oral-antidepressant": { route: "oral", dose: "", dose_unit: "mg", duration_min: 40 },
};
const DEFAULT_REGIMENS = [
  { enabled: true, drug: "racemic-ketamine", route: "iv-infusion", dose: 0.5, dose_unit: "mg/kg", duration_min: 40, every: "", every_unit: "d", count: 1 },
  { enabled: true, drug: "esketamine", route: "intranasal", dose: 56, dose_unit: "mg", duration_min: 40, every: 3.5, every_unit: "d", count: 8 },
  { enabled: false, drug: "racemic-ketamine", route: "iv-infusion", dose: 1.0, dose_unit: "mg/kg", duration_min: 40, every: "", every_unit: "d", count: 1 },
];
const SHORT = { "racemic-ketamine": "ketamine", "esketamine": "esketamine", "arketamine": "arketamine",
  "placebo": "saline", "midazolam": "midazolam", "oral-antidepressant": "antidepressant" };
const ROUTE_SHORT = { "iv-infusion": "IV", "iv-bolus": "IV bolus", "im": "IM", "sc": "SC", "intranasal": "IN",
  "oral": "oral", "sublingual": "SL" };

const ROUTE_LABEL = { "iv-infusion": "IV infusion", "iv-bolus": "IV bolus", "im": "intramuscular", "sc": "subcutaneous",
  "intranasal": "intranasal", "oral": "oral", "sublingual": "sublingual" };
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

function fmtTime(h) {
  if (h <= 0) return "0 min";
  if (h < 2) return `${Math.round(h * 60)} min`;
  if (h < 48) { const H = Math.floor(h), m = Math.round((h - H) * 60); return m ? `${H} h ${m} min` : `${H} h`; }
  return `${(h / 24).toFixed(h < 240 ? 2 : 1)} d`;
}
function fmtNum(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.01 || a >= 1e5)) return v.toExponential(1);
  return Number(v.toPrecision(digits)).toString();
}

/* ---------- building the page ---------- */
function option(sel, value, label) {
  const o = document.createElement("option");
  o.value = value; o.textContent = label ?? value; sel.appendChild(o);
}

function regimenCard(i) {
  const s = SLOTS[i];
  const div = document.createElement("div");
  div.className = "regimen";
  div.dataset.slot = i;
  div.style.setProperty("--c", state.meta.arm_colors[i]);
  const f = (k) => `regimen.${i}.${k}`;
  div.innerHTML = `
    <div class="reg-head">
      <input type="checkbox" data-field="${f("enabled")}" ${i === 0 ? "checked disabled" : ""} title="include this regimen">
      <span class="slot">${s}</span>
      <input type="text" data-field="${f("name")}" aria-label="regimen ${s} name">
    </div>
    <span class="msg" data-msg="${f("name")}"></span>
    <div class="grid3">
      <label class="field span2">Drug<select data-field="${f("drug")}"></select><span class="msg" data-msg="${f("drug")}"></span></label>
      <label class="field">Route<select data-field="${f("route")}"></select><span class="msg" data-msg="${f("route")}"></span></label>
      <label class="field span2">Dose or rate<span class="dose-row"><input type="text" inputmode="decimal" data-field="${f("dose")}" aria-label="dose ${s}"><select data-field="${f("dose_unit")}">${unitOptions()}</select></span><span class="msg" data-msg="${f("dose")}"></span></label>
      <label class="field">Infusion (min)<input type="text" inputmode="decimal" data-field="${f("duration_min")}"><span class="msg" data-msg="${f("duration_min")}"></span></label>
      <label class="field">Doses<input type="text" inputmode="numeric" data-field="${f("count")}"><span class="msg" data-msg="${f("count")}"></span></label>
      <label class="field span2">Every<span class="dose-row"><input type="text" inputmode="decimal" data-field="${f("every")}" aria-label="interval ${s}"><select data-field="${f("every_unit")}"><option value="d">days</option><option value="h">hours</option></select></span><span class="msg" data-msg="${f("every")}"></span></label>
    </div>
    <div class="reg-extra">
      <div class="lines" id="lines-${i}"></div>
      <button type="button" class="small" data-add-line="${i}">+ add a dose line</button>
      <label class="check"><input type="checkbox" data-field="${f("background_antidepressant")}"> with a background oral antidepressant</label>
      <span class="msg" data-msg="${f("background_antidepressant")}"></span>
      <label class="check"><input type="checkbox" data-field="${f("titration.enabled")}"> response-guided dose (titration of the first line)</label>
      <div class="titration grid3" data-titration="${i}" hidden>
        <label class="field span2">Dose levels, lowest first (the first line's unit)<input type="text" data-field="${f("titration.doses")}" placeholder="28, 56, 84"><span class="msg" data-msg="${f("titration.doses")}"></span></label>
        <label class="field">Decision sessions<input type="text" data-field="${f("titration.sessions")}" placeholder="2, 3, 4, 5"><span class="msg" data-msg="${f("titration.sessions")}"></span></label>
        <label class="field span3">One level up if the score reduction is below (%)<input type="text" inputmode="decimal" data-field="${f("titration.increase_below_pct")}" value="50"><span class="msg" data-msg="${f("titration.increase_below_pct")}"></span></label>
      </div>
    </div>`;
  const drug = $(`[data-field="${f("drug")}"]`, div);
  state.meta.drugs.forEach((d) => option(drug, d));
  return div;
}

function unitOptions(units) {
  const label = { "mg/kg": "mg/kg", "mg": "mg", "mg/kg/h": "mg/kg/h (rate)", "mg/h": "mg/h (rate)" };
  return (units || state.meta.dose_units || ["mg/kg", "mg"]).map((u) => `<option value="${esc(u)}">${esc(label[u] || u)}</option>`).join("");
}

// the units a dose line of this drug and route accepts (the server's unit_choices: regimen.dose_units, and rates for
// an iv-infusion only); intranasal esketamine: mg only
function lineUnits(base) {
  const drug = field(`${base}.drug`).value, route = field(`${base}.route`).value;
  return ((state.meta.unit_choices || {})[drug] || {})[route] || state.meta.dose_units;
}

// the line's unit menu offers only the units its drug and route accept. A unit no longer offered stays chosen (a
// hidden option) until the server has converted the dose (convertDose): the form never pairs the old number with
// another unit. Returns that unit, or null when the line's unit is offered.
function fillUnits(base, wanted) {
  const sel = field(`${base}.dose_unit`);
  const keep = wanted ?? sel.value;
  const units = lineUnits(base);
  sel.innerHTML = unitOptions(units);
  if (!keep || units.includes(keep)) { sel.value = keep || units[0]; return null; }
  const o = document.createElement("option");
  o.value = keep; o.textContent = keep; o.hidden = true;
  sel.appendChild(o);
  sel.value = keep;
  return keep;
}

// a dose in a unit its line no longer accepts (e.g. mg/kg after a switch to intranasal esketamine): the server
// converts it (mg at the patient's weight, whole 28-mg devices for nasal esketamine; a rate off an infusion: rate x
// duration) or clears it, with a one-line note at the dose box; then the page simulates
async function convertDose(base) {
  const seq = (state.unitSeq[base] || 0) + 1;
  state.unitSeq[base] = seq;
  const keys = ["drug", "route", "dose", "dose_unit", "duration_min"];
  const line = {};
  keys.forEach((k) => { line[k] = field(`${base}.${k}`).value; });
  const weight = field("patient.weight_kg").value;
  let body;
  try {
    const resp = await fetch("/api/dose-unit", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ field: base, line, weight_kg: weight }) });
    body = await resp.json();
    if (!resp.ok) body = { dose: "", message: (body.errors || []).map((e) => e.message).join(" ") };
  } catch (e) {
    body = { dose: "", message: `${base}.dose: cleared (the dashboard server did not answer: ${e.message})` };
  }
  if (state.unitSeq[base] !== seq || !field(`${base}.dose_unit`)) return;   // a newer change, or the line is gone
  // the line (drug, route, infusion time, dose, unit) or the patient's weight (mg/kg -> mg) changed while the
  // request was out: the reply converts a line that is no longer there (e.g. a route switched to intranasal and back
  // to IV: the nasal reply would turn the IV line into whole devices) and would overwrite what was typed. Keep the
  // form; if its unit is still one the line does not accept, convert the dose now (its own request), else only drop
  // the old unit from the menu.
  if (keys.some((k) => field(`${base}.${k}`).value !== line[k]) || field("patient.weight_kg").value !== weight) {
    if (fillUnits(base) !== null) convertDose(base);
    return;
  }
  const sel = field(`${base}.dose_unit`);
  sel.innerHTML = unitOptions(body.units || lineUnits(base));
  sel.value = body.dose_unit && [...sel.options].some((o) => o.value === body.dose_unit) ? body.dose_unit : sel.options[0].value;
  setValue(`${base}.dose`, body.dose);
  // the titration's levels are in the first line's unit: refilled from the converted dose (syncRegimen)
  if (!base.includes(".lines.") && sel.value !== line.dose_unit) setValue(`${base}.titration.doses`, "");
  if (body.message) state.notes[`${base}.dose`] = body.message; else delete state.notes[`${base}.dose`];
  showMessages([{ field: `${base}.dose`, message: body.message || "" }].filter((x) => x.message), "warning");
  syncRegimen(Number(base.split(".")[1]));
  schedule(0);
}

// after a drug or route change: the unit menu follows; a unit no longer accepted is converted (true: the
// conversion schedules the simulation)
function followUnits(base, wanted) {
  delete state.notes[`${base}.dose`];
  if (fillUnits(base, wanted) === null) return false;
  convertDose(base);
  return true;
}

function showNotes() {
  showMessages(Object.entries(state.notes).map(([f, message]) => ({ field: f, message })), "warning");
}

/* extra dose lines of a regimen (e.g. a loading bolus, then an infusion; or a second drug) */
function addLine(i, values) {
  if (state.lines[i].length >= (state.meta.max_extra_lines || 4)) return;
  const j = state.lines[i].length;
  const f = (k) => `regimen.${i}.lines.${j}.${k}`;
  const div = document.createElement("div");
  div.className = "line";
  div.dataset.line = String(j);
  div.innerHTML = `
    <div class="line-head"><span>dose line ${j + 2}</span><button type="button" class="small" data-remove-line="${i}.${j}" aria-label="remove dose line ${j + 2}">remove</button></div>
    <div class="grid3">
      <label class="field span2">Drug<select data-field="${f("drug")}"></select><span class="msg" data-msg="${f("drug")}"></span></label>
      <label class="field">Route<select data-field="${f("route")}"></select><span class="msg" data-msg="${f("route")}"></span></label>
      <label class="field span2">Dose or rate<span class="dose-row"><input type="text" inputmode="decimal" data-field="${f("dose")}"><select data-field="${f("dose_unit")}">${unitOptions()}</select></span><span class="msg" data-msg="${f("dose")}"></span></label>
      <label class="field">Infusion (min)<input type="text" inputmode="decimal" data-field="${f("duration_min")}"><span class="msg" data-msg="${f("duration_min")}"></span></label>
      <label class="field span2">Start at<span class="dose-row"><input type="text" inputmode="decimal" data-field="${f("at")}"><select data-field="${f("at_unit")}"><option value="h">hours</option><option value="min">min</option><option value="d">days</option></select></span><span class="msg" data-msg="${f("at")}"></span></label>
      <label class="field">Doses<input type="text" inputmode="numeric" data-field="${f("count")}"><span class="msg" data-msg="${f("count")}"></span></label>
      <label class="field span2">Every<span class="dose-row"><input type="text" inputmode="decimal" data-field="${f("every")}"><select data-field="${f("every_unit")}"><option value="d">days</option><option value="h">hours</option></select></span><span class="msg" data-msg="${f("every")}"></span></label>
    </div>`;
  $(`#lines-${i}`).appendChild(div);
  const drug = field(f("drug"));
  state.meta.drugs.forEach((d) => option(drug, d));
  const v = Object.assign({ drug: "racemic-ketamine", route: "iv-infusion", dose: 0.5, dose_unit: "mg/kg/h", duration_min: 60,
    at: 1, at_unit: "h", count: 1, every: "", every_unit: "d" }, values || {});
  setValue(f("drug"), v.drug);
  fillRoutes(i, j);
  Object.entries(v).forEach(([k, x]) => { if (k !== "drug") setValue(f(k), x); });
  syncLine(i, j);
  state.lines[i].push(j);
  followUnits(`regimen.${i}.lines.${j}`, v.dose_unit);
}

function syncLine(i, j) {
  const route = field(`regimen.${i}.lines.${j}.route`).value;
  field(`regimen.${i}.lines.${j}.duration_min`).disabled = route !== "iv-infusion";
}

function removeLastLine(i, j) {
  // lines are numbered in order; removing one renumbers the rest by rebuilding them
  const kept = state.lines[i].filter((x) => x !== j).map((x) => readLine(i, x));
  Object.keys(state.notes).filter((k) => k.startsWith(`regimen.${i}.lines.`)).forEach((k) => { delete state.notes[k]; });
  $(`#lines-${i}`).innerHTML = "";
  state.lines[i] = [];
  kept.forEach((v) => addLine(i, v));
}

function readLine(i, j) {
  const out = {};
  ["drug", "route", "dose", "dose_unit", "duration_min", "at", "at_unit", "every", "every_unit", "count"]
    .forEach((k) => { out[k] = field(`regimen.${i}.lines.${j}.${k}`).value; });
  return out;
}

function fillRoutes(i, j) {
  const base = j === undefined ? `regimen.${i}` : `regimen.${i}.lines.${j}`;
  const drug = field(`${base}.drug`).value;
  const sel = field(`${base}.route`);
  const keep = sel.value;
  sel.innerHTML = "";
  (state.meta.allowed_routes[drug] || state.meta.routes).forEach((r) => option(sel, r, ROUTE_LABEL[r] || r));
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

function syncRegimen(i) {
  const route = field(`regimen.${i}.route`).value;
  const drug = field(`regimen.${i}.drug`).value;
  field(`regimen.${i}.duration_min`).disabled = route !== "iv-infusion";
  const needsDose = state.meta.needs_dose[drug];
  field(`regimen.${i}.dose`).placeholder = needsDose ? "required" : "none";
  const count = Number(field(`regimen.${i}.count`).value);
  field(`regimen.${i}.every`).placeholder = count > 1 ? "required" : "single dose";
  const tit = field(`regimen.${i}.titration.enabled`).checked;
  $(`[data-titration="${i}"]`).hidden = !tit;
  if (tit && !field(`regimen.${i}.titration.doses`).value.trim() && field(`regimen.${i}.dose`).value.trim()) {
    const d = Number(field(`regimen.${i}.dose`).value);    // a start to edit: the dose, then 1.5x (56 -> 84 mg)
    if (d > 0) field(`regimen.${i}.titration.doses`).value = [d, d * 1.5].map((x) => +x.toPrecision(3)).join(", ");
  }
  if (tit && !field(`regimen.${i}.titration.sessions`).value.trim()) {
    const n = Math.min(Number(field(`regimen.${i}.count`).value) || 1, 5);   // sessions 2 .. 5 (or the last)
    field(`regimen.${i}.titration.sessions`).value = Array.from({ length: Math.max(n - 1, 0) }, (_, k) => k + 2).join(", ");
  }
  const on = field(`regimen.${i}.enabled`).checked;
  $(`.regimen[data-slot="${i}"]`).classList.toggle("off", !on);
  if (!state.nameEdited[i]) field(`regimen.${i}.name`).value = autoName(i);
}

// a box's value with the unit beside it, named once when the box already carries it ('0.5 mg/kg' typed beside the
// mg/kg menu named the arm '0.5 mg/kg mg/kg'; the server reads it once too); another typed unit is shown as typed
function withUnit(value, unit) {
  const m = value.match(/^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*)?$/);
  if (!m || !m[2]) return `${value} ${unit}`;
  return m[2].replace(/\s+/g, "") === unit.replace(/\s+/g, "") ? `${m[1]} ${unit}` : value;
}

function autoName(i) {
  const g = (k) => field(`regimen.${i}.${k}`).value.trim();
  const drug = g("drug");
  let name = `${SLOTS[i]}: ${SHORT[drug] || drug}`;
  if (g("dose")) name += ` ${withUnit(g("dose"), g("dose_unit"))}`;
  name += ` ${ROUTE_SHORT[g("route")] || g("route")}`;
  const n = Number(g("count"));
  if (n > 1 && g("every")) name += ` every ${withUnit(g("every"), g("every_unit"))} ×${n}`;
  if (state.lines[i].length) name += ` +${state.lines[i].length} line${state.lines[i].length > 1 ? "s" : ""}`;
  if (field(`regimen.${i}.background_antidepressant`).checked) name += " + AD";
  if (field(`regimen.${i}.titration.enabled`).checked) name += " (titrated)";
  return name;
}

function field(path) { return document.querySelector(`[data-field="${path}"]`); }

function scaleName(s) {
  const sc = state.meta && state.meta.scales[s];
  return (sc && sc.name) || String(s).toUpperCase();
}

/* re-response (a hypothesis) acts on a new episode: its checkbox is enabled only while recurrence is on */
function syncReResponse() {
  const rec = field("patient.recurrence"), rr = field("patient.re_response");
  if (rec && rr) rr.disabled = !rec.checked;
}

function setValue(path, v) {
  const el = field(path);
  if (!el) return;
  if (el.type === "checkbox") el.checked = !!v; else el.value = v ?? "";
}

function buildForm(defaults) {
  const m = state.meta;
  m.genotypes.forEach((g) => option(field("patient.genotype"), g));
  m.conditions.forEach((c) => option(field("patient.condition"), c, c.replace("_", " ")));
  Object.keys(m.scales).forEach((s) => option(field("patient.scale"), s, scaleName(s)));
  const cm = $("#comedications");
  m.comedications.forEach((c) => {
    const l = document.createElement("label");
    l.className = "check";
    l.innerHTML = `<input type="checkbox" data-field="patient.comedications.${esc(c)}"> ${esc(c)}`;
    cm.appendChild(l);
  });
  const p = defaults.patient;
  Object.entries(p).forEach(([k, v]) => { if (k !== "comedications") setValue(`patient.${k}`, v); });
  syncReResponse();
  (p.comedications || []).forEach((c) => setValue(`patient.comedications.${c}`, true));
  buildParameterCard();
  const box = $("#regimens");
  for (let i = 0; i < m.max_regimens; i++) {
    box.appendChild(regimenCard(i));
    const r = DEFAULT_REGIMENS[i];
    setValue(`regimen.${i}.drug`, r.drug);
    fillRoutes(i);
    Object.entries(r).forEach(([k, v]) => { if (k !== "drug") setValue(`regimen.${i}.${k}`, v); });
    fillUnits(`regimen.${i}`, r.dose_unit);
    syncRegimen(i);
  }
  setValue("trial.times", m.default_endpoint_times);
  setValue("power.sizes", m.power.sizes);
  setValue("power.measure", m.power.measure);
  setValue("power.replicates", m.power.replicates);
  field("power.replicates").max = m.power.max_replicates;
  syncPowerTimes(true);
  $("#notice").textContent = m.notice;
  $("#prov").textContent = `version ${m.version} · parameter set ${m.parameter_set}`;
}

/* ---------- reading the form ---------- */
function readForm() {
  const v = (p) => { const el = field(p); return el.type === "checkbox" ? el.checked : el.value; };
  const patient = {};
  ["weight_kg", "age_years", "sex", "genotype", "crp_mg_l", "condition", "scale", "baseline", "treatment_resistant",
    "recurrence", "re_response", "recurrence_clock"]
    .forEach((k) => { patient[k] = v(`patient.${k}`); });
  patient.re_response = patient.recurrence && patient.re_response;   // acts on a new episode: only with recurrence
  patient.comedications = state.meta.comedications.filter((c) => v(`patient.comedications.${c}`));
  const regimens = [];
  for (let i = 0; i < state.meta.max_regimens; i++) {
    const r = {};
    ["enabled", "name", "drug", "route", "dose", "dose_unit", "duration_min", "every", "every_unit", "count",
      "background_antidepressant"].forEach((k) => { r[k] = v(`regimen.${i}.${k}`); });
    r.lines = state.lines[i].map((j) => readLine(i, j));
    r.titration = {};
    ["enabled", "doses", "sessions", "increase_below_pct"].forEach((k) => { r.titration[k] = v(`regimen.${i}.titration.${k}`); });
    regimens.push(r);
  }
  const experiments = {};
  ["ampa_block", "mtor_block", "spine_block"].forEach((k) => { experiments[k] = v(`experiments.${k}`); });
  const trial = {};
  ["size", "seed", "times", "placebo_arm", "fix_genotype_crp", "age_min", "age_max"].forEach((k) => { trial[k] = v(`trial.${k}`); });
  const power = {};
  ["sizes", "measure", "time", "test", "alpha", "target", "dropout", "margin", "replicates"].forEach((k) => { power[k] = v(`power.${k}`); });
  return { patient, regimens, experiments, trial, power, view: state.viewIndex, overrides: { ...state.overrides },
    observed: state.observed ? { csv: state.observed.csv } : null, columns: state.columns };
}

/* ---------- messages at fields ---------- */
function clearMessages(prefixes) {
  $$("[data-msg]").forEach((el) => {
    if (prefixes && !prefixes.some((p) => el.dataset.msg.startsWith(p))) return;
    el.textContent = ""; el.className = el.className.replace(/\b(error|warning)\b/g, "").trim();
  });
  $$("[data-field]").forEach((el) => {
    if (prefixes && !prefixes.some((p) => el.dataset.field.startsWith(p))) return;
    el.classList.remove("invalid", "warned");
  });
}

function showMessages(list, kind) {
  (list || []).forEach(({ field: f, message }) => {
    let msg = document.querySelector(`[data-msg="${f}"]`);
    if (!msg) msg = document.querySelector('[data-msg="general"]');
    msg.textContent = msg.textContent ? `${msg.textContent} ${message}` : message;
    msg.classList.add(kind);
    const el = field(f) || (f.startsWith("regimen.") && field(f.split(".").slice(0, 2).join(".") + ".dose"));
    if (el) el.classList.add(kind === "error" ? "invalid" : "warned");
  });
}

function banner(text, kind) {
  const b = $("#banner");
  if (!text) { b.hidden = true; b.textContent = ""; return; }
  b.hidden = false; b.textContent = text; b.className = `banner ${kind || ""}`;
}

/* ---------- simulate ---------- */
function schedule(delay) {
  clearTimeout(state.timer);
  state.timer = setTimeout(simulate, delay);
}

async function simulate() {
  const seq = ++state.seq;
  if (state.inflight) state.inflight.abort();
  const ctrl = new AbortController();
  state.inflight = ctrl;
  const t0 = performance.now();
  let resp, body;
  try {
    resp = await fetch("/api/simulate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(readForm()), signal: ctrl.signal });
    window.ketasimTimings = { response: performance.now() - t0 };
    body = await resp.json();
    window.ketasimTimings.parsed = performance.now() - t0;
  } catch (e) {
    if (e.name === "AbortError") return;
    banner(`The dashboard server did not answer (${e.message}). Is \`ketasim serve\` still running?`);
    return;
  }
  if (seq !== state.seq) return;
  state.inflight = null;
  clearMessages(["patient.", "regimen.", "experiments", "general", "overrides", "observed"]);
  showNotes();
  if (!resp.ok) {
    showMessages(body.errors, "error");
    showMessages(body.warnings, "warning");
    banner(state.data ? "Fix the marked field; the plots still show the last valid input." : "Fix the marked field.");
    document.body.dataset.status = "invalid";
    return;
  }
  banner("");
  showMessages(body.warnings, "warning");
  $("#observed-info").textContent = body.observed ? `${body.observed.n} observed points drawn (${state.observed.name})` : "";
  state.data = body;
  draw(body);
  const ms = performance.now() - t0;
  window.ketasimTimings.drawn = ms;
  state.drawn = seq;
  window.ketasimLastLatencyMs = ms;
  document.body.dataset.status = "ok";
  document.body.dataset.seq = String(seq);
  $("#latency").textContent = `updated in ${Math.round(ms)} ms (engine ${body.timing_ms.engine} ms)`;
}

function draw(d) {
  const fig = d.figure;
  fig.data.forEach((tr) => { if (tr.x_ref) { tr.x = d[tr.x_ref]; delete tr.x_ref; } });
  const menu = fig.layout.updatemenus && fig.layout.updatemenus[0];
  if (menu) {
    menu.active = state.viewIndex;
    Object.entries(menu.buttons[state.viewIndex].args[0]).forEach(([k, v]) => {
      const [ax, prop] = k.split("."); fig.layout[ax][prop] = v;
    });
  }
  state.figureShapes = fig.layout.shapes || [];   // the figure's own lines (the typical patient's new episode)
  fig.layout.shapes = markerShapes(fig.layout);
  Plotly.react("cascade", fig.data, fig.layout, fig.config);
  const slider = $("#time-slider");
  slider.max = String(d.time_h.length - 1);
  slider.value = String(nearestIndex(d.time_h, state.timeH));
  drawChain(false);
  drawNumbers(d);
  $("#summary").textContent = d.summary;
}

function nearestIndex(arr, t) {
  let best = 0;
  for (let i = 0; i < arr.length; i++) if (Math.abs(arr[i] - t) < Math.abs(arr[best] - t)) best = i;
  return best;
}

function markerShapes(layout) {
  const t = state.timeH;
  const cols = new Set();
  const shapes = [...(state.figureShapes || [])];
  Object.keys(layout).filter((k) => /^xaxis\d*$/.test(k)).forEach((k) => {
    const dom = JSON.stringify(layout[k].domain);
    if (cols.has(dom)) return;
    cols.add(dom);
    shapes.push({ type: "line", xref: k.replace("axis", ""), yref: "paper", x0: t, x1: t, y0: 0, y1: 1,
      line: { color: "#111827", width: 1, dash: "dot" }, layer: "above" });
  });
  return shapes;
}

/* ---------- the chain diagram ---------- */
function mix(c1, c2, f) {
  const p = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
  const a = p(c1), b = p(c2);
  return `rgb(${a.map((x, i) => Math.round(x + (b[i] - x) * f)).join(",")})`;
}

function level(col, v, r) {
  // -1..1: where the link stands between its drug-free level and its largest excursion in these regimens
  if (v === null || v === undefined) return 0;
  if (r.kind === "score") {
    const span = Math.max(r.baseline - r.min, 1e-9);
    return Math.max(-1, Math.min(1, (r.baseline - v) / span));
  }
  if (v >= r.baseline) return Math.min(1, (v - r.baseline) / Math.max(r.max - r.baseline, 1e-9));
  return -Math.min(1, (r.baseline - v) / Math.max(r.baseline - r.min, 1e-9));
}

function boxColor(col, lv, kind) {
  const f = Math.min(1, Math.abs(lv)) * 0.85;
  if (kind === "score") return lv >= 0 ? mix("#ffffff", "#10b981", f) : mix("#ffffff", "#ef4444", f);
  return lv >= 0 ? mix("#ffffff", "#f59e0b", f) : mix("#ffffff", "#60a5fa", f);
}

function valueText(col, unit, v) {
  if (v === null || v === undefined) return "–";
  if (unit === "%") return `${Math.round(v * 100)}%`;
  if (unit === "x") return `×${v.toFixed(2)}`;
  if (unit === "ng/mL") return `${v < 10 ? v.toFixed(1) : Math.round(v)} ng/mL`;
  if (unit === "mmHg") return `${v >= 0 ? "+" : ""}${v.toFixed(1)} mmHg`;
  if (unit === "pts") return `${v.toFixed(1)}`;
  if (unit === "CADSS") return v.toFixed(1);
  return v.toFixed(2);
}

function drawChain(moveMarker = true) {
  const d = state.data;
  if (!d) return;
  const idx = Number($("#time-slider").value);
  const t = d.time_h[idx];
  state.timeH = t;
  $("#time-label").textContent = `${fmtTime(t)} after the first dose`;
  const chain = state.meta.chain, side = state.meta.side_chain;
  // lay the links out in rows that fit the card: 10 in a row on a desktop, 5 on a tablet, 2 on a phone,
  // so that the text stays at its nominal size (the SVG is drawn 1:1 in CSS pixels)
  const avail = Math.max(280, $("#chain").clientWidth || 1100);
  const perRow = avail >= 1000 ? chain.length : avail >= 560 ? Math.ceil(chain.length / 2) : 2;
  const W = avail, bh = 44, vgap = 18;
  const gap = perRow > 1 ? Math.min(40, Math.max(14, (W - perRow * 80) / (perRow - 1))) : 0;
  const bw = (W - gap * (perRow - 1)) / perRow;
  const linkRows = Math.ceil(chain.length / perRow);
  const sideCols = W >= 640 ? side.length : 1;
  const sideRows = Math.ceil(side.length / sideCols);
  const rowH = 22 + linkRows * (bh + vgap) + (sideCols === side.length ? 0 : 18) + sideRows * 32 + 16;
  const H = d.arms.length * rowH + 4;
  let svg = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" role="img" aria-label="the chain at ${esc(fmtTime(t))}">`;
  svg += `<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#9ca3af"/></marker></defs>`;
  d.arms.forEach((arm, a) => {
    const y0 = a * rowH;
    const vals = d.chain[arm.name];
    svg += `<text x="0" y="${y0 + 14}" font-size="13" font-weight="700" fill="${arm.color}">${esc(arm.name)}</text>`;
    chain.forEach((c, i) => {
      // a snake: even rows run left to right, odd rows right to left, so every arrow joins neighbours
      const row = Math.floor(i / perRow), col = row % 2 === 0 ? i % perRow : perRow - 1 - (i % perRow);
      const x = col * (bw + gap), y = y0 + 22 + row * (bh + vgap);
      const v = vals[c.column][idx];
      const r = d.chain_ranges[c.column];
      const lv = level(c.column, v, r);
      const unit = c.unit === "pts" ? scaleName(d.scale) : c.unit;
      svg += `<g class="link" data-column="${c.column}" data-arm="${esc(arm.name)}" data-level="${lv.toFixed(3)}">`;
      svg += `<rect x="${x}" y="${y}" width="${bw}" height="${bh}" rx="6" fill="${boxColor(c.column, lv, r.kind)}" stroke="${arm.color}" stroke-width="1.2"/>`;
      svg += `<text x="${x + bw / 2}" y="${y + 16}" font-size="10.5" text-anchor="middle" fill="#374151">${esc(c.label)}</text>`;
      svg += `<text x="${x + bw / 2}" y="${y + 34}" font-size="13" font-weight="650" text-anchor="middle" fill="#111827">${esc(valueText(c.column, c.unit, v))}${c.unit === "pts" ? ` <tspan font-size="9.5" font-weight="400">${esc(unit)}</tspan>` : ""}</text>`;
      svg += `</g>`;
      const sameRow = Math.floor((i + 1) / perRow) === row;
      if (i < chain.length - 1 && sameRow && row % 2 === 0) svg += `<line x1="${x + bw + 2}" y1="${y + bh / 2}" x2="${x + bw + gap - 2}" y2="${y + bh / 2}" stroke="#9ca3af" stroke-width="1.5" marker-end="url(#arr)"/>`;
      else if (i < chain.length - 1 && sameRow) svg += `<line x1="${x - 2}" y1="${y + bh / 2}" x2="${x - gap + 2}" y2="${y + bh / 2}" stroke="#9ca3af" stroke-width="1.5" marker-end="url(#arr)"/>`;
      else if (i < chain.length - 1) svg += `<line x1="${x + bw / 2}" y1="${y + bh + 2}" x2="${x + bw / 2}" y2="${y + bh + vgap - 2}" stroke="#9ca3af" stroke-width="1.5" marker-end="url(#arr)"/>`;
    });
    const compactSide = sideCols !== side.length;
    let ys = y0 + 22 + linkRows * (bh + vgap) - 6;
    svg += `<text x="0" y="${ys + 17}" font-size="11" fill="#6b7280">side effects</text>`;
    if (compactSide) ys += 22;
    const sx0 = compactSide ? 0 : 80;
    const sbw = compactSide ? W : Math.min(220, (W - sx0 - 12 * (side.length - 1)) / side.length);
    side.forEach((c, i) => {
      const x = sx0 + (compactSide ? 0 : i * (sbw + 12));
      const yS = ys + (compactSide ? i * 32 : 0);
      const v = vals[c.column][idx];
      const r = d.chain_ranges[c.column];
      const lv = level(c.column, v, r);
      svg += `<g class="link" data-column="${c.column}" data-arm="${esc(arm.name)}" data-level="${lv.toFixed(3)}">`;
      svg += `<rect x="${x}" y="${yS}" width="${sbw}" height="26" rx="5" fill="${boxColor(c.column, lv, r.kind)}" stroke="#d1d5db"/>`;
      svg += `<text x="${x + 8}" y="${yS + 17}" font-size="11" fill="#374151">${esc(c.label)}</text>`;
      svg += `<text x="${x + sbw - 8}" y="${yS + 17}" font-size="12" font-weight="650" text-anchor="end" fill="#111827">${esc(valueText(c.column, c.unit, v))}</text></g>`;
    });
  });
  svg += "</svg>";
  $("#chain").innerHTML = svg;
  if (moveMarker && $("#cascade").layout) Plotly.relayout("cascade", { shapes: markerShapes($("#cascade").layout) });
}

function drawNumbers(d) {
  const sc = scaleName(d.scale);
  const cols = [
    ["peak_cp_ketamine_ng_ml", "plasma ketamine peak (ng/mL)", (v) => fmtNum(v)],
    ["peak_nmda_block_interneuron", "NMDA block peak (interneurons)", (v) => `${Math.round(v * 100)}%`],
    ["peak_glutamate", "glutamate peak", (v) => `×${v.toFixed(2)}`],
    ["peak_mtorc1", "mTORC1 peak", (v) => `×${v.toFixed(2)}`],
    ["peak_spine_density", "spines peak", (v) => `×${v.toFixed(2)}`],
    ["peak_cadss", "CADSS peak", (v) => v.toFixed(1)],
    ["peak_sbp_change_mmhg", "SBP rise peak (mmHg)", (v) => `+${v.toFixed(1)}`],
    ["score_24h", `${sc} at 24 h`, (v) => (v === null ? "–" : v.toFixed(1))],
    ["score_168h", `${sc} at 7 d`, (v) => (v === null ? "–" : v.toFixed(1))],
    ["score_672h", `${sc} at 28 d`, (v) => (v === null ? "–" : v.toFixed(1))],
    ["discharge_ready_h", "discharge criteria", (v) => (v === null ? "–" : v <= 0 ? "met throughout" : `met after ${fmtTime(v)}`)],
  ];
  if (d.key_numbers.some((r) => r.dose_path)) cols.push(["dose_path", "dose path (titration)", (v) => v || "fixed"]);
  const arms = d.key_numbers.map((row) => ({ row, color: (d.arms.find((a) => a.name === row.arm) || {}).color || "#999" }));
  let h = `<div class="table-wrap"><table class="numbers"><thead><tr><th></th>${arms.map((a) => `<th><span class="arm-dot" style="background:${a.color}"></span>${esc(a.row.arm)}</th>`).join("")}</tr></thead><tbody>`;
  cols.forEach((c) => {
    h += `<tr data-key="${c[0]}"><td>${esc(c[1])}</td>${arms.map((a) => `<td>${esc(c[2](a.row[c[0]]))}</td>`).join("")}</tr>`;
  });
  $("#key-numbers").innerHTML = h + "</tbody></table></div>";
}

/* ---------- downloads ---------- */
async function download(url, payload, fallbackName) {
  const resp = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
  if (!resp.ok) {
    const body = await resp.json();
    clearMessages(["patient.", "regimen.", "experiments", "general", "trial."]);
    showMessages(body.errors, "error");
    banner("Fix the marked field before downloading.");
    return;
  }
  const blob = await resp.blob();
  const cd = resp.headers.get("Content-Disposition") || "";
  const m = /filename="([^"]+)"/.exec(cd);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = m ? m[1] : fallbackName;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 5000);
}

/* ---------- virtual trial ---------- */
async function runTrial() {
  clearMessages(["trial.", "general"]);
  const btn = $("#run-trial");
  const resp = await fetch("/api/trial", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(readForm()) });
  const body = await resp.json();
  // the trial's own notes (e.g. its mean age bounded to 18-90 for an older patient); the arms' warnings are shown
  // by the simulation already
  const trialNotes = (body.warnings || []).filter((w) => w.field.startsWith("trial."));
  if (!resp.ok) {
    showMessages(body.errors, "error"); showMessages(trialNotes, "warning");
    $("#trial-status").textContent = "not started"; return;
  }
  showMessages(trialNotes, "warning");
  btn.disabled = true;
  state.trialJob = body.job;
  document.body.dataset.trial = "running";
  $("#trial-progress").value = 0;
  $("#trial-status").textContent = "running…";
  const poll = async () => {
    let st;
    try { st = await (await fetch(`/api/trial/${body.job}`)).json(); } catch (e) { setTimeout(poll, 500); return; }
    $("#trial-progress").value = st.progress || 0;
    if (st.status === "running") {
      $("#trial-status").textContent = `running… ${Math.round((st.progress || 0) * 100)}% (${st.elapsed_s} s)`;
      setTimeout(poll, 250);
      return;
    }
    btn.disabled = false;
    if (st.status === "error") {
      showMessages(st.errors, "error");
      $("#trial-status").textContent = "failed";
      document.body.dataset.trial = "error";
      return;
    }
    $("#trial-status").textContent = `done in ${st.elapsed_s} s`;
    drawTrial(st.view, body.job);
    document.body.dataset.trial = "done";
  };
  poll();
}

function drawTrial(v, job) {
  $("#trial-results").hidden = false;
  const names = v.arms.map((a) => a.name);
  const rows = {};
  const order = [];
  v.table.forEach((r) => {
    const level = typeof r.dose_level === "string" ? r.dose_level : "";   // titrated arms: one row per final dose
    const key = `${r.measure}|${r.time}|${level}`;
    if (!rows[key]) { rows[key] = { measure: r.measure, time: level ? `from ${r.time}` : r.time, level, cells: {} }; order.push(key); }
    rows[key].cells[r.arm] = r;
  });
  const label = { mean: "mean score", mean_change: "mean change", response_rate: "response (%)", remission_rate: "remission (%)",
    cadss_peak: "CADSS peak", sbp_change_peak: "SBP rise peak (mmHg)", discharge_2h_rate: "discharge by 2 h (%)" };
  let h = `<div class="table-wrap"><table class="numbers" id="endpoint-table"><thead><tr><th>endpoint</th><th>time</th>${v.arms.map((a) => `<th><span class="arm-dot" style="background:${a.color}"></span>${esc(a.name)} <span class="hint">n=${v.result.arms[a.name].n}</span></th>`).join("")}</tr></thead><tbody>`;
  order.forEach((k) => {
    const r = rows[k];
    const what = r.level ? `on ${r.level} at the end (%)` : (label[r.measure] || r.measure);
    h += `<tr data-measure="${esc(r.measure)}" data-time="${esc(r.time)}"${r.level ? ` data-level="${esc(r.level)}"` : ""}><td>${esc(what)}</td><td>${esc(r.time)}</td>`;
    names.forEach((n) => {
      const c = r.cells[n];
      h += c ? `<td data-arm="${esc(n)}" data-value="${c.value}">${fmtNum(c.value)} <span class="hint">[${fmtNum(c.ci_low)}, ${fmtNum(c.ci_high)}]</span></td>` : "<td>–</td>";
    });
    h += "</tr>";
  });
  h += "</tbody></table></div><p class='hint'>value [95% interval]; ratings include rater noise and a week-to-week fluctuation of severity; " +
    `seed ${v.result.seed}, parameter set ${esc(v.result.parameter_set)}.` +
    `${v.definitions ? " " + esc(v.definitions) : ""}</p>`;
  $("#trial-table").innerHTML = h;
  $("#dl-trial-json").href = `/api/trial/${job}/result.json`;
  $("#dl-trial-report").href = `/api/trial/${job}/report.html?download=1`;
  Plotly.react("trial-endpoints", v.endpoint_figure.data, v.endpoint_figure.layout, v.endpoint_figure.config);
  Plotly.react("trial-bands", v.figure.data, v.figure.layout, v.figure.config);
}

/* ---------- covariate effects (this patient, one covariate changed) ---------- */
// '+3.3', '-1.0'; a difference that rounds to zero is '+0.0' ('-0.0' read as a small decrease)
const signedTenths = (v) => { const t = Number(v).toFixed(1); return t === "-0.0" ? "+0.0" : (Number(t) >= 0 ? "+" : "") + t; };
async function runCovariates() {
  const btn = $("#run-covariates");
  btn.disabled = true;
  document.body.dataset.covariates = "running";
  $("#covariates-status").textContent = "computing…";
  clearMessages(["covariates."]);
  let resp, body;
  try {
    resp = await fetch("/api/covariates", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(readForm()) });
    body = await resp.json();
  } catch (e) {
    btn.disabled = false;
    $("#covariates-status").textContent = "";
    banner(`The dashboard server did not answer (${e.message}). Is \`ketasim serve\` still running?`);
    return;
  }
  btn.disabled = false;
  if (!resp.ok) {
    $("#covariates-status").textContent = "";
    document.body.dataset.covariates = "invalid";
    showMessages((body.errors || []).map((x) => ({ ...x, field: x.field && x.field.startsWith("covariates.") ? x.field : "covariates.run" })), "error");
    return;
  }
  $("#covariates-status").textContent = `${body.arm}, in ${Math.round(body.timing_ms.total)} ms`;
  // the page's warnings about this patient and regimen (e.g. a dose in the anesthetic range), in the card
  showMessages(body.warnings, "warning");
  const pk = new Set(["cmax", "auc_0_t", "auc_0_inf", "t_half"]);
  const contrasts = [...new Set(body.rows.map((r) => r.contrast))];
  const eps = body.endpoints.filter((e) => !pk.has(e) || body.analyte);
  const title = (e) => body.titles[e] || e;
  let h = "<div class='table-wrap'><table class='covariates'><thead><tr><th>contrast</th>" + eps.map((e) => `<th>${esc(title(e))}</th>`).join("") + "</tr></thead><tbody>";
  contrasts.forEach((c) => {
    h += `<tr data-contrast="${esc(c)}"><td>${esc(c)}</td>`;
    eps.forEach((e) => {
      const r = body.rows.find((x) => x.contrast === c && x.endpoint === e && x.analyte === (pk.has(e) ? body.analyte : ""));
      if (!r || r.value === null) { h += "<td>–</td>"; return; }
      const txt = r.statistic === "geometric mean ratio" ? `×${Number(r.value).toFixed(2)}` : signedTenths(r.value);
      h += `<td data-endpoint="${esc(e)}" data-value="${r.value}">${txt}</td>`;
    });
    h += "</tr>";
  });
  h += "</tbody></table></div><p class='hint'>PK: ratio to this patient as entered (grey band 0.80–1.25: no effect by the usual drug-interaction bounds); " +
    "others: difference (CADSS points, mmHg, score points at 24 h). The typical patient with this patient's covariates; " +
    `parameter set ${esc(body.provenance.parameter_set)}` +
    // the page's parameter edits, which the rows use (the hint named the set's hash only)
    (body.provenance.parameter_edits ? ` with your parameter edits: ${Object.entries(body.provenance.parameter_edits).map(([k, v]) => `${esc(k)} = ${v.value} ${esc(v.unit)} (installed ${v.installed})`).join(", ")}` : "") +
    ". The model's covariate effects, each as sourced in the parameter table.</p>";
  $("#covariates-table").innerHTML = h;
  $("#covariates-results").hidden = false;
  Plotly.react("covariates-forest", body.figure.data, body.figure.layout, body.figure.config);
  document.body.dataset.covariates = "done";
}

/* ---------- trial power (the virtual trial above, repeated) ---------- */
function syncPowerTimes(setDefault) {
  // the trial's endpoint times offered at the power card's time box; its default: 24 h if the trial reports it,
  // else the first time after 0
  const times = String(field("trial.times").value || "").split(",").map((t) => t.trim()).filter((t) => t && parseFloat(t) > 0);
  const list = $("#power-times");
  list.innerHTML = "";
  times.forEach((t) => { const o = document.createElement("option"); o.value = t; list.appendChild(o); });
  if (setDefault) {
    const day = times.find((t) => ["24h", "1d"].includes(t.replace(/\s+/g, "").toLowerCase()));
    setValue("power.time", day || times[0] || "24 h");
  }
}

async function runPower() {
  const btn = $("#run-power");
  btn.disabled = true;
  document.body.dataset.power = "running";
  $("#power-status").textContent = "computing…";
  clearMessages(["power."]);
  let resp, body;
  try {
    resp = await fetch("/api/power", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(readForm()) });
    body = await resp.json();
  } catch (e) {
    btn.disabled = false;
    $("#power-status").textContent = "";
    document.body.dataset.power = "error";
    banner(`The dashboard server did not answer (${e.message}). Is \`ketasim serve\` still running?`);
    return;
  }
  btn.disabled = false;
  if (!resp.ok) {
    $("#power-status").textContent = "";
    document.body.dataset.power = "invalid";
    // the card's own boxes show their messages; anything else (the trial's form) at the card's run line
    showMessages((body.errors || []).map((x) => ({ ...x, field: x.field && x.field.startsWith("power.") ? x.field : "power.run" })), "error");
    return;
  }
  drawPower(body);
  document.body.dataset.power = "done";
}

function drawPower(body) {
  const prov = body.provenance;
  const pct = (x) => `${Math.round(x * 100)} %`;
  const target = prov.target_power;
  $("#power-status").textContent = `${body.comparisons.length} comparison${body.comparisons.length > 1 ? "s" : ""}, in ${(body.timing_ms.total / 1000).toFixed(1)} s`;
  let summary = "<ul class='power-summary'>";
  body.comparisons.forEach((c) => {
    const unit = c.unit === "percentage points" ? "pp" : c.unit;
    const eff = c.effect === null ? "n/a" : `${c.effect >= 0 ? "+" : ""}${Number(c.effect).toFixed(1)} ${esc(unit)}`;
    const sizes = c.rows.map((r) => r.n_per_arm);
    const need = c.smallest_n_per_arm === null ? `none of the sizes (more than ${Math.max(...sizes)} per arm)` : `<b data-smallest="${c.smallest_n_per_arm}">${c.smallest_n_per_arm}</b> per arm`;
    summary += `<li data-arm="${esc(c.arm)}"><b>${esc(c.label)}</b>: effect ${eff} (arm − ${esc(c.versus)}); smallest size tested reaching ${pct(target)} power: ${need}</li>`;
  });
  $("#power-summary").innerHTML = summary + "</ul>";
  const dropout = prov.dropout > 0;
  let h = "";
  body.comparisons.forEach((c) => {
    h += `<div class="table-wrap"><table class="numbers power" data-arm="${esc(c.arm)}"><caption class="hint">${esc(c.label)}</caption><thead><tr><th>patients per arm</th>` +
      (dropout ? "<th>analysed per arm</th>" : "") + "<th>power</th><th>95% interval</th><th>normal theory</th></tr></thead><tbody>";
    c.rows.forEach((r) => {
      const ok = r.power >= target;
      h += `<tr data-n="${r.n_per_arm}"${ok ? " class='reached'" : ""}><td>${r.n_per_arm}</td>` + (dropout ? `<td>${fmtNum(r.analysed_per_arm)}</td>` : "") +
        `<td data-power="${r.power}">${r.power.toFixed(3)}</td><td>[${r.power_ci95_low.toFixed(3)}, ${r.power_ci95_high.toFixed(3)}]</td>` +
        `<td data-normal="${r.normal_theory_power === null ? "" : r.normal_theory_power}">${r.normal_theory_power === null ? "–" : r.normal_theory_power.toFixed(3)}</td></tr>`;
    });
    h += "</tbody></table></div>";
  });
  $("#power-table").innerHTML = h;
  $("#power-notice").textContent = (body.margin_hypothesis ? `Power: the share of ${prov.replicates.toLocaleString()} replicate trials per size whose one-sided test at alpha ${prov.alpha / 2} ` +
    `rejects ${body.margin_hypothesis}` :
    `Power: the share of ${prov.replicates.toLocaleString()} replicate trials per size whose two-sided test at alpha ${prov.alpha} ` +
    `favours the arm`) + `; 95% interval: Monte Carlo (Wilson); normal theory: the closed-form power of the pools' effect and spread (a cross-check). ` +
    `Patients drawn from pools of ${prov.pool.toLocaleString()} virtual patients per arm of the trial above (seed ${prov.seed}, parameter set ${prov.parameter_set})` +
    `${dropout ? `; dropout ${pct(prov.dropout)} at random, completers analysed` : ""}.` +
    `${prov.design_note ? ` Note: ${prov.design_note}` : ""} ${body.notice}`;
  $("#power-text").textContent = body.table;
  $("#power-results").hidden = false;
  Plotly.react("power-curves", body.figure.data, body.figure.layout, body.figure.config);
}

/* ---------- wiring ---------- */
function onControl(ev) {
  const el = ev.target;
  const f = el.dataset && el.dataset.field;
  if (!f || f.startsWith("trial.")) return;
  if (f === "patient.recurrence") syncReResponse();
  let converting = false;        // a dose is being converted to a unit its line accepts: that schedules the simulation
  const ml = /^regimen\.(\d)\.lines\.(\d)\.(\w+)$/.exec(f);
  if (ml) {
    const i = Number(ml[1]), j = Number(ml[2]);
    const base = `regimen.${i}.lines.${j}`;
    if (ml[3] === "drug" && ev.type === "change") {
      const p = PRESETS[el.value];
      fillRoutes(i, j);
      if (p && p.route && [...field(`${base}.route`).options].some((o) => o.value === p.route)) setValue(`${base}.route`, p.route);
    }
    if ((ml[3] === "drug" || ml[3] === "route") && ev.type === "change") converting = followUnits(base);
    if (ml[3] === "dose" || ml[3] === "dose_unit") delete state.notes[`${base}.dose`];
    syncLine(i, j);
    syncRegimen(i);
  }
  const mt = /^regimen\.(\d)\.titration\.\w+$/.exec(f);
  if (mt) syncRegimen(Number(mt[1]));
  const m = /^regimen\.(\d)\.(\w+)$/.exec(f);
  if (m) {
    const i = Number(m[1]);
    if (m[2] === "name") { state.nameEdited[i] = el.value.trim() !== "" && el.value !== autoName(i); }
    let wanted;                 // the preset's unit (the menu may not offer it before it follows the new drug)
    if (m[2] === "drug" && ev.type === "change") {
      const p = PRESETS[el.value];
      fillRoutes(i);
      if (p) Object.entries(p).forEach(([k, v]) => { if (k === "route") { if ([...field(`regimen.${i}.route`).options].some((o) => o.value === v)) setValue(`regimen.${i}.route`, v); } else if (k !== "dose_unit") setValue(`regimen.${i}.${k}`, v); });
      wanted = p && p.dose_unit;
    }
    if ((m[2] === "drug" || m[2] === "route") && ev.type === "change") converting = followUnits(`regimen.${i}`, wanted);
    if (m[2] === "dose" || m[2] === "dose_unit") delete state.notes[`regimen.${i}.dose`];
    syncRegimen(i);
  }
  if (f === "patient.condition" && ev.type === "change") {
    const sc = state.meta.default_scale[el.value];
    if (sc) { setValue("patient.scale", sc); setValue("patient.baseline", state.meta.scales[sc].default_baseline); }
    // the condition's default (true for depression only, as the engine's when the key is left out), unless the box
    // was set by hand
    const tr = (state.meta.default_treatment_resistant || {})[el.value];
    if (tr !== undefined && !state.trEdited) setValue("patient.treatment_resistant", tr);
  }
  if (f === "patient.treatment_resistant" && ev.type === "change") state.trEdited = true;
  if (f === "patient.scale" && ev.type === "change") setValue("patient.baseline", state.meta.scales[el.value].default_baseline);
  if (converting) return;
  schedule(ev.type === "input" && (el.type === "text" || el.type === "number") ? 60 : 0);
}

/* ---------- parameter overrides (what-if), with the source shown ---------- */
function buildParameterCard() {
  const sel = $("#param-name");
  state.meta.parameters.forEach((p) => option(sel, p.name, p.name));
  const pick = state.meta.parameters.find((p) => p.name === "pk.s_ketamine.cl") || state.meta.parameters[0];
  if (pick) sel.value = pick.name;
  showParameter();
}

function currentParameter() { return state.meta.parameters.find((p) => p.name === $("#param-name").value); }

function showParameter() {
  const p = currentParameter();
  if (!p) return;
  $("#param-value").value = p.name in state.overrides ? state.overrides[p.name] : String(p.value);
  $("#param-unit").textContent = p.unit;
  $("#param-info").textContent = `default ${fmtNum(p.value, 4)} ${p.unit} (${p.kind}, ${p.confidence}); plausible ${fmtNum(p.min, 4)}–${fmtNum(p.max, 4)}` + (p.note ? ` · ${p.note}` : "");
  const src = $("#param-source");
  src.innerHTML = "";
  if (/^https?:\/\//.test(p.source)) {
    const a = document.createElement("a"); a.href = p.source; a.textContent = p.source; a.target = "_blank"; a.rel = "noopener"; src.appendChild(a);
  } else src.textContent = p.source;
  const act = Object.entries(state.overrides);
  $("#param-active").textContent = act.length ? `active overrides: ${act.map(([k, v]) => `${k} = ${v}`).join(", ")}` : "";
}

function onParameterValue() {
  const p = currentParameter();
  if (!p) return;
  const raw = $("#param-value").value.trim();
  if (raw === "" || Number(raw) === p.value) delete state.overrides[p.name]; else state.overrides[p.name] = raw;
  showParameter();
  schedule(60);
}

function onResize() {
  const cols = window.innerWidth < 700 ? 1 : 2;
  if (cols !== state.columns) { state.columns = cols; schedule(0); return; }
  if (state.data) drawChain(false);
}

async function init() {
  const r = await fetch("/api/meta");
  const body = await r.json();
  state.meta = body.meta;
  buildForm(body.default_form);
  state.columns = window.innerWidth < 700 ? 1 : 2;
  $("#controls").addEventListener("input", onControl);
  $("#controls").addEventListener("change", onControl);
  $("#controls").addEventListener("click", (ev) => {
    const add = ev.target.closest("[data-add-line]");
    const rm = ev.target.closest("[data-remove-line]");
    if (add) { const i = Number(add.dataset.addLine); addLine(i); syncRegimen(i); schedule(0); }
    if (rm) { const [i, j] = rm.dataset.removeLine.split(".").map(Number); removeLastLine(i, j); syncRegimen(i); schedule(0); }
  });
  $("#param-name").addEventListener("change", showParameter);
  $("#param-value").addEventListener("input", onParameterValue);
  $("#param-reset").addEventListener("click", () => { const p = currentParameter(); if (p) delete state.overrides[p.name]; showParameter(); schedule(0); });
  $("#observed-file").addEventListener("change", async (ev) => {
    const file = ev.target.files && ev.target.files[0];
    if (!file) return;
    state.observed = { csv: await file.text(), name: file.name };
    schedule(0);
  });
  $("#observed-clear").addEventListener("click", () => { state.observed = null; $("#observed-file").value = ""; $("#observed-info").textContent = ""; schedule(0); });
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(onResize, 120); });
  $("#time-slider").addEventListener("input", () => requestAnimationFrame(() => drawChain(true)));
  $("#play").addEventListener("click", () => {
    if (state.playing) { clearInterval(state.playing); state.playing = null; $("#play").innerHTML = "&#9654;"; return; }
    const s = $("#time-slider");
    if (Number(s.value) >= Number(s.max)) s.value = "0";
    $("#play").innerHTML = "&#10074;&#10074;";
    state.playing = setInterval(() => {
      s.value = String(Math.min(Number(s.max), Number(s.value) + 3));
      drawChain();
      if (Number(s.value) >= Number(s.max)) { clearInterval(state.playing); state.playing = null; $("#play").innerHTML = "&#9654;"; }
    }, 60);
  });
  $("#dl-yaml").addEventListener("click", () => download("/api/scenario.yaml", readForm(), "ketasim-scenario.yaml"));
  $("#dl-csv").addEventListener("click", () => download("/api/results.csv", readForm(), "ketasim-results.csv"));
  $("#dl-prov").addEventListener("click", () => download("/api/provenance.json", readForm(), "ketasim-results.csv.provenance.json"));
  $("#dl-report").addEventListener("click", () => download("/api/report.html", readForm(), "ketasim-report.html"));
  $("#dl-trial-yaml").addEventListener("click", () => download("/api/scenario.yaml?trial=1", readForm(), "ketasim-trial.yaml"));
  $("#run-trial").addEventListener("click", runTrial);
  $("#run-covariates").addEventListener("click", runCovariates);
  $("#run-power").addEventListener("click", runPower);
  field("trial.times").addEventListener("input", () => syncPowerTimes(false));
  // the test box is the change's analysis (a rate is always compared by the two-proportion z-test)
  const syncPowerTest = () => { field("power.test").disabled = field("power.measure").value !== "mean_change"; };
  field("power.measure").addEventListener("change", syncPowerTest);
  syncPowerTest();
  await simulate();
  const gd = $("#cascade");
  gd.on("plotly_buttonclicked", (e) => { state.viewIndex = e.active; });
  document.body.dataset.ready = "1";
}

init().catch((e) => banner(`The dashboard could not start: ${e.message}`));
