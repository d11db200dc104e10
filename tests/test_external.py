"""`ketasim qualify --external DIR`: a folder of published trials (NAME.yaml + NAME.csv), each run and compared
with its observed rows (ketasim.observed), summarised per trial, per domain and overall with the floors `qualify`
reports; a broken trial is one line and the others still run. Every folder here is built in tmp_path from the
model's own outputs (no published numbers)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.external import external_document, find_trials, qualify_external, trial_domain
from ketasim.scenario import scenario_from_dict
from ketasim.trial import run_trial

from _support import write_rows_csv

SIZE = 24          # virtual patients per arm in these tests (seconds per trial)

IV = """name: iv-single
seed: 5
population: {size: 30, condition: depression, scale: madrs, baseline: {mean: 33, sd: 5}}
arms:
  ketamine: [{drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min}]
  saline: [{drug: placebo, route: iv-infusion, duration: 40 min}]
endpoints: {times: [24 h], measures: [mean_change, response_rate]}
"""
NASAL = """name: nasal-esk
seed: 6
population: {size: 40, condition: depression, scale: madrs, baseline: {mean: 35, sd: 5}}
arms:
  esketamine: [{drug: esketamine, route: intranasal, dose: 56 mg}]
  placebo: [{drug: placebo, route: intranasal}]
