"""Review findings of the fortieth session (H3, /work/coord/s40/H3_review.md) fixed by the lead."""

from __future__ import annotations

import dataclasses

import pytest

from ketasim.errors import InputError
from ketasim.nca import DEFAULT_SCHEDULE_H, PKSampling


def test_pk_sampling_without_times_is_one_line_and_replaced_times_are_sampled_as_given():
    """R2-3: PKSampling(times_h=None) raised a TypeError traceback (the default-schedule test ran before the
    validation), and dataclasses.replace(PKSampling(), times_h=...) kept the default schedule's resolved
    infusion_end=True, adding the infusion's end to times the API user gave."""
    with pytest.raises(InputError, match=r"^pk_sampling\.times: an NCA needs at least 2 sampling times"):
        PKSampling(times_h=None)
    default = PKSampling()
    assert default.adds_infusion_end and 40 / 60 in default.times_for(40 / 60)
    given = dataclasses.replace(default, times_h=(0.5, 1.0, 4.0))
    assert not given.adds_infusion_end and given.times_for(40 / 60) == (0.5, 1.0, 4.0)
    assert dataclasses.replace(given, times_h=DEFAULT_SCHEDULE_H).adds_infusion_end
    assert dataclasses.replace(given, infusion_end=True).times_for(40 / 60) == (0.5, 40 / 60, 1.0, 4.0)


