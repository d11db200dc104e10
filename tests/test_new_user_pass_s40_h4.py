"""Fortieth session, H4: the found-not-fixed items of the thirty-ninth session's new-user pass (NOTES.md, thirty-ninth
session, item 5; /work/coord/s39/H1_log.md)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _support import one_error_line, run_cli

QUICK = ("simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--size", "5", "--seed", "3")
PATIENT_COLUMNS = ["arm", "subject", "weight_kg", "age_years", "female", "bdnf_genotype_factor", "crp_mg_l",
                   "baseline_score", "baseline_rating"]


# ---- 1. per-patient covariates from the command line ---------------------------------------------------------------
def test_simulate_writes_the_patients_covariates_with_units_and_provenance(capsys, tmp_path):
    """Only the API (`result.patients()`) gave each patient's weight, age, sex, genotype, CRP and baseline: the
    trajectory file has none of them and no option wrote them."""
    out = tmp_path / "patients.csv"
    code, stdout, _ = run_cli(capsys, *QUICK, "--patients-csv", out)
    assert code == 0 and f"wrote {out}" in stdout
    df = pd.read_csv(out)
    assert list(df.columns) == PATIENT_COLUMNS and len(df) == 5 and list(df["subject"]) == [0, 1, 2, 3, 4]
    side = json.loads((tmp_path / "patients.csv.provenance.json").read_text())
    assert side["seed"] == 3 and side["patients_per_arm"] == 5 and side["model"].startswith("ketasim")
    assert side["units"]["weight_kg"] == "kg" and side["units"]["baseline_score"].startswith("MADRS points")
    assert set(side["units"]) == set(PATIENT_COLUMNS) - {"arm", "subject"}

    import ketasim
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("ketamine", "iv", "0.5mg/kg", weight_kg=80.0, size=5)
    api = ketasim.simulate(sc, n=5, seed=3, output_times_h=[0.0, 1.0]).patients()
    pd.testing.assert_frame_equal(df, api.astype({"arm": object}), check_dtype=False, atol=1e-5)


def test_a_streamed_run_writes_the_same_patients_file(capsys, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_cli(capsys, *QUICK, "--patients-csv", a)[0] == 0
    code, stdout, _ = run_cli(capsys, *QUICK, "--chunk", "2", "--patients-csv", b)
    assert code == 0 and f"wrote {b} (5 patients)" in stdout
    assert a.read_text() == b.read_text()
    ja = json.loads((tmp_path / "a.csv.provenance.json").read_text())
    jb = json.loads((tmp_path / "b.csv.provenance.json").read_text())
    assert ja == jb


def test_the_patients_file_is_refused_under_another_kind_of_name(capsys, tmp_path):
    code, _, err = run_cli(capsys, *QUICK, "--patients-csv", tmp_path / "p.parquet")
    assert code != 0 and "--patients-csv" in one_error_line(err) and "p.csv" in err
    code, _, err = run_cli(capsys, *QUICK, "--csv", tmp_path / "x.csv", "--patients-csv", tmp_path / "x.csv")
    assert code != 0 and "the same file" in one_error_line(err)


def test_the_patients_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """An error while writing leaves neither the table nor its provenance (nor a temporary file)."""
    import ketasim
    from ketasim import result as result_mod
    from ketasim.scale import simulate_streamed
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("ketamine", "iv", "0.5mg/kg", weight_kg=80.0, size=4)
    res = ketasim.simulate(sc, n=4, output_times_h=[0.0, 1.0])

    def broken(*_a, **_k):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        res.patients_to_csv(tmp_path / "p.csv")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    original = result_mod.patients_table

    def fails_after_the_first_chunk(run, start=0):
        if start:
            raise RuntimeError("disk gone")
        return original(run, start)

    monkeypatch.setattr(result_mod, "patients_table", fails_after_the_first_chunk)
    with pytest.raises(RuntimeError, match="disk gone"):
        simulate_streamed(sc, n=4, chunk=2, output_times_h=[0.0, 1.0], patients_csv=tmp_path / "s.csv")
    assert list(tmp_path.iterdir()) == []


# ---- 2. the default PK schedule samples an infusion's end -----------------------------------------------------------
def test_the_default_pk_schedule_samples_the_end_of_an_infusion(capsys):
    """The default schedule (5 ... 45 min, 1 h, ... 24 h) had no sample at a 40-min infusion's end: `simulate --pk`
    read Cmax 155 ng/mL at 30 min against the model's peak of 176 at 40 min (only a note said so). It now adds the
    analysed infusion's end; the NCA's Cmax is the model's peak (the 1-minute grid's)."""
    from _support import line, params, scenario
    from ketasim.nca import DEFAULT_SCHEDULE_H, PKSampling, arm_pk
    from ketasim.population import typical_patient

    for duration, end in (("40 min", 40 / 60), ("100 min", 100 / 60)):
        sc = scenario([line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration=duration)])
        df = arm_pk(sc.arms[0], sc.population, params(), PKSampling(analytes=("ketamine",), exact=True),
                    patients=typical_patient(sc.population, params()))
        row = df.iloc[0]
        assert row["tmax_h"] == pytest.approx(end) and row["exact_tmax_h"] == pytest.approx(end, abs=1.5 / 60)
        assert row["cmax_ng_ml"] == pytest.approx(row["exact_cmax_ng_ml"], rel=2e-3)
    # times given are sampled as given (a study's own schedule); the default's times are all kept
    assert PKSampling().times_for(40 / 60) == tuple(sorted((*DEFAULT_SCHEDULE_H, 40 / 60)))
    assert PKSampling().times_for(0.75) == DEFAULT_SCHEDULE_H and PKSampling().times_for(0.0) == DEFAULT_SCHEDULE_H
    given = PKSampling(times_h=(0.5, 1.0, 24.0))
    assert given.adds_infusion_end is False and given.times_for(40 / 60) == (0.5, 1.0, 24.0)
    code, out, _ = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--pk")
    assert code == 0 and "note: no sample at the end" not in out
    row = next(ln.split() for ln in out.splitlines() if ln.lstrip().startswith("ketamine "))
    assert row[2] == "0.667", row          # Tmax (h) at the end; Cmax the printed peak (176 ng/mL at 40 min)
    assert "plasma ketamine                peak    176 ng/mL at 40 min" in out and round(float(row[1])) == 176


# ---- 3. the HTML report's score panel names the scale -----------------------------------------------------------------
def test_the_report_score_panel_names_the_scale_and_its_unit(tmp_path):
    """The HTML report's time-course panel said only 'Symptom score' (MADRS? HAM-D? points?), where the PNG figure
    names the scale; a simulation's and a trial's report (and the dashboard's figures) now name it."""
    import ketasim
    from ketasim.report import embedded_figures, simulation_report, trial_report
    from ketasim.scenario import quick_scenario
    from ketasim.web import figures as F

    sc = quick_scenario("ketamine", "iv", "0.5mg/kg", weight_kg=80.0, size=3, scale="hamd17")
    res = ketasim.simulate(sc, n=3, output_times_h=[0.0, 1.0, 24.0])
    typ = ketasim.simulate(sc, typical=True, output_times_h=[0.0, 1.0, 24.0])

    def score_titles(page):
        fig = embedded_figures(page)["cascade"]
        return [a["text"] for a in fig["layout"]["annotations"] if "Symptom score" in a["text"]]

    page = simulation_report(res, typ, tmp_path / "s.html").read_text(encoding="utf-8")
    assert score_titles(page) == ["<b>Symptom score (HAM-D17, points)</b>"]
    tr = ketasim.run_trial(sc, n=4)
    page = trial_report(tr, tmp_path / "t.html").read_text(encoding="utf-8")
    assert score_titles(page) == ["<b>Symptom score (HAM-D17, points)</b>"]
    fig = F.cascade_figure(typ.trajectories(), None, scale="madrs")
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert any(t.startswith("<b>Symptom score (MADRS, points)</b>") for t in titles), titles
    assert not any("Sedation" in t and "points" in t for t in titles)     # only the score panel


# ---- 4. docs/model.md's side-effect ceiling paragraph: dated history, and today's numbers as the model prints them -------
def test_model_doc_dates_the_ceiling_sessions_numbers_and_quotes_the_current_ones(capsys):
    """docs/model.md quoted the twelfth session's figures (typical CADSS peak 14.35 after 0.5 mg/kg IV) as if current
    while `simulate` printed 11.0. They are now labelled history, and the current figures are the command's own
    (if this fails after a model change: run the commands and update the paragraph's last sentence)."""
    import re
    from pathlib import Path

    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text(encoding="utf-8").split())
    para = text[text.index("**Side-effect peaks have a ceiling**"):text.index("**A newly started oral antidepressant")]
    assert "history, not what the model prints now" in para and para.index("14.35") < para.index("The current model")

    def peaks(*argv):
        code, out, _ = run_cli(capsys, "simulate", "--drug", "ketamine", *argv)
        assert code == 0
        cadss = re.search(r"dissociation \(CADSS\)\s+peak\s+([\d.]+) at", out).group(1)
        sbp = re.search(r"systolic BP rise\s+peak\s+([+\d.]+) mmHg", out).group(1)
        return cadss, sbp

    cadss, sbp = peaks("--route", "iv", "--dose", "0.5mg/kg")
    assert f"`ketasim simulate --drug ketamine --route iv --dose 0.5mg/kg`" in para
    assert f"CADSS peak {cadss}, systolic rise {sbp} mmHg" in para
    import warnings

    from ketasim.errors import DoseWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", DoseWarning)        # printed by the CLI as a 'warning: ...' line
        cadss, sbp = peaks("--route", "iv-bolus", "--dose", "2mg/kg")
    assert f"iv-bolus --dose 2mg/kg`: CADSS peak {cadss}, systolic rise {sbp} mmHg" in para