endpoints: {times: [4 h, 24 h], measures: [mean_change, response_rate]}
"""


def _model_rows(text: str, size: int, seed: int, n=None) -> list[dict]:
    """The model's own endpoint rows of a scenario as an observed file's rows (no published numbers)."""
    import yaml

    tr = run_trial(scenario_from_dict(yaml.safe_load(text)), n=size, seed=seed)
    rows = []
    for r in tr.endpoints:
        if r["measure"] in ("mean_change", "response_rate") and "stratum" not in r:
            rows.append({"arm": r["arm"], "timepoint_h": f"{r['time_h']:g}", "measure": r["measure"],
                         "value": repr(float(r["value"])), "n": "" if n is None else n})
    return rows


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two good trials whose 'published' rows are the model's own outputs at --size SIZE --seed 11."""
    d = tmp_path_factory.mktemp("external")
    (d / "iv.yaml").write_text(IV, encoding="utf-8")
    write_rows_csv(d / "iv.csv", _model_rows(IV, SIZE, 11, n=30))
    (d / "nasal.yaml").write_text(NASAL, encoding="utf-8")
    write_rows_csv(d / "nasal_observed.csv", _model_rows(NASAL, SIZE, 11))       # no n: the scenario's 40
    (d / "README.md").write_text("ignored", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def result(folder):
    return qualify_external(folder, size=SIZE, seed=11)


def test_each_trial_runs_and_its_rows_are_compared(result):
    assert [t.name for t in result.trials] == ["iv", "nasal"] and not result.failed
    rows = result.rows
    assert len(rows) == 4 + 8 and set(rows["trial"]) == {"iv", "nasal"}
    # observed = the model's own output at the same size and seed: every error is zero, every row inside
    assert np.allclose(rows["error"], 0.0, atol=1e-9) and rows["inside"].all()
    iv = rows[rows["trial"] == "iv"]
    assert (iv["n"] == 30).all() and (iv["n_from"] == "observed file").all()
    nasal = rows[rows["trial"] == "nasal"]       # no n in the file: the scenario's arm size, not --size
    assert (nasal["n"] == 40).all() and nasal["n_from"].str.contains("scenario").all()
    assert (nasal["n_virtual"] == SIZE).all()


def test_domains_are_derived_from_condition_and_route(result):
    assert {t.name: t.domain for t in result.trials} == {"iv": "depression IV", "nasal": "intranasal esketamine"}
    s = result.summary()
    assert set(s["by_domain"]) == {"depression IV", "intranasal esketamine"}
    assert s["by_domain"]["depression IV"]["rows"] == 4 and s["overall"]["rows"] == 12 and s["overall"]["trials"] == 2
    import yaml

    anxiety = yaml.safe_load(IV.replace("condition: depression, scale: madrs", "condition: anxiety, scale: hama"))
    assert trial_domain(scenario_from_dict(anxiety)) == "anxiety"
    oral = yaml.safe_load(IV.replace("route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min", "route: oral, dose: 1 mg/kg"))
    assert trial_domain(scenario_from_dict(oral)) == "depression oral"


def test_floors_are_those_qualify_reports(result):
    from ketasim.calibration import heterogeneity_sd

    s = result.summary()["overall"]
    rows = result.rows
    k = math.sqrt(2.0 / math.pi)
    score = rows[rows["unit"] == "points"]
    rate = rows[rows["unit"] == "percentage points"]
    assert s["sampling_floor_points"] == pytest.approx(k * score["sampling_sd"].mean())
    assert s["sampling_floor_percentage_points"] == pytest.approx(k * rate["sampling_sd"].mean())
    het = [math.hypot(sd, heterogeneity_sd("response", p)) for sd, p in zip(rate["sampling_sd"], rate["predicted"])]
    assert s["heterogeneity_floor_percentage_points"] == pytest.approx(k * np.mean(het))
    assert s["heterogeneity_floor_points"] > s["sampling_floor_points"] > 0
    # a rate row's sampling SD is the binomial one at the row's n
    r = rate.iloc[0]
    assert r["sampling_sd"] == pytest.approx(100 * math.sqrt(r["predicted"] / 100 * (1 - r["predicted"] / 100) / r["n"]))


def test_deterministic_with_seed(folder, result):
    again = qualify_external(folder, size=SIZE, seed=11)
    assert again.rows["predicted"].tolist() == result.rows["predicted"].tolist()
    assert again.rows["pi_low"].tolist() == result.rows["pi_low"].tolist()
    other = qualify_external(folder, size=SIZE, seed=12)
    assert other.rows["predicted"].tolist() != result.rows["predicted"].tolist()
    assert not np.allclose(other.rows["error"], 0.0)       # the 'published' rows came from seed 11


def test_cli_writes_json_with_provenance_and_html(folder, tmp_path, capsys):
    js, rep = tmp_path / "q.json", tmp_path / "q.html"
    assert main(["qualify", "--external", str(folder), "--size", str(SIZE), "--seed", "11", "--json", str(js),
                 "--html", str(rep)]) == 0
    out = capsys.readouterr().out
    assert out.count("[1/2] iv") == 1 and out.count("[2/2] nasal") == 1      # one streamed line per trial
    doc = json.loads(js.read_text(encoding="utf-8"), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    prov = doc["provenance"]
    from ketasim.parameters import load_parameters

    p = load_parameters()
    assert prov["parameter_set"] == p.version and prov["calibration_run"] == p.calibration_run
    assert prov["size"] == SIZE and prov["seed"] == 11 and doc["fitted"] is False
    files = {f["file"]: f["sha256"] for t in doc["trials"] for f in t["files"].values()}
    assert set(files) == {"iv.yaml", "iv.csv", "nasal.yaml", "nasal_observed.csv"}
    for name, digest in files.items():
        assert digest == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert len(doc["rows"]) == 12 and {"trial", "domain", "arm", "measure", "observed", "predicted", "pi95",
                                       "inside", "n", "sampling_sd"} <= set(doc["rows"][0])
    for key in ("sampling_floor_points", "sampling_floor_percentage_points", "heterogeneity_floor_points",
                "heterogeneity_floor_percentage_points"):
        assert isinstance(doc["summary"]["overall"][key], float)
    assert set(doc["summary"]["by_trial"]) == {"iv", "nasal"} and doc["failed"] == []
    page = rep.read_text(encoding="utf-8")
    assert page.count('data-figure="trial-') == 2 and "intranasal esketamine" in page
    assert hashlib.sha256((folder / "iv.csv").read_bytes()).hexdigest() in page


def test_a_broken_trial_is_one_line_and_the_others_run(folder, tmp_path, capsys):
    d = tmp_path / "mixed"
    d.mkdir()
    for f in ("iv.yaml", "iv.csv"):
        (d / f).write_bytes((folder / f).read_bytes())
    (d / "bad.yaml").write_text(IV, encoding="utf-8")
    write_rows_csv(d / "bad.csv",
                   [{"arm": "nonexistent", "timepoint_h": "24", "measure": "mean_change", "value": "-5"}])
    (d / "twice.yaml").write_text(IV, encoding="utf-8")
    for f in ("twice.csv", "twice_observed.csv"):
        (d / f).write_bytes((folder / "iv.csv").read_bytes())
    (d / "orphan.csv").write_bytes((folder / "iv.csv").read_bytes())
    js, rep = tmp_path / "q.json", tmp_path / "q.html"
    rc = main(["qualify", "--external", str(d), "--size", str(SIZE), "--json", str(js), "--html", str(rep)])
    cap = capsys.readouterr()
    assert rc == 2
    failed = [ln for ln in cap.out.splitlines() if "FAILED" in ln and ln.startswith("[")]
    assert len(failed) == 3
    assert any("bad.csv row 1 (line 2), column arm" in ln for ln in failed)
    assert any("twice.csv and twice_observed.csv" in ln for ln in failed)
    assert any("orphan.csv: no scenario orphan.yaml" in ln for ln in failed)
    assert "[2/4] iv (depression IV" in cap.out                     # the good trial ran
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: qualify --external: 3 of 4 trial(s) failed")
    doc = json.loads(js.read_text(encoding="utf-8"))               # the outputs are complete for the trial that ran
    assert {t["name"]: t["status"] for t in doc["trials"]} == {"bad": "failed", "iv": "ok", "orphan": "failed",
                                                                "twice": "failed"}
    assert len(doc["failed"]) == 3 and all("\n" not in f["reason"] for f in doc["failed"])
    assert {r["trial"] for r in doc["rows"]} == {"iv"} and rep.is_file()


def test_discovery_convention(tmp_path):
    (tmp_path / "a.yaml").write_text(IV, encoding="utf-8")
    (tmp_path / "a.yml").write_text(IV, encoding="utf-8")
    (tmp_path / "a.csv").write_text("arm\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text(IV, encoding="utf-8")
    (tmp_path / "c_observed.yaml").write_text(IV, encoding="utf-8")        # its own file is c_observed.csv
    (tmp_path / "c_observed.csv").write_text("arm\n", encoding="utf-8")
    trials = {t.name: t for t in find_trials(tmp_path)}
    assert "two scenarios" in trials["a"].problem
    assert trials["b"].problem == "b.yaml: no observed file b.csv (or b_observed.csv) beside it"
    assert trials["c_observed"].problem is None and trials["c_observed"].observed_file.name == "c_observed.csv"
    with pytest.raises(InputError, match="not a folder"):
        find_trials(tmp_path / "a.yaml")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no trials"):
        find_trials(empty)


def test_domain_column_overrides_and_must_be_one_value(folder, tmp_path):
    d = tmp_path / "dom"
    d.mkdir()
    (d / "iv.yaml").write_bytes((folder / "iv.yaml").read_bytes())
    rows = _model_rows(IV, SIZE, 11, n=30)
    write_rows_csv(d / "iv.csv", [{**r, "domain": "older adults"} for r in rows])
    q = qualify_external(d, size=SIZE, seed=11)
    assert q.trials[0].domain == "older adults" and list(q.summary()["by_domain"]) == ["older adults"]
    write_rows_csv(d / "iv.csv", [{**r, "domain": f"d{i}"} for i, r in enumerate(rows)])
    q = qualify_external(d, size=SIZE, seed=11)
    assert q.trials[0].problem.startswith("iv.csv, column domain: one domain per file")
    doc = external_document(q)
    assert doc["failed"][0]["name"] == "iv" and doc["rows"] == []


def test_bad_options_fail_before_anything_runs(folder, tmp_path, capsys):
    assert main(["qualify", "--external", str(folder), "--json", str(tmp_path / "no" / "q.json"),
                 "--html", str(tmp_path / "q.html")]) == 2
    cap = capsys.readouterr()
    assert "[1/" not in cap.out and cap.err.count("\n") == 1 and "does not exist" in cap.err
    assert main(["qualify", "--external", str(folder), "--cross-validate"]) == 2
    assert "--external" in capsys.readouterr().err
    assert main(["qualify", "--json", str(tmp_path / "q.json")]) == 2
    assert "only with --external" in capsys.readouterr().err
    assert main(["qualify", "--external", str(tmp_path / "missing"), "--json", str(tmp_path / "q.json"),
                 "--html", str(tmp_path / "q.html")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["qualify", "--external", str(folder), "--uncertainty", "1", "--json", str(tmp_path / "q.json"),
                 "--html", str(tmp_path / "q.html")]) == 2
    assert "--uncertainty" in capsys.readouterr().err
    assert not (tmp_path / "q.json").exists() and not (tmp_path / "q.html").exists()


def test_uncertainty_widens_the_intervals(folder, result):
    wide = qualify_external(folder, size=SIZE, seed=11, uncertainty=3)
    assert wide.rows["predicted"].tolist() == result.rows["predicted"].tolist()
    assert ((wide.rows["pi_high"] - wide.rows["pi_low"]) >= (result.rows["pi_high"] - result.rows["pi_low"]) - 1e-9).all()
    assert (wide.rows["draws_sd"] > 0).any() and "posterior parameter draws" in wide.interval


def test_a_calibration_trial_is_called_in_sample(folder, result, tmp_path, capsys):
    """examples/external holds two calibration trials and the output did not say so (s31 new-user pass): a trial
    whose rows name a calibration trial (trial_id, DOI, PMID or source_url of reference/clinical_calibration.csv) is
    flagged IN SAMPLE in the printed table, the JSON and the HTML; the model-made trials of `folder` are not."""
    import pandas as pd

    from ketasim.calibration import read_rows
    from ketasim.external import DOI_PATTERN, calibration_match

    assert all(t.in_calibration == "" for t in result.trials)
    ref = read_rows()
    cited = next(r for r in ref if DOI_PATTERN.search(r["citation"]))
    doi = DOI_PATTERN.search(cited["citation"]).group(0).rstrip(".)")
    by_doi = calibration_match(pd.DataFrame([{"trial_id": "my_own_name", "citation": f"Someone 2020. doi:{doi.upper()}"}]))
    assert by_doi.startswith(f"DOI {doi.lower()} is calibration trial {cited['trial_id']}") and "in sample" in by_doi
    assert calibration_match(pd.DataFrame([{"trial_id": ref[0]["trial_id"]}])).startswith(
        f"trial_id {ref[0]['trial_id']} is calibration trial {ref[0]['trial_id']}")
    assert calibration_match(pd.DataFrame([{"trial_id": "new_trial", "citation": "doi:10.9999/not.fitted"}])) == ""

    d = tmp_path / "mixed"
    d.mkdir()
    for f in ("iv.yaml", "nasal.yaml", "nasal_observed.csv"):
        (d / f).write_bytes((folder / f).read_bytes())
    write_rows_csv(d / "iv.csv", [{**r, "citation": f"doi:{doi}"} for r in _model_rows(IV, SIZE, 11, n=30)])
    js, rep = tmp_path / "q.json", tmp_path / "q.html"
    assert main(["qualify", "--external", str(d), "--size", str(SIZE), "--json", str(js), "--html", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "IN SAMPLE: 1 of 2 trial(s) are calibration trials" in out and f"IN SAMPLE iv: DOI {doi.lower()}" in out
    assert "[1/2] iv" in out and out.count("[IN SAMPLE: a calibration trial]") == 1
    doc = json.loads(js.read_text(encoding="utf-8"))
    flags = {t["name"]: t["in_calibration"] for t in doc["trials"]}
    assert flags["nasal"] is None and cited["trial_id"] in flags["iv"]
    page = rep.read_text(encoding="utf-8")
    assert "In sample: calibration trials" in page and page.count("(IN SAMPLE: a calibration trial)") == 1
