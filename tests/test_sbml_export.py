"""SBML export (``ketasim export SCENARIO --sbml OUT.xml [--arm NAME]``): valid SBML L3V2, and libRoadRunner
simulating it over 28 days agrees with ``ketasim simulate --typical`` within 1e-3 of each variable's range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ketasim
from ketasim.cli import main
from ketasim.export import NOT_EXPRESSIBLE, validate_sbml

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "design_example.yaml"
AGREEMENT = 1e-3       # of each variable's range (issue 8)


@pytest.fixture(scope="module", params=["ketamine", "esketamine-twice-weekly", "midazolam"])
def exported(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("sbml") / f"{request.param}.xml"
    assert main(["export", str(EXAMPLE), "--sbml", str(out), "--arm", request.param]) == 0
    return request.param, out.read_text(encoding="utf-8")


def test_sbml_is_level3_version2_and_valid(exported):
    arm, text = exported
    doc = libsbml.readSBMLFromString(text)
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    assert validate_sbml(text) == []
    m = doc.getModel()
    for col in ("cp_s_ketamine_ng_ml", "glutamate", "spine_density", "score", "cadss", "sbp_change_mmhg"):
        assert m.getParameter(col) is not None, col
    assert "not expressible" in libsbml.XMLNode.convertXMLNodeToString(m.getNotes()).lower()
    assert "per-session summaries" in NOT_EXPRESSIBLE
    ki = m.getParameter("ki_s")
    assert ki.getUnits() == "micromolar" and "source: " in libsbml.XMLNode.convertXMLNodeToString(ki.getNotes())
    if arm == "esketamine-twice-weekly":       # 8 sessions: 7 after t = 0 are events
        assert m.getNumEvents() >= 7


def test_roadrunner_agrees_with_ketasim_typical_over_28_days(exported):
    arm, text = exported
    sc = ketasim.load_scenario(EXAMPLE)
    times = np.unique(np.concatenate([np.arange(0.0, 12.0, 1 / 12), np.arange(12.0, 672.0 + 1e-9, 1.0)]))
    res = ketasim.simulate(sc, typical=True, output_times_h=times).trajectories()
    ref = res[res["arm"] == arm]
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    cols = [c for c in ref.columns if c not in ("arm", "subject", "time_h")]
    rr.timeCourseSelections = ["time", *cols]
    got = rr.simulate(times=times)
    assert np.allclose(got[:, 0], times)
    moved = 0
    for j, c in enumerate(cols, start=1):
        want = ref[c].to_numpy()
        scale = np.max(np.abs(want))
        if scale == 0:
            # zero up to CVODE's rounding: its dense LU can leave ~1e-27 in a state whose derivative is exactly 0
            # (seen with the issue-7 recalibrated parameters; 15 orders below the absolute tolerance)
            assert np.max(np.abs(got[:, j])) <= 1e-20, c
            continue
        moved += np.ptp(want) > 0
        assert np.max(np.abs(got[:, j] - want)) / scale <= AGREEMENT, c
    assert moved >= 10          # a vacuous comparison would not move the chain


def test_export_unknown_arm_is_a_one_line_error(tmp_path, capsys):
    assert main(["export", str(EXAMPLE), "--sbml", str(tmp_path / "x.xml"), "--arm", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --arm") and err.count("\n") == 1
    assert not (tmp_path / "x.xml").exists()


def test_other_virtual_patients_by_setting_their_parameters(tmp_path):
    """The exported file is a template for the arm: setting a sampled patient's parameters (export.patient_values)
    and resetting reproduces ketasim's trajectory of that patient (how the benchmark loops 10,000 patients)."""
    from ketasim.engine import prepare_arm, run_arm
    from ketasim.export import export_sbml
    from ketasim.parameters import load_parameters
    from ketasim.population import sample_patients

    sc = ketasim.load_scenario(EXAMPLE)
    arm = sc.arms[0]
    p = load_parameters()
    rr = roadrunner.RoadRunner(export_sbml(sc, tmp_path / "k.xml").read_text(encoding="utf-8"))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    pats = sample_patients(sc.population, p, 5, n=2)
    times = np.unique(np.concatenate([np.arange(0.0, 6.0, 0.25), np.arange(6.0, 336.0 + 1e-9, 6.0)]))
    prep = prepare_arm(arm, sc.population, pats, times, params=p)
    want = run_arm(arm, sc.population, pats, times, params=p).out
    _assert_each_patient_agrees(rr, prep, want, times)