# ---- 5. a YAML syntax error names the line of the mistake, not the next one --------------------------------------------
@pytest.mark.parametrize("text, line_no, says", [
    # a key without its ':': YAML notices it where the next line starts
    ("name: t\npopulation\n  size: 2\narms:\n  k: [{drug: ketamine, route: iv-infusion, dose: 0.5 mg/kg}]\n", 2,
     "'population' has no ':' after it (a key is written 'key: value'; YAML noticed it at line 3"),
    ("name: t\nseed 3\n", 2, "'seed 3' has no ':' after it (a key is written 'key: value'; YAML noticed it at the "
                             "end of the file"),
    # an unclosed '{' or '[': noticed on a later line or at the end of the file
    ("name: t\narms:\n  k:\n    - {drug: ketamine, route: iv-infusion, dose: 0.5 mg/kg\n  p: []\n", 4,
     "the '{' opened on this line is not closed (YAML noticed it at line 5: expected ',' or '}', but got ':')"),
    ("name: t\narms:\n  k: [{drug: ketamine, route: iv-infusion, dose: 0.5 mg/kg}\n", 3,
     "the '[' opened on this line is not closed (YAML noticed it at the end of the file"),
    # an unclosed quote
    ("name: 't\npopulation: {size: 2}\narms: {}\n", 1, "the quote opened on this line is not closed"),
])
def test_a_yaml_syntax_error_names_the_line_of_the_mistake(capsys, tmp_path, text, line_no, says):
    """`population` written without its ':' was reported at line 3 (where YAML noticed it), an unclosed '{' at the
    next line: YAML's problem mark is where it noticed the mistake, its context mark where the unfinished key,
    bracket or quote began."""
    f = tmp_path / "s.yaml"
    f.write_text(text)
    code, _, err = run_cli(capsys, "simulate", f)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(f"error: {f}: not valid YAML (line {line_no}): "), line
    assert says in line, line


def test_a_yaml_error_at_its_own_line_keeps_that_line(capsys, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: t: u\nseed: 3\n")
    code, _, err = run_cli(capsys, "simulate", f)
    assert one_error_line(err) == f"error: {f}: not valid YAML (line 1): mapping values are not allowed here"