def test_an_inhibitor_counts_against_the_anesthetic_level_wherever_it_is_written():
    """R4-1: the reference push kept the population's comedications, so clarithromycin written in
    `population.comedications` raised the level as much as the dose (silent), while the same inhibitor in the arm's
    `comedications:` warned. The reference is now the patient without interacting drugs: both forms warn alike."""
    import warnings

    from ketasim.errors import DoseWarning
    from ketasim.scenario import scenario_from_dict
    from ketasim.summary import cumulative_anesthetic_arms

    dose = [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.95 mg/kg"}]
    pop = {"size": 4, "weight_kg": {"mean": 70, "sd": 0}, "female_fraction": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseWarning)
        in_arm = scenario_from_dict({"name": "a", "population": pop,
                                     "arms": {"x": {"doses": dose, "comedications": ["clarithromycin"]}}})
        in_pop = scenario_from_dict({"name": "p", "population": {**pop, "comedications": ["clarithromycin"]},
                                     "arms": {"x": dose}})
        alone = scenario_from_dict({"name": "n", "population": pop, "arms": {"x": dose}})
    a, p = cumulative_anesthetic_arms(in_arm), cumulative_anesthetic_arms(in_pop)
    assert len(a) == len(p) == 1 and a[0][1] == p[0][1], (a, p)
    assert cumulative_anesthetic_arms(alone) == []


def test_a_records_dvid_takes_a_scale_as_users_write_it():
    """H1 s40 found-not-fixed: a record with DVID 'HAM-D' listed every DVID, while population.scale said which three
    Hamilton versions there are; 'HAM-D17' or 'HDRS-17' (accepted as a scale) was an unknown DVID."""
    from ketasim.errors import KetasimError
    from ketasim.record import record_from_rows

    def rows(dvid):
        return [{"ID": 1, "TIME": 0, "EVID": 0, "DV": 20, "DVID": dvid, "WT": 70, "AGE": 40, "SEX": "F"},
                {"ID": 1, "TIME": 0.5, "EVID": 1, "AMT": 0.5, "AMTU": "mg/kg", "DUR": 0.6667,
                 "DRUG": "racemic-ketamine", "ROUTE": "iv-infusion"}]

    with pytest.raises(KetasimError, match=r"DVID.*unknown DVID 'HAM-D': the Hamilton depression scale has three "
                                           r"versions, hamd17 \(0-52\)"):
        record_from_rows(rows("HAM-D"))
    for written in ("HAM-D17", "HDRS-17", "hamd17"):
        rec = record_from_rows(rows(written))
        assert [o.dvid for o in rec.observations] == ["hamd17"], written


def test_serve_refuses_a_host_that_is_not_an_address():
    """H1 s40 found-not-fixed: `ketasim serve --host 999.1.1.1` was told it 'would let other machines reach the
    dashboard' (not loopback), as if it were a real remote address."""
    from ketasim.web.server import serve

    for bad in ("999.1.1.1", "127.0.0", "fe80::zz"):
        with pytest.raises(InputError, match=r"^host: '.*' is not an IP address"):
            serve(host=bad, warm=False)
    with pytest.raises(InputError, match="would let other machines reach the dashboard"):
        serve(host="10.1.2.3", warm=False)


def test_the_sessions_hours_apart_warning_counts_sessions_as_the_plan_groups_them():
    """R6-1: 9 boluses 15 min apart (two sessions 2 h apart by regimen.group_sessions) were called 'sessions 15 min
    apart (9 of them)'; a line whose doses stay within one session does not warn."""
    import warnings

    from ketasim.errors import DoseWarning
    from ketasim.regimen import arm_from_list

    def said(**line):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            arm_from_list("a", [dict(drug="racemic-ketamine", route="iv-bolus", dose="0.1 mg/kg", **line)])
        return [str(w.message) for w in caught if issubclass(w.category, DoseWarning)]

    (msg,) = said(every="15 min", count=9)
    assert "doses 15 min apart (9 of them) make 2 sessions 2 h apart" in msg, msg
    assert said(every="15 min", count=4) == []
    (msg,) = said(every="6 h", count=3)
    assert "sessions 6 h apart (3 of them)" in msg, msg


def test_trial_writes_each_patients_ratings(tmp_path, capsys):
    """`trial --patients-csv` (fortieth session; H4 found no per-patient output of a trial): one row per arm x patient
    x endpoint time whose group means are the trial's own endpoint rows, with provenance and units beside it; a
    wrong extension is refused before running and nothing is written."""
    import json

    import numpy as np
    import pandas as pd

    from _support import REPO
    from ketasim.cli import main

    out = tmp_path / "ratings.csv"
    scen = REPO / "docs" / "tutorials" / "placebo_trial.yaml"
    assert main(["trial", str(scen), "--size", "30", "--patients-csv", str(out), "--json", str(tmp_path / "t.json"),
                 "--no-progress"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    df = pd.read_csv(out)
    assert list(df.columns) == ["arm", "subject", "time_h", "endpoint", "female", "reference", "baseline", "rating",
                                "change", "model_score", "response", "remission"]
    assert set(df.loc[df.endpoint == 1, "time_h"]) == {2.0, 24.0, 168.0} and set(df.loc[df.endpoint == 0, "time_h"]) \
        == {0.0}
    trial = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    checked = 0
    for arm, body in trial["arms"].items():
        assert df[df.arm == arm].subject.nunique() == body["n"] == 30
        for row in body["endpoints"]:
            col = {"mean_change": "change", "response_rate": "response", "remission_rate": "remission"}.get(
                row["measure"])
            if col is None:
                continue
            g = df[(df.arm == arm) & np.isclose(df.time_h, row["time_h"])]
            scale = 100.0 if row["measure"].endswith("_rate") else 1.0
            assert scale * g[col].mean() == pytest.approx(row["value"], abs=1e-9), (arm, row)
            checked += 1
    assert checked >= 6
    meta = json.loads((tmp_path / "ratings.csv.provenance.json").read_text(encoding="utf-8"))
    assert meta["model"] == trial["model"] and meta["units"]["rating"] == "MADRS points"
    assert "response" in meta["definitions"].lower() and "arms" not in meta
    bad = tmp_path / "ratings.json"
    assert main(["trial", str(scen), "--size", "10", "--patients-csv", str(bad), "--no-progress"]) == 2
    assert "--patients-csv" in capsys.readouterr().err and not bad.exists()



def test_a_follow_up_trials_ratings_mark_the_endpoint_rows(tmp_path):
    """R9-1: a follow-up design's ratings hold its relapse visits too (26 times for endpoints at 24 h and 13 d): the
    `endpoint` column marks the rows the endpoint table counts."""
    from _support import REPO
    from ketasim import load_scenario, run_trial

    sc = load_scenario(REPO / "examples" / "open_label_follow_up.yaml")
    df = run_trial(sc, n=10, progress=None).patient_ratings()
    marked = set(df.loc[df.endpoint == 1, "time_h"])
    assert marked == {float(t) for t in sc.endpoints.times_h}
    assert df.time_h.nunique() > len(marked) + 1          # the visits are there, unmarked


def test_a_trial_without_endpoints_marks_its_default_endpoint_rows():
    """R10-1: without `endpoints:` the trial reports its default times (2 h, 24 h, 7 d, 28 d), but the ratings'
    `endpoint` column was 0 on every row (an empty fallback instead of the trial's default: one constant now)."""
    from ketasim import run_trial, scenario_from_dict

    sc = scenario_from_dict({"name": "noep", "population": {"size": 6}, "arms": {
        "k": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}],
        "p": [{"drug": "placebo", "route": "iv-infusion", "dose": "0 mg", "duration": "40 min"}]}})
    tr = run_trial(sc, n=6, progress=None)
    df = tr.patient_ratings()
    assert set(df.loc[df.endpoint == 1, "time_h"]) == set(tr.table().time_h.dropna()) == {2.0, 24.0, 168.0, 672.0}