def _assert_each_patient_agrees(rr, prep, want, times):
    """Each patient of ``prep`` (its values set through ``patient_values``) integrated by libRoadRunner agrees with
    ketasim's trajectories ``want`` within AGREEMENT of every variable's range."""
    from ketasim.export import patient_values

    names = list(prep.definition.output_names)
    rr.timeCourseSelections = names
    for i in range(want.shape[0]):
        for k, v in patient_values(prep, i).items():
            rr[k] = v
        rr.reset()
        got = rr.simulate(times=times)
        for j, n in enumerate(names):
            scale = np.max(np.abs(want[i][:, j]))
            if scale > 0:
                # time in response integrates the severity's own solver error through the steep in-response
                # indicator: for a patient who only touches the band (4.6 h in response after one dose), an error of
                # 3e-4 in severity over 18 h moves it by 0.04 h (the DOP853 reference agrees with the SBML run); 0.1 h
                # (6 min) absolute is allowed there
                floor = 0.1 / scale if n == "response_time_h" else 0.0
                assert np.max(np.abs(got[:, j] - want[i][:, j])) / scale <= max(AGREEMENT, floor), (i, n)


def test_patient_values_carry_each_patients_absorption_rates(tmp_path):
    """patient_values sets each patient's absorption rates (pk_ka_0..9; PKModel.ka is (n, 10) since the nasal and gut
    rates vary between patients): a slow-nose patient (eta_ka_nasal = -1.5) of an intranasal arm agrees with ketasim.
    Without them the file kept the typical patient's rates and cp_ketamine was 44 % of its range off."""
    from ketasim.engine import prepare_arm, run_arm
    from ketasim.export import export_sbml, patient_values
    from ketasim.parameters import load_parameters
    from ketasim.population import patients_from_covariates

    p = load_parameters()
    sc = ketasim.quick_scenario("esketamine", "intranasal", "56 mg")
    arm = sc.arms[0]
    rr = roadrunner.RoadRunner(export_sbml(sc, tmp_path / "n.xml").read_text(encoding="utf-8"))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.setValue("absolute_tolerance", [1e-12] * rr.model.getNumRateRules())
    pats = patients_from_covariates(2, weight_kg=70, age_years=40, female=False, genotype_factor=1.0, crp_mg_l=1.8,
                                    eta_ka_nasal=np.array([-1.5, 0.0]), eta_ka_gut=np.array([1.5, 0.0]))
    times = np.unique(np.concatenate([np.arange(0.0, 12.0, 0.25), np.arange(12.0, 168.0 + 1e-9, 6.0)]))
    prep = prepare_arm(arm, sc.population, pats, times, params=p)
    want = run_arm(arm, sc.population, pats, times, params=p).out
    v = [patient_values(prep, i) for i in range(2)]
    assert v[0]["pk_ka_0"] < 0.5 * v[1]["pk_ka_0"] and v[0]["pk_ka_2"] > 2 * v[1]["pk_ka_2"]   # nasal, gut
    _assert_each_patient_agrees(rr, prep, want, times)


def test_a_variant_that_changes_what_the_file_rewrites_exports_its_own_equations():
    """SBML_FORMS and OFFSET_STATES are written for the default definition: a variant that redefines emax_model, or
    whose event sets bdnf_released, is exported with its own expressions (no traceback; it raised RuntimeError)."""
    from ketasim.engine import prepare_arm
    from ketasim.export import sbml_document
    from ketasim.model import DEFAULT_MODEL
    from ketasim.model.core import Event
    from ketasim.parameters import load_parameters
    from ketasim.population import typical_patient

    p = load_parameters()
    m = DEFAULT_MODEL.replace("emax_model", expr="emax * c / (c + ec50)")
    m = m.add(Event("session", "bdnf_released", "=", "0"))
    sc = ketasim.quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min", every="7 d",
                                count=2)
    prep = prepare_arm(sc.arms[0], sc.population, typical_patient(sc.population, p), np.array([0.0, 24.0]),
                       params=p, model=m)
    text = sbml_document(prep, p, sc.name)
    assert validate_sbml(text) == []
    model = libsbml.readSBMLFromString(text).getModel()
    emax = libsbml.formulaToL3String(model.getFunctionDefinition("emax_model").getMath())
    assert emax == "lambda(c, emax, ec50, hill, emax * c / (c + ec50))"
    assert model.getRateRule("bdnf_released") is not None and model.getParameter("bdnf_released_plus_1") is None
    assert any(ea.getVariable() == "bdnf_released" for ev in model.getListOfEvents()
               for ea in ev.getListOfEventAssignments())
    default = sbml_document(prepare_arm(sc.arms[0], sc.population, typical_patient(sc.population, p),
                                        np.array([0.0, 24.0]), params=p), p, sc.name)
    dm = libsbml.readSBMLFromString(default).getModel()
    assert "max(c, 0)" in libsbml.formulaToL3String(dm.getFunctionDefinition("emax_model").getMath())
    assert dm.getRateRule("bdnf_released_plus_1") is not None


