"""A new user's pass after the thirty-second session (per-patient absorption, posterior draws, between-trial SDs,
install-parameters, the plan's notes, SBML export of oral and nasal patients, qualify --external): what a user
reads, and what a bad input does."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd


def test_repeated_identical_sessions_peak_in_the_first_session_of_the_summary(capsys):
    """`ketasim simulate examples/design_example.yaml --typical` printed, for the twice-weekly esketamine arm, 'NMDA
    block, interneurons peak 31% at 10.5 d' (and blood pressure, sedation) beside 'plasma ketamine peak 61 ng/mL at 35
    min': every session peaks at the same height to ~1e-5 of the rise (the earlier doses' residue) and the summary
    named whichever session rounding made highest. It now names the first time the peak is reached."""
    from ketasim.cli import main

    assert main(["simulate", "examples/design_example.yaml", "--typical"]) == 0
    out = capsys.readouterr().out
    arm = out[out.index("[esketamine-twice-weekly]"):]
    for label in ("NMDA block, interneurons", "NMDA block, pyramidal cells", "systolic BP rise", "sedation index",
                  "plasma ketamine", "dissociation (CADSS)"):
        line = next(ln for ln in arm.splitlines() if ln.strip().startswith(label))
        t = re.search(r" at (\d+) min$", line)
        assert t and int(t.group(1)) <= 60, line


def test_summary_peak_is_the_first_of_equal_peaks_and_keeps_a_rising_one():
    from ketasim.summary import _peak

    t = np.arange(6.0)
    same = pd.DataFrame({"time_h": t, "x": [0.0, 0.30672588, 0.0, 0.30672948, 0.0, 0.30672947]})
    assert _peak(same, "x") == (0.30672948, 1.0)
    rising = pd.DataFrame({"time_h": t, "x": [1.0, 1.05, 1.0, 1.09, 1.0, 1.10]})
    assert _peak(rising, "x") == (1.10, 5.0)
    # one broad peak (a slow link after one dose): the time of its highest value, not the first within the tolerance
    # (synaptic proteins after one infusion were named at 15.4 h, three output steps before their peak at 15.7 h)
    broad = pd.DataFrame({"time_h": t, "x": [1.0, 1.17952, 1.179528, 1.179544, 1.17953, 1.0]})
    assert _peak(broad, "x") == (1.179544, 3.0)
    assert _peak(pd.DataFrame({"time_h": t, "x": [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]}), "x") == (1.0, 1.0)


#: an oral racemic-ketamine record with four plasma levels (higher than typical) and two ratings (H1)
ORAL_RECORD = """ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX
9,0,0,,,,,,30,madrs,70,50,F
9,0.1,1,0.5,mg/kg,,racemic-ketamine,oral,,,,,
9,0.5,0,,,,,,3,cp_ketamine_ng_ml,,,
9,1.0,0,,,,,,8,cp_ketamine_ng_ml,,,
9,2.0,0,,,,,,12,cp_ketamine_ng_ml,,,
9,4.0,0,,,,,,9,cp_ketamine_ng_ml,,,
9,24,0,,,,,,25,madrs,,,
9,168,0,,,,,,,madrs,,,
"""


def _edited_set(tmp_path, name, value, file="edited.json"):
    import json

    from ketasim.calibration import default_free_parameters_path

    data = json.loads(default_free_parameters_path().read_text(encoding="utf-8"))
    data["parameters"][name]["value"] = value
    path = tmp_path / file
    path.write_text(json.dumps(data), encoding="utf-8")      # json writes NaN as NaN, as Python reads it back
    return path


def test_a_parameter_set_with_a_nan_or_impossible_value_is_refused_before_it_is_installed_or_used(tmp_path, capsys):
    """`ketasim install-parameters` installed a set with weight_spine NaN (every later `simulate` then failed: 'the
    solution of virtual patient 0 is not finite') or -1e9 (MADRS rose to 55 after ketamine), and `--parameters`,
    `posterior-draws` and `between-trial` ran on them. A non-finite value, a log-scale parameter <= 0 and a fraction
    outside (0, 1) are now one line naming the file and the parameter; the installed set and the file are
    unchanged. A value outside the fit's bounds but possible (emax_drug 0.99) is still accepted."""
    from ketasim.calibration import default_free_parameters_path
    from ketasim.cli import main

    shipped = default_free_parameters_path().read_bytes()
    cases = (("weight_spine", float("nan"), "parameters.weight_spine: the value must be a finite number"),
             ("weight_spine", -1e9, "parameters.weight_spine: must be > 0"),
             ("emax_drug", 1.5, "parameters.emax_drug: must lie between 0 and 1"))
    for k, (name, value, message) in enumerate(cases):
        path = _edited_set(tmp_path, name, value, f"edited{k}.json")     # load_parameters caches by path
        before = path.read_bytes()
        for argv in (["install-parameters", str(path)], ["posterior-draws", str(path), "--count", "2"],
                     ["between-trial", str(path), "--size", "100"],
                     ["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5 mg/kg",
                      "--parameters", str(path)]):
            assert main(argv) == 2, argv
            err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
            assert len(err) == 1 and message in err[0] and str(path) in err[0], (argv, err)
        assert path.read_bytes() == before
    assert default_free_parameters_path().read_bytes() == shipped
    # possible, if outside the fit's bounds: a what-if set runs
    assert main(["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5 mg/kg",
                 "--parameters", str(_edited_set(tmp_path, "emax_drug", 0.99))]) == 0


def test_hand_set_parameters_and_between_trial_sds_are_checked_too(tmp_path, capsys):
    """(H3's review) The domain check covered the fitted parameters only: bdnf_gain -2 ran and printed a mean change
    of +8.5 MADRS points after ketamine (ketamine worsening depression), nausea_pmax 1.5 and rating_noise_sd -0.06
    ran too, and a between_trial.tau of NaN gave numpy warnings and 'drug SD nan'. Each is now one line naming the
    file and the field; 0 (a knock-out, no nausea, an exact rater) stays a possible what-if."""
    import json

    from ketasim.calibration import default_free_parameters_path
    from ketasim.cli import main

    cases = [(_edited_set(tmp_path, "bdnf_gain", -2.0, "b.json"), "parameters.bdnf_gain: must be >= 0"),
             (_edited_set(tmp_path, "nausea_pmax", 1.5, "n.json"), "parameters.nausea_pmax: must be between 0 and 1"),
             (_edited_set(tmp_path, "nausea_ec50", 0.0, "e.json"), "parameters.nausea_ec50: must be > 0"),
             (_edited_set(tmp_path, "rating_noise_sd", -0.06, "r.json"), "parameters.rating_noise_sd: must be >= 0")]
    for tau, file in ((float("nan"), "t1.json"), (-0.3, "t2.json"), ("x", "t3.json")):
        data = json.loads(default_free_parameters_path().read_text(encoding="utf-8"))
        data["between_trial"]["tau"]["drug"] = tau
        (tmp_path / file).write_text(json.dumps(data), encoding="utf-8")
        cases.append((tmp_path / file, "between_trial.tau.drug: must be a finite number >= 0"))
    for path, message in cases:
        for argv in (["install-parameters", str(path)],
                     ["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5 mg/kg",
                      "--parameters", str(path)]):
            assert main(argv) == 2, argv
            out, err = capsys.readouterr()
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert len(lines) == 1 and message in lines[0] and str(path) in lines[0], (argv, lines)
    assert main(["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5 mg/kg",
                 "--parameters", str(_edited_set(tmp_path, "bdnf_gain", 0.0, "zero.json"))]) == 0
    capsys.readouterr()
    # (H3) the message says how to repair a damaged block: without it, `between-trial` estimates it again
    assert main(["between-trial", str(tmp_path / "t1.json")]) == 2
    assert "delete the between_trial block and run `ketasim between-trial FILE`" in capsys.readouterr().err


def test_between_trial_size_floor_and_no_between_trial_without_uncertainty(capsys, tmp_path):
    """(H1) `ketasim between-trial SET --size 20` stored a drug between-trial SD of 0.000 (0.277 at the default 200):
    each trial's shift drowned in the Monte Carlo error; `--size 1` failed after ~15 s with an internal message.
    `trial --no-between-trial` and `qualify --no-between-trial` without --uncertainty (or --cross-validate) were
    accepted and ignored. Each is one line before anything runs."""
    from ketasim.cli import main

    path = _edited_set(tmp_path, "emax_drug", 0.5)
    before = path.read_bytes()
    for size in ("20", "1"):
        assert main(["between-trial", str(path), "--size", size]) == 2
        assert capsys.readouterr().err.strip() == f"error: --size: must lie in 100-100,000, got {size}"
    assert path.read_bytes() == before
    assert main(["trial", "docs/tutorials/placebo_trial.yaml", "--no-between-trial", "--size", "10"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --no-between-trial: only with --uncertainty")
    assert main(["qualify", "--no-between-trial", "--size", "1", "--html", str(tmp_path / "q.html")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --no-between-trial: only with --uncertainty or "
                                                      "--cross-validate")
    assert not (tmp_path / "q.html").exists()


def _morris_result():
    from ketasim.sensitivity import Factor, SensitivityResult

    fs = [Factor(n, "free", 1.0, 0.5, 2.0, "log", "-", "calibrated") for n in ("placebo_gain", "weight_protein")]
    return SensitivityResult("response_rate@24h", "ketamine", "morris", 39.4, fs,
                             {"mu_star": np.array([124.0, 4.3]), "mu_star_conf": np.array([10.9, 5.8]),
                              "sigma": np.array([10.8, 5.9]), "mu": np.array([124.0, 4.3])},
                             np.array([0.1, 0.6]), np.array([0.1, 0.6]), 9, {"ranges": "bounds"},
                             unit="% of patients")


def test_morris_mu_star_says_it_is_per_whole_parameter_range():
    """`ketasim sensitivity examples/design_example.yaml --endpoint response_rate@24h --size 50 --samples 2` ranked
    placebo_gain first with mu_star 124, labelled '% of patients' in the table and the tornado's axis: more than
    every patient. SALib's elementary effect divides a step's change by the step's share of the range (2/3 at 4
    levels), so it is a change per whole sampled range; the table, the figure and the HTML say so."""
    import matplotlib.pyplot as plt

    from ketasim.sensitivity import tornado_figure

    res = _morris_result()
    second = res.format_table().splitlines()[1]
    assert "(% of patients) per the parameter's whole sampled range" in second
    fig = tornado_figure(res)
    try:
        assert fig.axes[0].get_xlabel().startswith("mu_star (% of patients per parameter range)")
    finally:
        plt.close(fig)


def test_sensitivity_html_report_is_complete_or_absent(tmp_path, monkeypatch):
    """`sensitivity --report` wrote its page with Path.write_text: a full disk left a half-written page over the old
    one (every other output is written to a temporary file and renamed). A failing write now leaves the old page."""
    import builtins
    import errno
    import io

    import ketasim.io
    from ketasim.sensitivity import write_html

    page = tmp_path / "s.html"
    page.write_text("old page", encoding="utf-8")
    real_open = builtins.open

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            self.fh.write(text[:100])
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return Full(fh) if "w" in mode else fh

    monkeypatch.setattr(ketasim.io, "open", full_open, raising=False)
    monkeypatch.setattr(builtins, "open", full_open)
    monkeypatch.setattr(io, "open", full_open)          # pathlib's write_text
    try:
        write_html(_morris_result(), page)
    except OSError:
        pass
    monkeypatch.undo()
    assert page.read_text(encoding="utf-8") == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.html"]
    write_html(_morris_result(), page)
    text = page.read_text(encoding="utf-8")
    assert text.endswith("</p>") and "per the parameter's whole sampled range" in text


NASAL_RECORD = """ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX
7,0,0,,,,,,35,madrs,70,50,M
7,0.1,1,56,mg,,esketamine,intranasal,,,,,
7,0.5,0,,,,,,40,cp_s_ketamine_ng_ml,,,
7,1.0,0,,,,,,60,cp_s_ketamine_ng_ml,,,
7,2.0,0,,,,,,30,cp_s_ketamine_ng_ml,,,
7,24,0,,,,,,25,madrs,,,
7,84,0,,,,,,24,madrs,,,
7,84.1,1,56,mg,,esketamine,intranasal,,,,,
7,168,0,,,,,,,madrs,,,
7,336,0,,,,,,,madrs,,,
"""


def test_plan_text_of_a_nasal_record_without_safety_readings(tmp_path, capsys):
    """`ketasim plan` on a record of two nasal esketamine sessions with S-ketamine levels and MADRS but no SBP or
    CADSS reading printed 'note: the record's observations do not depend on eta_ke0, eta_bp, eta_dissociation,
    eta_natural: ... (a forecast on another route carries their spread)' (none of them is about the route), a
    heading 'dose lines of #1 (scenario YAML, ...):' with no line under it when #1 was 'no further sessions', and
    'recorded plan: p=0.00 (1 sessions)'."""
    from ketasim.cli import main

    import json

    rec = tmp_path / "nasal.csv"
    rec.write_text(NASAL_RECORD, encoding="utf-8")
    assert main(["plan", str(rec), "--json", str(tmp_path / "plan.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    note = next(ln for ln in lines if ln.startswith("  note: the record's observations do not depend on "))
    assert "eta_bp" in note and "another route" not in note and "carry their full spread" in note
    # (H3's review) "do not depend on ... not fitted" names exactly the parameters fixed at their prior; fitted ones
    # with a flat Laplace SD (eta_ke0, eta_dissociation: small effects on these ratings) have a note of their own
    fit = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))["fit"]
    fixed = fit["sampling"]["fixed_at_prior"]
    named = note.split("do not depend on ", 1)[1].split(":", 1)[0].split(", ")
    assert named == [p["name"] for p in fit["parameters"] if p["name"] in fixed] and "eta_bp" in fixed
    flat = [p["name"] for p in fit["parameters"] if p["flat_laplace"]]
    assert flat and not set(flat) & set(fixed)
    flat_note = next(ln for ln in lines if ln.startswith("  note: the predictions depend on "))
    assert flat_note.split("depend on ", 1)[1].split(", but", 1)[0].split(", ") == flat
    for w in fit["warnings"]:
        if "do not depend" in w:
            assert w.split(":", 1)[0] in fixed, w
    for k, ln in enumerate(lines):
        if ln.startswith("  dose lines of #1"):
            assert lines[k + 1].startswith("    - {"), lines[k:k + 2]
    assert not any(re.search(r"\(1 sessions", ln) for ln in lines)
    assert any(re.search(r"recorded plan: p=\d\.\d\d \(1 session, ", ln) for ln in lines)


def test_cross_validation_options_without_cross_validate_are_refused(capsys, tmp_path):
    """`ketasim qualify --external examples/external --size 30 --cv-size 30` (or --cv-method refit, --cv-evaluations
    3, --cv-json FILE) ran and ignored the option without a word, while --row-weights without --cross-validate was
    refused. Each is now one line naming the option, before anything runs."""
    from ketasim.cli import main

    for option, value in (("--cv-method", "refit"), ("--cv-size", "30"), ("--cv-evaluations", "3"),
                          ("--cv-json", str(tmp_path / "cv.json"))):
        for external in ([], ["--external", "examples/external", "--json", str(tmp_path / "e.json")]):
            argv = ["qualify", *external, "--size", "1", "--html", str(tmp_path / "q.html"), option, value]
            assert main(argv) == 2, argv
            out, err = capsys.readouterr()
            assert err.strip().splitlines() == [f"error: {option}: only with --cross-validate (without it nothing "
                                                "is cross-validated)"], argv
            assert list(tmp_path.iterdir()) == []


def test_pk_table_says_when_auc_inf_and_half_life_miss_patients(capsys, tmp_path):
    """With per-patient oral absorption (thirty-second session) a very slow absorber has no terminal phase on the
    schedule, so no lambda_z, AUC0-inf or t1/2 (as a real NCA reports it). `ketasim simulate --drug
    racemic-ketamine --route oral --dose 0.5mg/kg --size 3000 --pk` printed 'n=3000' and the geometric means without
    saying that AUC0-inf and t1/2 were over fewer patients (2979-2999 in --pk-json's n_evaluable)."""
    import json

    from ketasim.cli import main

    js = tmp_path / "pk.json"
    assert main(["simulate", "--drug", "racemic-ketamine", "--route", "oral", "--dose", "0.5mg/kg", "--size", "3000",
                 "--pk", "--pk-json", str(js)]) == 0
    out = capsys.readouterr().out
    rows = json.loads(js.read_text())["summary"]
    short = {(r["measure"], r["analyte"]): r["n_evaluable"] for r in rows if r["n_evaluable"] < 3000}
    assert short and {m for m, _ in short} == {"auc_0_inf", "t_half"}
    (line,) = [ln for ln in out.splitlines() if "evaluable in fewer than the 3,000 patients" in ln]
    assert line.startswith("  AUC0-inf, t1/2: ")
    for (m, analyte), k in short.items():
        assert f"{analyte} {k:,}" in line
    # the "model exact" line of --pk-exact stays under its analyte's row (one per analyte)
    assert main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", "--size", "20",
                 "--pk-exact"]) == 0
    out = capsys.readouterr().out
    lines = out[out.index("PK (first dose"):].splitlines()
    rows = [k for k, ln in enumerate(lines) if re.match(r"  (s-ketamine|norketamine|hnk) ", ln)]
    assert len(rows) == 3 and all(lines[k + 1].startswith("    model exact") for k in rows)


def test_record_without_header_and_negative_amount_say_what_is_wrong(tmp_path, capsys):
    """A patient record saved without its header line said 'a column name appears twice in the header' (the first
    data row read as a header: its empty cells repeat), and AMT -0.5 said '-0.5 is outside 0-inf'."""
    from ketasim.cli import main

    from pathlib import Path

    text = Path("examples/patient/patient_101.csv").read_text(encoding="utf-8")
    cases = {"noheader.csv": ("\n".join(text.splitlines()[1:]) + "\n",
                              "error: noheader.csv: the first line is not a header (it reads '101,0,0,,,,,,40,madrs,"),
             "negamt.csv": (text.replace("101,0.5,1,0.5,mg/kg", "101,0.5,1,-0.5,mg/kg"),
                            "error: negamt.csv row 2, column AMT: must be >= 0, got -0.5")}
    for name, (content, says) in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        assert main(["plan", str(path)]) == 2
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
        assert len(err) == 1 and err[0].startswith(says), err


def test_outputs_named_as_any_other_known_kind_are_refused(tmp_path, capsys):
    """`ketasim simulate examples/design_example.yaml --size 5 --report x.csv` wrote the HTML report into x.csv (and
    `--csv x.json` CSV into a .json file): only the pairs CSV/Parquet and JSON/HTML were checked. An ending of any
    other kind ketasim reads or writes is now refused before the run; unknown endings (.txt, none, .csv.gz) still
    pass."""
    from pathlib import Path

    from ketasim.cli import _check_kinds
    from ketasim.errors import OutputPathError

    for option, name, says in (("--report", "x.csv", "writes HTML: name it 'x.html'"),
                               ("--csv", "x.json", "writes CSV: name it 'x.csv'"),
                               ("--json", "x.yaml", "writes JSON: name it 'x.json'"),
                               ("--pk-json", "x.png", "writes JSON: name it 'x.json'"),
                               ("--sbml", "x.parquet", "writes SBML (XML): name it 'x.xml'")):
        try:
            _check_kinds({option: tmp_path / name})
        except OutputPathError as e:
            assert f"{option}: {tmp_path / name} ends in '{Path(name).suffix}', but {option} {says}" == str(e)
        else:
            raise AssertionError(f"{option} {name} was accepted")
    for option, name in (("--csv", "x.txt"), ("--csv", "x"), ("--csv", "x.csv.gz"), ("--parquet", "x.pq"),
                         ("--report", "x.htm"), ("--sbml", "x.sbml"), ("--csv", "X.CSV")):
        _check_kinds({option: tmp_path / name})
    from ketasim.cli import main

    assert main(["simulate", "examples/design_example.yaml", "--size", "5", "--report", str(tmp_path / "x.csv")]) == 2
    assert list(tmp_path.iterdir()) == []


def test_trial_text_with_uncertainty_neither_advises_it_nor_calls_two_draws_a_95_percent_range(capsys):
    """`ketasim trial docs/tutorials/withdrawal.yaml --size 60 --uncertainty 2` said its interval was "the draws'
    2.5-97.5 % range" (with 2 draws: their minimum to maximum; the help says use >= 40), and every trial run with
    --uncertainty still advised "`ketasim trial --uncertainty N` adds prediction intervals"."""
    from ketasim.cli import main

    assert main(["trial", "docs/tutorials/withdrawal.yaml", "--size", "60", "--uncertainty", "2",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    pi = next(ln for ln in out.splitlines() if ln.startswith("95% prediction intervals:"))
    assert "with 2 draws that range is about their minimum to maximum, not a 95 % interval (use --uncertainty 40" in pi
    ci = next(ln for ln in out.splitlines() if ln.startswith("95% CIs:"))
    assert "--uncertainty N` adds" not in ci and "the prediction intervals add them" in ci
    assert main(["trial", "docs/tutorials/placebo_trial.yaml", "--size", "30", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "`ketasim trial --uncertainty N` adds prediction intervals" in out


def test_an_arm_given_only_placebo_is_the_control_when_no_name_says_so(capsys):
    """`ketasim trial src/ketasim/data/calibration/canuso2018.yaml` (arms ESK+SOC, PBO+SOC) compared 'PBO+SOC vs
    ESK+SOC': no arm name contains placebo/saline/midazolam/control, so the first arm was the control and every
    difference had the wrong sign for a reader (placebo minus esketamine). An arm given only placebo or midazolam (a
    background antidepressant allowed) is now the control before the first arm; design.control and the name rule
    still come first."""
    from ketasim import scenario_from_dict
    from ketasim.cli import main
    from ketasim.trial import _control_arm, comparator_arms

    assert main(["trial", "src/ketasim/data/calibration/canuso2018.yaml", "--size", "30", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "ESK+SOC vs PBO+SOC: mean_change_difference" in out and "PBO+SOC vs ESK+SOC" not in out
    iv = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
    sal = {"drug": "placebo", "route": "iv-infusion", "dose": "0 mg", "duration": "40 min"}
    ad = {"drug": "oral-antidepressant", "route": "oral"}
    sc = scenario_from_dict({"name": "t", "population": {"size": 5},
                             "arms": {"k": [iv, ad], "p": [sal, ad], "q": [sal]}})
    assert comparator_arms(sc) == ("p", "q")
    assert _control_arm(["k", "p", "q"], {}, comparator_arms(sc)) == "p"
    assert _control_arm(["k", "p", "q"], {"control": "q"}, comparator_arms(sc)) == "q"
    assert _control_arm(["k", "saline-ish", "p"], {}, ("p",)) == "saline-ish"
    assert _control_arm(["k", "j"], {}, ()) == "k"


def test_simulate_report_with_chunk_is_refused_not_dropped(tmp_path, capsys):
    """`ketasim simulate examples/design_example.yaml --chunk 10 --size 100 --report s.html` ran, printed the summary
    and wrote no report, without a word (the streamed path has no report; a population too large for memory was
    already refused with one line). --report with --chunk (or --dask) is now one line before the run."""
    from ketasim.cli import main

    page = tmp_path / "s.html"
    assert main(["simulate", "examples/design_example.yaml", "--chunk", "10", "--size", "20", "--report",
                 str(page)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines()[0].startswith("error: --report: not with --chunk (a streamed "
                                                                "population is not kept in memory for a report)")
    assert not page.exists()


def test_the_api_page_lists_every_public_name():
    """README shows `from ketasim import Patient, patient_scenario`, but docs/api.md's list of public names (and its
    reference) left both out."""
    from pathlib import Path

    import ketasim

    text = Path("docs/api.md").read_text(encoding="utf-8")
    listed = text[text.index("The public names"):text.index("## Top level")]
    assert all(f"`{name}`" in listed for name in ketasim.__all__), [n for n in ketasim.__all__ if f"`{n}`" not in listed]
    assert "patient_scenario" in text.split("## Scenarios")[1] and "ketasim.patient.Patient" in text


def test_demo_band_holds_the_end_of_the_infusion(tmp_path, monkeypatch, capsys):
    """`ketasim demo`'s figure drew the 200 patients' 5-95% band on every third fine output time (15 min): it had no
    point at the end of the 40-min infusion, so the plasma band peaked at 30 min while the typical line peaked at
    40 (and sat near the band's edge). The band's times now include the scenario's peak window."""
    import ketasim.plotting
    from ketasim.cli import main

    seen = {}

    def capture(typ, pop, path, **kw):
        seen["pop"] = pop

    monkeypatch.setattr(ketasim.plotting, "plot_cascade", capture)
    assert main(["demo", "--out", str(tmp_path / "out"), "--size", "20"]) == 0
    pop = seen["pop"]
    band_top = pop.groupby("time_h")["cp_ketamine_ng_ml"].quantile(0.95)
    assert abs(band_top.idxmax() - 40 / 60) < 1e-6


def test_the_sbml_template_recipe_in_the_docs_runs():
    """docs/model-definition.md said `ketasim.export.patient_values(prepared, i)` gives a virtual patient's values but
    not how to get `prepared`; the page's recipe (prepare_arm on sampled patients) runs, for an oral arm too (each
    patient's gut absorption rate among the values)."""
    import re as _re
    from pathlib import Path

    import ketasim
    from ketasim.export import patient_values

    text = Path("docs/model-definition.md").read_text(encoding="utf-8")
    code = _re.search(r"```python\n(from ketasim.engine import prepare_arm.*?)```", text, _re.S).group(1)
    scenario = ketasim.scenario_from_dict({"name": "o", "population": {"size": 3},
                                           "arms": {"oral": [{"drug": "racemic-ketamine", "route": "oral",
                                                              "dose": "0.5 mg/kg"}]}})
    env = {"scenario": scenario, "params": ketasim.load_parameters(), "seed": 5, "times_h": np.linspace(0, 24, 25)}
    exec(code.replace("n=100", "n=3"), env)
    kas = [patient_values(env["prepared"], i)["pk_ka_2"] for i in range(3)]
    assert len(set(kas)) == 3


def test_a_short_infusion_at_a_bolus_anesthetic_dose_warns():
    """`ketasim simulate --drug racemic-ketamine --route iv-infusion --dose 1.4mg/kg --duration 2min` did not warn
    while a 1 mg/kg IV bolus did (the infusion rule needs 1.5 mg/kg): over 1-2 min the model's peak is the bolus's
    (1 mg/kg: 912 ng/mL over 1 min, 915 as a bolus). An infusion of <= 5 min takes the bolus threshold; 1 mg/kg over
    40 min and 0.5 mg/kg over 2 min still do not warn."""
    import warnings

    from ketasim import quick_scenario
    from ketasim.errors import DoseWarning

    def warns(dose, duration):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quick_scenario("racemic-ketamine", "iv-infusion", dose, duration=duration)
        return any(issubclass(w.category, DoseWarning) for w in caught)

    # the quick form is one patient of 80 kg: an mg dose is judged at that weight (review s45 S2; 70 mg was 1 mg/kg at
    # the 70-kg reference weight before), so 80 mg over 1 min is its 1 mg/kg
    assert warns("1.4 mg/kg", "2 min") and warns("1.05 mg/kg", "5 min") and warns("80 mg", "1 min")
    assert not warns("70 mg", "1 min")
    assert not warns("1 mg/kg", "40 min") and not warns("0.5 mg/kg", "2 min") and not warns("0.9 mg/kg", "6 min")
    # fortieth session: every IV dose is judged by its typical effect-site peak against 1 mg/kg pushed over 60 s
    # (tests/test_infusion_anesthetic_warning.py): no 5-min edge, the threshold rises smoothly with the duration
    assert warns("1.1 mg/kg", "6 min") and warns("2 mg/kg", "40 min") and not warns("1.5 mg/kg", "40 min")


def test_plan_says_which_safety_limit_excluded_the_candidates(tmp_path, capsys):
    """`ketasim plan` on the oral record (no SBP or CADSS reading) ranked only "no further sessions" and said "relax
    the target, the window or the limits": 25 of 26 candidates had a 90th-percentile CADSS peak above the default
    30 (the population's spread, this patient's dissociation unobserved), which nothing said. The text now counts
    them per limit and says when the record has no reading of it; the JSON's search block has unsafe_by_limit."""
    import json

    from ketasim.cli import main

    rec, js = tmp_path / "oral.csv", tmp_path / "plan.json"
    rec.write_text(ORAL_RECORD, encoding="utf-8")
    # judged at the population's 90th percentile (the default before the thirty-fourth session, now
    # quantile_without_reading=0.75 for a record without the reading)
    assert main(["plan", str(rec), "--json", str(js), "--limits", "quantile_without_reading=0.9"]) == 0
    out = capsys.readouterr().out
    search = json.loads(js.read_text())["search"]
    assert search["unsafe_by_limit"]["cadss"] >= 1 and search["unsafe_candidates"] >= search["unsafe_by_limit"]["cadss"]
    line = next(ln for ln in out.splitlines() if "candidate regimens exceed the safety limits" in ln)
    assert f"({search['unsafe_by_limit']['cadss']} above cadss=30" in line
    assert "the record has no CADSS reading during a session, so the population's spread applies" in line


def test_an_unquoted_value_with_spaces_names_its_option(capsys):
    """`ketasim plan examples/patient/patient_101.csv --window 1 week:6 week` (the how-to quotes it; a user may not)
    said only "Got unexpected extra argument(s) (week:6 week)". It now names the option and shows the quoted form;
    a stray number (`--seed 1 2`) keeps the framework's line."""
    from ketasim.cli import main

    cases = ((["plan", "examples/patient/patient_101.csv", "--window", "1", "week:6", "week"],
              "error: --window: a value with spaces goes in quotes, e.g. --window '1 week:6 week' (see 'ketasim plan "
              "--help')"),
             (["plan", "examples/patient/patient_101.csv", "--target", "score", "<=", "15"],
              "error: --target: a value with spaces goes in quotes, e.g. --target 'score <= 15'"),
             (["trial", "examples/design_example.yaml", "--seed", "1", "2"],
              "error: Got unexpected extra argument(s) (2)"),
             # a second file after a number or a text option is not the option's unquoted value (H3's review: these
             # said "--size: a value with spaces goes in quotes, e.g. --size '30 other.yaml'")
             (["simulate", "examples/design_example.yaml", "--size", "30", "other.yaml"],
              "error: Got unexpected extra argument(s) (other.yaml)"),
             (["plan", "examples/patient/patient_101.csv", "--target", "madrs<=10", "second.csv"],
              "error: Got unexpected extra argument(s) (second.csv)"),
             (["plan", "examples/patient/patient_101.csv", "--target", "madrs<=10", "at", "2.5", "d"],
              "error: --target: a value with spaces goes in quotes, e.g. --target 'madrs<=10 at 2.5 d'"))
    for argv, says in cases:
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith(says), err


def test_plan_page_says_how_many_candidates_a_safety_limit_excluded(tmp_path):
    """The dashboard's plan page for the oral record without a CADSS reading showed only "no further sessions";
    its status line now counts the candidates above a safety limit (as the text output does)."""
    import pytest

    pytest.importorskip("starlette")
    from test_personal_browser import planned_page

    # the population's 90th percentile (s34)
    with planned_page(ORAL_RECORD, limits="quantile_without_reading=0.9") as page:
        status = page.inner_text("#status")
        assert re.search(r"candidates, \d+ above a safety limit: SBP \d+, CADSS \d+\)", status), status


def test_simulate_size_with_a_stated_patient_is_refused(tmp_path, capsys):
    """`ketasim simulate SCENARIO --size 100` on a scenario with `patient:` (one stated patient) ran that one patient
    (typical random effects) and wrote one subject, ignoring --size. It is now one line; --size 1 still runs."""
    from ketasim.cli import main

    sc = tmp_path / "one.yaml"
    sc.write_text("name: one\npatient: {weight_kg: 70, age_years: 30, sex: male, baseline: 30}\narms:\n  nasal:\n"
                  "    - {drug: esketamine, route: intranasal, dose: 56 mg}\n", encoding="utf-8")
    csv = tmp_path / "t.csv"
    assert main(["simulate", str(sc), "--size", "100", "--csv", str(csv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --size: {sc} states one patient (patient:)") and not csv.exists()
    assert main(["simulate", str(sc), "--size", "1"]) == 0


def test_plan_text_shows_the_alternative_and_no_rounding_noise(tmp_path, capsys):
    """`ketasim plan examples/patient/patient_101.csv --alternative ALT.yaml --variable cadss` (the how-to's form)
    printed nothing of the alternative regimen (only --json and --report had it), and the CADSS forecast days after a
    session read 'median 1.59e-16  50% [3.55e-18, 7.7e-15]'."""
    from ketasim.cli import main

    alt = tmp_path / "alt.yaml"
    alt.write_text("- {drug: esketamine, route: intranasal, dose: 84 mg, at: 340 h, every: 3.5 d, count: 4}\n",
                   encoding="utf-8")
    assert main(["plan", "examples/patient/patient_101.csv", "--alternative", str(alt), "--variable", "cadss"]) == 0
    out = capsys.readouterr().out
    assert "alternative regimen (--alternative; at on the record's clock):" in out
    assert "    - {drug: esketamine, route: intranasal, dose: 84 mg, at: 340 h" in out
    block = out[out.index("forecast of the rating (MADRS points) (alternative regimen):"):].splitlines()[1:5]
    assert all(re.match(r"\s+\d+\.\d h  median\s+\d+\.\d  50% \[\d+, \d+\]  90% \[\d+, \d+\]$", ln) for ln in block), block
    assert "e-1" not in out and "e-2" not in out and "e-3" not in out


def test_trial_pk_table_says_when_a_measure_misses_patients(capsys):
    """`ketasim trial examples/pk/ddi_oral_esketamine_clarithromycin.yaml --size 2000`: AUC0-inf and t1/2 are over
    1,997-1,999 of the 2,000 volunteers (slow absorbers without a terminal phase; the JSON's n_evaluable) and the
    crossover's auc_0_inf_ratio over 1,997 pairs, while the table showed only 'n=2000'. Those rows now say
    'n=1,998 of 2,000'; complete rows are unchanged."""
    from ketasim.cli import main

    assert main(["trial", "examples/pk/ddi_oral_esketamine_clarithromycin.yaml", "--size", "2000",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    marked = [ln for ln in out.splitlines() if re.search(r"  n=[\d,]+ of 2,000$", ln)]
    assert marked and all(("auc_0_inf" in ln or "t_half" in ln) for ln in marked)
    assert any("auc_0_inf_ratio s-ketamine" in ln for ln in marked)
    assert not any("cmax" in ln and " of 2,000" in ln for ln in out.splitlines())


def test_a_set_without_rater_noise_is_one_line_in_the_personal_fit(tmp_path):
    """(H3's review) rating_noise_sd 0 is a possible what-if for a trial (an exact rater) and install-parameters takes
    it, but `ketasim plan` then ended in a LinAlgError traceback (the ratings' covariance is singular without the
    rater's noise). The personal fit now says so in one line naming the parameter."""
    import pytest

    from ketasim.errors import InputError
    from ketasim.parameters import load_parameters
    from ketasim.personal import personal_plan
    from ketasim.record import record_from_csv_text

    path = _edited_set(tmp_path, "rating_noise_sd", 0.0, "exact_rater.json")
    with pytest.raises(InputError, match=r"^parameters\.rating_noise_sd: the personal fit needs a rater's noise > 0"):
        personal_plan(record_from_csv_text(NASAL_RECORD), params=load_parameters(str(path)))