@pytest.mark.parametrize("drug, route, dose, kw", [
    ("racemic-ketamine", "iv-bolus", "0.3 mg/kg", {"at": "2 h"}),          # bolus as an event assignment
    ("racemic-ketamine", "oral", "150 mg", {}),                          # gut depot with first pass
    ("arketamine", "im", "0.5 mg/kg", {"every": "7 d", "count": 2}),
    ("racemic-ketamine", "sublingual", "50 mg", {}),
    ("placebo", "iv-infusion", None, {"duration": "40 min"}),            # sessions only
])
def test_routes_agree_with_ketasim(tmp_path, drug, route, dose, kw):
    from ketasim.export import export_sbml

    sc = ketasim.quick_scenario(drug, route, dose, **kw)
    rr = roadrunner.RoadRunner(export_sbml(sc, tmp_path / "m.xml").read_text(encoding="utf-8"))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    times = np.unique(np.concatenate([np.arange(0.0, 12.0, 1 / 12), np.arange(12.0, 672.0 + 1e-9, 2.0)]))
    ref = ketasim.simulate(sc, typical=True, output_times_h=times).trajectories()
    cols = [c for c in ref.columns if c not in ("arm", "subject", "time_h")]
    rr.timeCourseSelections = cols
    got = rr.simulate(times=times)
    for j, c in enumerate(cols):
        want = ref[c].to_numpy()
        scale = np.max(np.abs(want))
        # time in response: 0.1 h (6 min) absolute, as above (a patient who only touches the response band: the
        # typical patient after two IM arketamine doses at the seventeenth session's set is in response for 0.0016 h,
        # and the two solvers differ by 4e-6 h, 0.25 % of that)
        floor = 0.1 / scale if (c == "response_time_h" and scale) else 0.0
        assert (np.max(np.abs(got[:, j] - want)) / scale if scale else np.max(np.abs(got[:, j]))) <= \
            max(AGREEMENT, floor), c


#: every route, as SOLVER_NOTE claims (single doses: a depot's decay to 0 underflowed within days)
SOLVER_ROUTES = [
    ("racemic-ketamine", "iv-bolus", "0.3 mg/kg", {"at": "2 h"}),
    ("racemic-ketamine", "iv-bolus", "0.5 mg/kg", {"every": "3.5 d", "count": 8}),
    ("racemic-ketamine", "iv-infusion", "0.5 mg/kg", {"duration": "40 min", "every": "3.5 d", "count": 8}),
    ("racemic-ketamine", "im", "0.5 mg/kg", {}),
    ("racemic-ketamine", "im", "1 mg/kg", {}),
    ("racemic-ketamine", "sc", "0.5 mg/kg", {}),
    ("racemic-ketamine", "oral", "150 mg", {}),
    ("esketamine", "intranasal", "56 mg", {}),
    ("esketamine", "intranasal", "84 mg", {"every": "3.5 d", "count": 8}),
    ("racemic-ketamine", "sublingual", "50 mg", {}),
]


@pytest.mark.parametrize("drug, route, dose, kw", SOLVER_ROUTES)
def test_libroadrunner_integrates_every_route_as_the_solver_note_says(tmp_path, capfd, drug, route, dose, kw):
    """What export.SOLVER_NOTE (in the file's notes) tells a libRoadRunner user, run for every route over 28 days, each
    agreeing with ketasim within AGREEMENT of each variable's range, without CVODE warnings:
    1. `RoadRunner(file).simulate(...)` with nothing changed (CVODE BDF, relative 1e-6, scalar absolute 1e-12);
    2. the same defaults, one day per simulate call (libRoadRunner re-initialises CVODE at every call);
    3. the recommended vector absolute tolerance.
    libRoadRunner multiplies a scalar absolute tolerance by each state's value whenever it re-initialises CVODE: until
    the thirty-second session an IV bolus stalled (bdnf_released at rounding-level values near 0: OFFSET_STATES), and
    after it a single IM, SC, oral, intranasal or sublingual dose failed once its depot's amount fell below ~1e-300
    mg (CV_TOO_MUCH_ACC, CV_CONV_FAILURE: IM 0.5 mg/kg in one call, every one of these day by day: DEPOT_REST_MG)."""
    from ketasim.export import DEPOT_REST_MG, SOLVER_NOTE, export_sbml

    sc = ketasim.quick_scenario(drug, route, dose, **kw)
    text = export_sbml(sc, tmp_path / "m.xml").read_text(encoding="utf-8")
    advice = "rr.integrator.setValue('absolute_tolerance', [1e-12] * rr.model.getNumRateRules())"
    assert advice in SOLVER_NOTE and "stiff" not in SOLVER_NOTE
    assert advice.replace("'", "&apos;") in text
    times = np.unique(np.concatenate([np.arange(0.0, 12.0, 1 / 12), np.arange(12.0, 672.0 + 1e-9, 2.0)]))
    rr = roadrunner.RoadRunner(text)
    assert rr.integrator.getName() == "cvode" and rr.integrator.getValue("stiff")    # the defaults: BDF,
    assert rr.integrator.relative_tolerance == 1e-6 and rr.integrator.absolute_tolerance == 1e-12   # scalar tolerance
    states = list(rr.model.getRateRuleSymbols())
    assert "bdnf_released_plus_1" in states
    depots = [s for s in states if s.startswith("pk_depot_")]
    assert bool(depots) == (route not in ("iv-bolus", "iv-infusion"))
    ref = ketasim.simulate(sc, typical=True, output_times_h=times).trajectories()
    cols = [c for c in ref.columns if c not in ("arm", "subject", "time_h", "response_time_h")]
    want = ref[cols].to_numpy()
    scale = np.max(np.abs(want), axis=0)
    scale[scale == 0] = 1.0

    def agrees(got, rows=slice(None)):
        err = np.max(np.abs(got[:, :len(cols)] - want[rows]), axis=0) / scale
        assert np.all(err <= AGREEMENT), dict(zip(np.array(cols)[err > AGREEMENT], err[err > AGREEMENT]))

    rr.timeCourseSelections = [*cols, "bdnf_released", *depots]  # the pool's state, read from bdnf_released_plus_1
    capfd.readouterr()
    got = rr.simulate(times=times)                                               # 1. the defaults
    agrees(got)
    assert np.min(got[:, len(cols)]) >= -1e-13                    # 1 + x - 1: x to the rounding of 1
    if depots and "count" not in kw:              # an emptied depot rests near DEPOT_REST_MG (it underflowed):
        # never below it, and far below the absolute tolerance (how close to the floor it gets is CVODE's step
        # choice: 1e-100 in the helper's clone, 3e-96 for the oral dose at the recalibrated set)
        rest = got[-1, len(cols) + 1:]
        assert np.all(rest >= 0.99 * DEPOT_REST_MG) and np.all(rest < 1e-50)
    rr.reset()                                                                   # 3. the recommended vector
    rr.integrator.setValue("absolute_tolerance", [1e-12] * rr.model.getNumRateRules())
    agrees(rr.simulate(times=times))
    rr.reset()                                  # 2. the defaults, day by day (last: seen once, a reset() after such
    rr.integrator.absolute_tolerance = 1e-12    # simulate(t0, t1) calls let the next run fire a 2-h bolus near t = 0)
    days = [rr.simulate(t, t + 24.0, 2)[-1] for t in np.arange(0.0, 672.0, 24.0)]
    agrees(np.array(days), np.searchsorted(times, np.arange(24.0, 672.0 + 1e-9, 24.0)))
    assert "t + h = t" not in capfd.readouterr().err


def test_sbml_forms_have_the_definitions_values():
    """export.SBML_FORMS write two functions without a switch on c > 0; each was written for the definition's current
    expression and has its value for every argument (c below, at and above 0 and the 1e-5 ec50 skip; Hill 1-5)."""
    from ketasim.export import SBML_FORMS
    from ketasim.model import expr as E
    from ketasim.model import DEFAULT_MODEL

    funcs = {f.name: f for f in DEFAULT_MODEL.functions}
    cs = [-1.0, -1e-300, -0.0, 0.0, 1e-300, 1e-12, 3e-6, 1e-5, 2e-5, 0.1, 1.0, 7.5, 1e6]
    for name, (replaced, form) in SBML_FORMS.items():
        f = funcs[name]
        assert f.expr == replaced, name
        sbml = E.to_sbml(form, native_minmax=True)
        assert "max(" in sbml and "<= 0" not in sbml and "> 0" not in sbml, name      # no switch at 0
        a, b = (eval(f"lambda {', '.join(f.args)}: {E.to_python(x)}") for x in (f.expr, form))
        for c in cs:
            for c2 in cs:
                for hill in (1.0, 1.5, 2.0, 3.0, 3.5, 5.0):
                    args = {"emax_model": (c, 2.0, 1.0, hill), "sedation_effect": (c, 1.0, c2, 0.5 * hill)}[name]
                    assert b(*args) == a(*args), (name, args)


def test_export_prints_no_integrator_advice_for_a_bolus(tmp_path, capsys):
    scenario = tmp_path / "bolus.yaml"
    scenario.write_text("name: bolus\npopulation: {size: 1}\narms:\n  k:\n    - {drug: racemic-ketamine, route: iv-bolus, "
                        "dose: 0.3 mg/kg, at: 2 h}\n", encoding="utf-8")
    assert main(["export", str(scenario), "--sbml", str(tmp_path / "b.xml")]) == 0
    out = capsys.readouterr().out
    assert "stiff" not in out and "tolerance" not in out
