"""Regression tests of the thirty-sixth session's leftovers (H4): one per fixed finding."""

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MURROUGH_CSV = ROOT / "examples" / "observed" / "murrough2013_observed.csv"


def test_an_observed_file_naming_another_scenario_is_refused_and_an_untied_one_warns(tmp_path, capsys):
    """Murrough 2013's observed rows (ketamine and midazolam at 24 h) were compared with the design example, whose
    arms and endpoint times happen to match: nothing tied the file to its scenario. A file's `scenario` column names
    the scenario's `name:`; another name is one line naming both, before anything runs; a file without it warns
    once; the shipped example files name their scenarios."""
    import csv

    from ketasim import load_scenario
    from ketasim.cli import main
    from ketasim.errors import InputError
    from ketasim.observed import read_observed

    design = ROOT / "examples" / "design_example.yaml"
    js = tmp_path / "t.json"
    assert main(["trial", str(design), "--size", "10", "--observed", str(MURROUGH_CSV), "--json", str(js),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: --observed murrough2013_observed.csv, column scenario: the file belongs to scenario "
                   "'murrough2013', not to 'single-infusion-trd' (the scenario's name:); give this trial's observed "
                   "file, or correct its scenario column")
    assert not js.exists()

    # the same rows without the column: read as before, with one warning naming the scenario
    with open(MURROUGH_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    untied = tmp_path / "untied.csv"
    with open(untied, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, [c for c in rows[0] if c != "scenario"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("always")             # printed by the CLI as 'warning: ...' lines
        assert main(["trial", str(design), "--size", "10", "--observed", str(untied), "--no-progress"]) == 0
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "names no scenario" in x]
    assert lines == ["warning: --observed untied.csv names no scenario (no scenario column): nothing ties it to "
                     "scenario 'single-infusion-trd', so another trial's file with the same arm names and times "
                     "would be compared as well; add a column scenario with single-infusion-trd (the scenario's "
                     "name:)"]

    # its own scenario: no warning (-W error), the table carries the name; letter case is ignored
    murrough = load_scenario(ROOT / "examples" / "observed" / "murrough2013.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["trial", str(ROOT / "examples" / "observed" / "murrough2013.yaml"), "--size", "10",
                     "--observed", str(MURROUGH_CSV), "--no-progress"]) == 0
    assert "names no scenario" not in capsys.readouterr().err
    assert set(read_observed(MURROUGH_CSV, murrough)["scenario"]) == {"murrough2013"}
    upper = [dict(r, scenario="Murrough2013") for r in rows]
    assert len(read_observed(upper, murrough)) == 4
    # two names in one file; an empty cell beside the name is fine
    with pytest.raises(InputError, match=r"^observed table, column scenario: one scenario per file, got "
                                         r"'murrough2013', 'other'$"):
        read_observed([dict(rows[0]), dict(rows[1], scenario="other")], murrough)
    assert len(read_observed([dict(rows[0]), dict(rows[1], scenario="")], murrough)) == 2

    # every shipped observed file names the scenario it sits beside
    for csv_path, yaml_path in [(MURROUGH_CSV, ROOT / "examples" / "observed" / "murrough2013.yaml"),
                                *[(p, p.with_suffix(".yaml")) for p in sorted((ROOT / "examples" / "external")
                                                                              .glob("*.csv"))]]:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            names = {r["scenario"] for r in csv.DictReader(fh)}
        assert names == {load_scenario(yaml_path).name}, csv_path.name


def test_external_qualification_refuses_a_csv_naming_another_scenario(tmp_path):
    """`qualify --external` pairs NAME.yaml with NAME.csv by file name; a CSV whose scenario column names another
    scenario is that trial's one-line failure."""
    import shutil

    from ketasim.errors import InputError
    from ketasim.external import find_trials, validate_trial

    shutil.copy(ROOT / "examples" / "observed" / "murrough2013.yaml", tmp_path / "murrough2013.yaml")
    text = MURROUGH_CSV.read_text(encoding="utf-8").replace("\nmurrough2013,", "\nsingle-infusion-trd,")
    (tmp_path / "murrough2013.csv").write_text(text, encoding="utf-8")
    (trial,) = find_trials(tmp_path)
    with pytest.raises(InputError, match=r"^murrough2013\.csv, column scenario: the file belongs to scenario "
                                         r"'single-infusion-trd', not to 'murrough2013'"):
        validate_trial(trial)


BIG = """name: big
seed: 1
population: {size: 2000}
arms:
  ketamine:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, at: 0 h}
output: {every: 1 min, until: 28 d}
"""


def _free(monkeypatch, free_bytes):
    """shutil.disk_usage as ketasim.scale sees it: ``free_bytes`` free (no gigabytes are written)."""
    import collections

    import ketasim.scale as S

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(S.shutil, "disk_usage", lambda path: usage(10 * free_bytes, 9 * free_bytes, free_bytes))


@pytest.mark.parametrize("stream", [False, True])
def test_a_trajectory_file_larger_than_the_free_disk_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys,
                                                                                      stream):
    """A 1-min grid of 2,000 patients over 28 days streams tens of GB: refused in one line naming the option, the
    size and the free space when it does not fit with a margin, before a patient is simulated or a byte written;
    the Python API (simulate_streamed) checks the same; --csv and --parquet on one disk count together."""
    import ketasim.scale as S
    from ketasim.cli import main
    from ketasim.errors import InputError
    from ketasim.scenario import load_scenario

    scen = tmp_path / "big.yaml"
    scen.write_text(BIG, encoding="utf-8")
    _free(monkeypatch, 30e9)

    def no_run(task):
        raise AssertionError("simulated although refused")

    monkeypatch.setattr(S, "run_chunk", no_run)
    out = tmp_path / "t.csv"
    argv = ["simulate", str(scen), "--csv", str(out)] + (["--chunk", "500"] if stream else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: --csv: 80,642,000 trajectory rows need up to ~37.7 GB but ")
    assert "has 30 GB free (~3 GB of it kept free); output less often" in err and "fewer patients" in err
    assert list(tmp_path.iterdir()) == [scen]

    # the API streams without the CLI in front of it: the same refusal, naming its argument
    sc = load_scenario(scen)
    with pytest.raises(InputError, match=r"^parquet: 80,642,000 trajectory rows need up to ~25\.2 GB but .* has "
                                         r"20 GB free \(~2 GB of it kept free\)"):
        _free(monkeypatch, 20e9)
        S.simulate_streamed(sc, parquet=tmp_path / "t.parquet")
    # each would fit alone in 40 GB less the margin; together (one disk) they do not
    _free(monkeypatch, 40e9)
    with pytest.raises(InputError, match=r"^csv and parquet: .* need up to ~62\.9 GB"):
        S.simulate_streamed(sc, csv=tmp_path / "t.csv", parquet=tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == [scen]


def test_a_large_trajectory_file_warns_once_with_its_size_and_how_to_reduce_it(tmp_path, monkeypatch, capsys):
    """Above 2 GB (here lowered to a few kB so that a small run shows it) the file is written with one warning that
    names its size and how to make it smaller (fewer output times, fewer patients), in the in-memory and the
    streamed command and in the API; below it, no warning (-W error)."""
    import warnings

    import ketasim.scale as S
    from ketasim.cli import main
    from ketasim.errors import OutputSizeWarning
    from ketasim.scenario import load_scenario

    scen = tmp_path / "small.yaml"
    scen.write_text(BIG.replace("size: 2000", "size: 3").replace("every: 1 min, until: 28 d", "every: 1 h, until: 2 d"),
                    encoding="utf-8")
    assert S.LARGE_OUTPUT_BYTES == 2e9
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # below 2 GB: nothing said
        assert main(["simulate", str(scen), "--csv", str(tmp_path / "quiet.csv")]) == 0
    capsys.readouterr()
    monkeypatch.setattr(S, "LARGE_OUTPUT_BYTES", 1000.0)
    for extra in ([], ["--chunk", "2"]):
        out = tmp_path / f"t{len(extra)}.csv"
        with warnings.catch_warnings():
            warnings.simplefilter("always")          # printed by the CLI as 'warning: ...' lines
            assert main(["simulate", str(scen), "--csv", str(out)] + extra) == 0
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if "trajectory rows make up to" in x]
        assert lines == ["warning: --csv: 147 trajectory rows make up to ~68.8 kB of files; to make it smaller, "
                         "output less often or at fewer times (the scenario's output: every, or a list of times), "
                         "fewer patients, or 'ketasim trial' for endpoints only"], err
        assert out.exists()
    with pytest.warns(OutputSizeWarning, match=r"^parquet: 147 trajectory rows make up to ~45\.9 kB of files; to make "
                                               r"it smaller, output less often"):
        S.simulate_streamed(load_scenario(scen), parquet=tmp_path / "t.parquet")


def test_a_sensitivity_endpoint_in_days_is_labelled_in_days(tmp_path, capsys):
    """`ketasim sensitivity --endpoint mean_change@99d` printed and wrote 'mean_change@2376h': the label writes the time
    as every output does (units.fmt_hours, without its space, as --endpoint is written); the JSON keeps the hours."""
    import json

    from ketasim.cli import main
    from ketasim.sensitivity import parse_endpoint

    assert [parse_endpoint(t).label for t in ("mean_change@99d", "response_rate@24h", "mean@40 min", "mean@3.5h",
                                              "mean@7 d", "cadss_peak")] == \
        ["mean_change@99d", "response_rate@24h", "mean@40min", "mean@3.5h", "mean@7d", "cadss_peak"]
    js = tmp_path / "s.json"
    assert main(["sensitivity", str(ROOT / "examples" / "design_example.yaml"), "--endpoint", "mean_change@99d",
                 "--size", "4", "--samples", "2", "--parameters", "placebo_gain", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "sensitivity of mean_change@99d (ketamine) by morris" in out and "2376h" not in out
    d = json.loads(js.read_text(encoding="utf-8"))
    assert d["endpoint"] == "mean_change@99d" and d["endpoint_time_h"] == 2376.0


def test_a_sensitivity_label_reads_back_as_the_time_asked_for():
    """R1-2: '--endpoint mean_change@50h' was labelled 'mean_change@2.083d' (= 49.992 h): a label copied into the next
    run asked for another time. The readable form is kept only when it reads back as the same time (within 1e-9 h),
    else the hours are written as typed."""
    from ketasim.sensitivity import parse_endpoint

    cases = {"mean_change@50h": "mean_change@50h", "mean@100.5h": "mean@100.5h", "mean@3000 min": "mean@50h",
             "mean@0.1234567h": "mean@0.1234567h",
             # round-trips: the readable form stays
             "mean_change@99d": "mean_change@99d", "mean@3.75h": "mean@225min", "mean@40 min": "mean@40min",
             "response_rate@24h": "response_rate@24h", "mean@7 d": "mean@7d"}
    for typed, label in cases.items():
        ep = parse_endpoint(typed)
        assert ep.label == label, typed
        assert abs(parse_endpoint(ep.label).time_h - ep.time_h) <= 1e-9, typed


def test_one_byte_formatter_in_decimal_units_for_every_message(monkeypatch):
    """R1-3: the run budgets said '~1.5 GiB' (limits.fmt_bytes, binary) where the disk check said '~1.6 GB'
    (scale._size, decimal) and the in-memory refusal '~1.6 GB' (scale._gb). One formatter, limits.fmt_bytes, in decimal
    units as disks report free space and the docs quote sizes; KETASIM_MAX_MEMORY's '8GB' is the 8 GB it prints
    ('8GiB' stays binary)."""
    import ketasim.scale as S
    from ketasim import limits
    from ketasim.errors import InputError

    assert [limits.fmt_bytes(b) for b in (512, 68.8e3, 1 << 20, 37.7e9, 30e9, 999.7e9, 1.4e16)] == \
        ["512 B", "68.8 kB", "1.05 MB", "37.7 GB", "30 GB", "1,000 GB", "14,000 TB"]
    assert not hasattr(S, "_gb") and not hasattr(S, "_size") and S.fmt_bytes is limits.fmt_bytes

    monkeypatch.setenv("KETASIM_MAX_MEMORY", "8GB")
    assert limits.memory_budget() == 8_000_000_000
    with pytest.raises(InputError, match=r"needs ~[0-9.]+ GB, more than the 8 GB allowed \(KETASIM_MAX_MEMORY\)"):
        limits.check_run(2_000_000, 113, 672.0)
    monkeypatch.setenv("KETASIM_MAX_MEMORY", "8GiB")
    assert limits.memory_budget() == 8 << 30
    with pytest.raises(InputError, match=r"more than the 8\.59 GB allowed"):
        limits.check_run(2_000_000, 113, 672.0)

    # the in-memory refusal of simulate writes its bytes the same way
    est = S.estimate(2, 1000, 100)
    assert est.memory_bytes == 187_200_000                # 0.2 GB as the old '{x / 1e9:,.1f} GB'
    with pytest.raises(InputError, match=r"^--report: 200,000 trajectory rows \(~187 MB in memory\) do not fit"):
        S.check_feasible(est, outputs={"report": "r.html"}, memory_budget=1.0)


def test_one_value_per_file_columns_are_checked_alike_when_the_file_is_read(tmp_path, capsys):
    """R1-4: 'one value for the whole file' was written twice (observed.file_scenario, external._check_domain) and
    run at two depths: a `trial --observed` file with two domains was accepted. One helper checks both columns in
    read_observed; the table's domain is the file's one value on every row; read_observed itself does not warn about
    a file naming no scenario (the command line does)."""
    import csv

    from ketasim import load_scenario
    from ketasim.cli import main
    from ketasim.errors import InputError
    from ketasim.observed import MAX_DOMAIN_CHARS, read_observed

    murrough = load_scenario(ROOT / "examples" / "observed" / "murrough2013.yaml")
    with open(MURROUGH_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    two = [dict(r, domain=f"d{i}") for i, r in enumerate(rows)]
    with pytest.raises(InputError, match=r"^observed table, column domain: one domain per file, got 'd0', 'd1', "
                                         r"'d2'$"):
        read_observed(two, murrough)
    path = tmp_path / "two_domains.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(two[0]))
        w.writeheader()
        w.writerows(two)
    js = tmp_path / "t.json"
    assert main(["trial", str(ROOT / "examples" / "observed" / "murrough2013.yaml"), "--size", "10", "--observed",
                 str(path), "--json", str(js), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --observed two_domains.csv, column domain: one domain per "
                                               "file, got 'd0', 'd1', 'd2'")
    assert not js.exists()
    with pytest.raises(InputError, match=rf"^observed table, column domain: at most {MAX_DOMAIN_CHARS} characters, "
                                         rf"got {MAX_DOMAIN_CHARS + 1}$"):
        read_observed([dict(rows[0], domain="x" * (MAX_DOMAIN_CHARS + 1))], murrough)
    # one value, cells left empty beside it: every row of the table carries it
    one = [dict(r, domain="older adults" if i == 0 else "") for i, r in enumerate(rows)]
    assert set(read_observed(one, murrough)["domain"]) == {"older adults"}
    # an untied file: read without a warning here (-W error), its scenario column empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_observed([{k: v for k, v in r.items() if k != "scenario"} for r in rows], murrough)
    assert set(df["scenario"]) == {""}


def test_no_source_file_has_three_blank_lines_in_a_row():
    """R1-6: errors.py had three blank lines before class OutputSizeWarning (PEP 8: two around a top-level
    definition, as everywhere else in the package)."""
    import re

    found = []
    for p in sorted((ROOT / "src" / "ketasim").rglob("*.py")):
        text = p.read_text(encoding="utf-8")
        found += [f"{p.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 2}"
                  for m in re.finditer(r"\n[ \t]*\n[ \t]*\n[ \t]*\n", text)]
    assert found == []


def test_the_contract_quotes_the_enantiomers_anesthetic_thresholds_and_the_rule_its_full_sources():
    """R2-2: docs/contracts.md gave the anesthetic-range thresholds (1 mg/kg bolus ...) without saying they are per mg
    of racemate while parenteral esketamine and arketamine are scaled by regimen.anesthetic_potency; the rule's
    docstring said 'one rule with the model's flag' without saying that it reads the installed set (the flag reads
    the run's), and cited White et al. without year or volume and 'review PMID 9893910' without author or title."""
    import warnings

    from ketasim.errors import DoseWarning
    from ketasim.regimen import Dose, Drug, Route, anesthetic_potency

    from ketasim.regimen import push_equivalent

    contract = " ".join((ROOT / "docs" / "contracts.md").read_text(encoding="utf-8").split())
    bolus = 1 / push_equivalent(1.0, 0.0)        # racemate's bolus threshold (the 60-s push's level: 0.9986 mg/kg)
    s, r = bolus / anesthetic_potency(Drug.ESKETAMINE), bolus / anesthetic_potency(Drug.ARKETAMINE)
    assert f"a bolus from {s:.2f} and {r:.2f} mg/kg" in contract

    def warns(drug, x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DoseWarning)
            return Dose(drug, Route.IV_BOLUS, x, per_kg=True).in_anesthetic_range()
    for drug, t in ((Drug.ESKETAMINE, s), (Drug.ARKETAMINE, r)):
        assert warns(drug, t * 1.005) and not warns(drug, t * 0.995), drug

    doc = " ".join(anesthetic_potency.__doc__.split())
    assert "installed parameter set" in doc and "the flag uses the run's own Ki" in doc
    # White et al. with a year and a volume; not the exact string: the year (1980;52 or 1985;62) is not yet checked
    # against PubMed, and a test that froze an unverified citation would make its correction look like a regression
    # (H3 R5-2)
    import re

    assert re.search(r"White .*Anesthesiology (19[5-9]\d|20\d\d);\d+:\d+", doc)
    assert "Himmelseher S, Pfenninger E" in doc and "PMID 9893910" in doc and "doi:10.1055/s-2007-994851" in doc


def test_the_changelog_quotes_the_enantiomers_bolus_thresholds_of_the_code():
    """R4-5: the CHANGELOG said arketamine's IV bolus warning starts at 2.84 mg/kg; 1 / anesthetic_potency is 2.833."""
    from ketasim.regimen import Drug, anesthetic_potency

    log = " ".join((ROOT / "CHANGELOG.md").read_text(encoding="utf-8").split())
    assert (f"The esketamine IV bolus warning starts at {1 / anesthetic_potency(Drug.ESKETAMINE):.2f} mg/kg (was 0.5), "
            f"arketamine's at {1 / anesthetic_potency(Drug.ARKETAMINE):.2f} mg/kg (was 1.0)") in log


def _sobol_result(s1, s1_conf, st, st_conf):
    import types

    import numpy as np

    from ketasim.sensitivity import SensitivityResult

    factors = [types.SimpleNamespace(name=f"p{i}", kind="literature", confidence="low", unit="", value=1.0, lo=0.5,
                                     hi=2.0, space="log") for i in range(len(s1))]
    return SensitivityResult(endpoint="mean_change@24h", arm="ketamine", method="sobol", nominal=-10.0,
                             factors=factors, indices={"S1": np.array(s1), "S1_conf": np.array(s1_conf),
                                                       "ST": np.array(st), "ST_conf": np.array(st_conf)},
                             elasticity=np.zeros(len(s1)), local_slope=np.zeros(len(s1)), evaluations=100,
                             meta={"samples": 64, "ranges": "literature"}, unit="MADRS points")


def test_the_sobol_noise_note_flags_only_noise_its_intervals_do_not_cover(tmp_path):
    """H3 R2-1: the note fired on any S1 > ST, so a parameter without influence (S1 0.003, ST 0.002, both ±0.01)
    put 'increase --samples' on nearly every adequate run. Only an excess beyond the ±95% is noise worth a line."""
    from ketasim.sensitivity import write_html

    ok = _sobol_result([0.6, 0.003, 0.0], [0.05, 0.01, 0.01], [0.7, 0.002, 0.001], [0.05, 0.01, 0.01])
    assert ok.sobol_noise_note() is None and "note:" not in ok.format_table()
    write_html(ok, tmp_path / "ok.html")
    assert "sampling noise" not in (tmp_path / "ok.html").read_text()
    # within the interval above 1 (a dominant parameter's ST 1.02 ± 0.05): not flagged either
    assert _sobol_result([0.95], [0.05], [1.02], [0.05]).sobol_noise_note() is None
    # beyond the intervals: flagged, naming the parameters
    s1_over_st = _sobol_result([0.6, 0.05], [0.05, 0.01], [0.7, 0.01], [0.05, 0.01])
    assert "S1 above ST by more than the ±95% (p1)" in s1_over_st.sobol_noise_note()
    above_one = _sobol_result([0.9], [0.05], [1.2], [0.1])
    assert "(p0) is the Sobol estimator's sampling noise" in above_one.sobol_noise_note()
    assert "increase --samples (now 64)" in above_one.format_table()


def test_the_dashboard_reads_the_patients_sex_one_way():
    """H3 R2-3: population_mapping read patient.sex with a permissive default (anything unknown became female) while
    build parsed it separately only to collect the error; one parse now serves both."""
    from ketasim.errors import InputError
    from ketasim.web import api

    form = api.default_form()
    patient = {**form["patient"], "sex": "X"}
    with pytest.raises(InputError, match=r"^patient\.sex: use female or male \(or F / M\), got 'X'$"):
        api.population_mapping(patient)
    assert api.population_mapping({**patient, "sex": "M"})["female_fraction"] == 0.0
    assert api.population_mapping({**patient, "sex": "Female"})["female_fraction"] == 1.0
    assert api.population_mapping({**patient, "sex": ""})["female_fraction"] == 1.0
    # the form still reports every broken field at once, the sex among them
    form["patient"].update(sex="X", age_years="5")
    with pytest.raises(api.FormErrors) as e:
        api.build(form)
    assert [x["field"] for x in e.value.errors] == ["patient.sex", "patient.age_years"]


def test_a_planned_dose_before_the_last_observation_has_one_label_from_the_cli_and_python(tmp_path, capsys):
    """H3 R2-4: the alternative was parsed twice (before the fit, then again after it) and the same mistake said
    'regimen[1].at' from the command line but 'alternative[1].at' from Python and the plan page. One helper
    (personal._future_doses) parses it once, under one label."""
    import yaml

    from ketasim.cli import main
    from ketasim.errors import InputError
    from ketasim.personal import _future_doses, personal_plan
    from ketasim.record import read_record

    record = str(ROOT / "examples" / "patient" / "patient_101.csv")
    lines = [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "400 h"},
             {"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "20 h"}]
    with pytest.raises(InputError) as e:
        personal_plan(read_record(record), alternative=lines)
    alt = tmp_path / "alt.yaml"
    alt.write_text(yaml.safe_dump(lines))
    assert main(["plan", record, "--alternative", str(alt)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --alternative alt.yaml: {e.value}"
    assert str(e.value).startswith("alternative[1].at: a dose at 20 h is not after the last observation")
    # Doses already parsed pass through as they are
    doses = _future_doses(read_record(record), lines[:1], "alternative")
    assert _future_doses(read_record(record), doses, "alternative") == doses


@pytest.mark.parametrize("window", ["1 week:1 week", None])
def test_plan_candidates_are_one_per_distinct_set_of_doses_all_inside_the_window(window):
    """H3 R2-5: the de-duplication key was (drug, route, amount, per_kg, times), right only while a candidate's
    doses are the sessions inside the window. It is now the doses themselves; and every candidate's doses lie in the
    window (a change that lets them run past it fails here, not by merging two regimens silently)."""
    from ketasim.personal import Limits, candidate_regimens, parse_target
    from ketasim.record import read_record

    rec = read_record(str(ROOT / "examples" / "patient" / "patient_101.csv"))
    end_h = parse_target(None, rec.scale, window=window).end_h
    cands = candidate_regimens(rec, Limits(), end_h)
    assert len({c["doses"] for c in cands}) == len(cands) > 10
    for c in cands:
        assert all(rec.last_observation_h < d.at_h <= rec.last_observation_h + end_h + 1e-9 for d in c["doses"])
        assert [d.at_h for d in c["doses"]] == c["times"]


def test_the_record_warning_and_the_plan_count_sessions_by_one_rule(monkeypatch):
    """H3 R3-1: record.py grouped ketamine doses into sessions with its own loop and constant ('as
    personal.SESSION_GAP_H'); one rule (regimen.SESSION_GAP_H, regimen.group_sessions) now serves the record's
    'TIME in days?' warning and the plan's session count, so a change of it changes both."""
    import warnings

    import ketasim.regimen
    from ketasim.errors import RecordWarning
    from ketasim.personal import count_sessions
    from ketasim.record import record_from_csv_text

    text = ("ID,TIME,EVID,AMT,AMTU,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n1,0,0,,,,,30,madrs,70,40,F\n"
            "1,1,1,28,mg,esketamine,intranasal,,,,,\n1,4,1,28,mg,esketamine,intranasal,,,,,\n")
    with pytest.warns(RecordWarning, match=r"^r\.csv row 3, column TIME: a ketamine session 3 h after the one at 1 h"):
        rec = record_from_csv_text(text, source="r.csv")
    assert count_sessions([a for d in rec.doses for a in d.administrations()]) == 2
    monkeypatch.setattr(ketasim.regimen, "SESSION_GAP_H", 4.0)     # 3 h apart: now one session, for both
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = record_from_csv_text(text, source="r.csv")
    assert count_sessions([a for d in rec.doses for a in d.administrations()]) == 1


def test_the_plan_forecast_numbers_and_zero_note_are_written_once_for_text_and_report(tmp_path):
    """H3 R3-2: the report's forecast table restated the text's number format, and the note for a variable that is 0
    at every forecast point was only in the text (the report's table showed the same zeros without it); the note
    named 'SBP and CADSS peaks' for --variable cp_ketamine_ng_ml too."""
    import inspect
    import re

    from ketasim.personal import personal_plan
    from ketasim.plan_report import forecast_frame, plan_report, text_summary
    from ketasim.record import read_record

    res = personal_plan(read_record(str(ROOT / "examples" / "patient" / "patient_101.csv")),
                        variables=("score", "cadss", "cp_ketamine_ng_ml"), n_samples=200, top=1)
    text = text_summary(res)
    plan_report(res, tmp_path / "p.html")
    page = (tmp_path / "p.html").read_text()
    for v, peaks in (("cadss", True), ("cp_ketamine_ng_ml", False)):
        note = (f"{v} is 0 at every forecast point: they are visits between sessions, after the drug has gone"
                + ("; a session's SBP and CADSS peaks are in the plans' margins" if peaks else "")
                + "; a session's course is in `ketasim simulate --events RECORD`")
        assert f"  ({note})" in text
        assert note.replace("'", "&#x27;") + ".</p>" in page
    # every number the text prints is the table's
    frame = forecast_frame(res)
    for e, row in zip(res["forecast"], frame.itertuples(index=False)):
        m = re.search(rf"{e['time_h']:8.1f} h  median\s+(\S+)  50% (\[.*?\])  90% (\[.*?\])",
                      text.split(f"forecast of {'the rating' if e['variable'] == 'score' else e['variable']}")[1])
        assert m.groups() == (row[2], row[3], row[4])
    assert list(inspect.signature(forecast_frame).parameters) == ["res"]


def test_sensitivity_parameters_given_a_file_without_an_extension_says_it_takes_names(tmp_path, monkeypatch):
    """H3 R3-3: the 'here --parameters selects parameter names' hint was given only for names ending in
    .json/.yaml/.yml or holding a '/': a parameter set saved as 'cal' got only 'no parameter matches cal'."""
    from ketasim.errors import InputError
    from ketasim.parameters import load_parameters
    from ketasim.sensitivity import factors

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cal").write_text("{}")
    with pytest.raises(InputError, match=r"^patterns: no parameter matches cal \(see 'ketasim params'\); patterns "
                                         r"are parameter names"):
        factors(load_parameters(), ("cal",))
    with pytest.raises(InputError) as e:              # a pattern matching nothing, and no file of that name
        factors(load_parameters(), ("calx", "x" * 5000))
    assert "are parameter names" not in str(e.value)


def test_the_dashboard_applies_every_parameter_override_or_refuses_in_one_line():
    """The dashboard API applied only the first 20 overrides (parameters_with sliced [:20]) and dropped the rest
    without a word, while the page sends every edit made; every override is now applied, and more names than the
    parameter set has parameters are refused in one line naming the field."""
    from ketasim.web import api

    p = api.parameters()
    names = [n for n in p.literature if api.plausible_range(n) is not None][:25]
    assert len(names) == 25
    edits = {n: api.plausible_range(n)[1] for n in names}         # each at the top of its range
    params, used = api.parameters_with(edits)
    assert used == edits
    assert all(params.literature[n].value == v for n, v in edits.items())
    n_params = len(p.literature) + len(p.free)
    with pytest.raises(api.FormErrors) as e:
        api.parameters_with({f"x{i}": 1 for i in range(n_params + 1)})
    assert e.value.errors == [{"field": "overrides", "message": f"overrides: {n_params + 1} names, more than the "
                                                                f"parameter set has parameters ({n_params})"}]


@pytest.mark.parametrize("text, message", [
    ("ketamine_mg_per_kg_session=20", "20 mg/kg is above 10 mg/kg, the dose refused outright in any regimen"),
    ("esketamine_mg_session=8400", "8400 mg is above 1000 mg, the dose refused outright in any regimen"),
    ("esketamine_mg_week=16800", "16800 mg is above 7000 mg, the dose refused outright in any regimen, every day"),
    ("cadss=500", "500 points is above 92 points, the top of the CADSS scale"),
    ("sbp_rise_mmhg=400", "400 mmHg is above 150 mmHg, the highest SBP change a record may hold"),
    ("sessions_per_week=200", "200 is above 84, the most sessions that fit in 7 days (doses less than 2 h apart are "
                              "one session)"),
])
def test_plan_limits_far_above_any_dose_or_scale_are_refused_in_one_line(text, message, capsys):
    """--limits ketamine_mg_per_kg_session=20 (a typo for 2.0) or cadss=500 were accepted without a word."""
    from ketasim.cli import main
    from ketasim.errors import InputError
    from ketasim.personal import Limits, parse_limits

    name = text.split("=")[0]
    with pytest.raises(InputError) as e:
        parse_limits(text)
    assert str(e.value) == f"limits {name}: {message}"      # from Python: the argument (s41)
    with pytest.raises(InputError, match=f"^limits {name}: "):
        Limits(**{name: float(text.split("=")[1])})                  # from Python too
    assert main(["plan", str(ROOT / "examples" / "patient" / "patient_101.csv"), "--limits", text]) == 2
    assert capsys.readouterr().err.strip() == f"error: --limits {name}: {message}"


def test_plan_limits_at_the_ceilings_are_accepted():
    from ketasim.personal import parse_limits

    lim = parse_limits("ketamine_mg_per_kg_session=10,esketamine_mg_session=1000,cadss=92,sbp_rise_mmhg=150,"
                       "sessions_per_week=84,ketamine_mg_per_kg_week=70,esketamine_mg_week=7000")
    assert (lim.ketamine_mg_per_kg_session, lim.cadss, lim.sessions_per_week) == (10.0, 92.0, 84.0)


def test_the_plan_json_states_the_forecast_quantiles_without_float_noise_and_the_text_rounds_them():
    """The plan JSON carried quantiles with float noise (pi90 [5.0, 22.049999999999983]; a washed-out CADSS as
    1.59e-16) while the text printed 22 and 0. H3 R5-3: rounding the JSON as the text does (whole points, 3 digits)
    took precision from the machine contract (an SBP of 12.345 -> 12.3, 12-h grid bands as staircases); the JSON
    states 6 significant digits with numerical noise as 0 (personal.json_quantile), and the text and report round
    those numbers for display."""
    from ketasim.personal import json_quantile, personal_plan
    from ketasim.plan_report import _forecast_value, forecast_frame
    from ketasim.record import read_record

    res = personal_plan(read_record(str(ROOT / "examples" / "patient" / "patient_101.csv")),
                        variables=("score", "cp_ketamine_ng_ml"), n_samples=200, top=2)
    values = [x for key in ("forecast", "forecast_grid", "prior_forecast_grid") for e in res[key]
              for x in (e["median"], *e["pi50"], *e["pi90"])]
    values += [x for p in res["plans"] for e in p["predicted"] for x in (e["median"], *e["pi90"])]
    assert all(x == json_quantile(x) for x in values)              # no float noise: 6 digits, tiny as 0
    assert all(x == 0 or abs(x) >= 1e-9 for x in values)
    assert any(x != float(f"{x:.3g}") for x in values)            # not rounded for display (3 digits)
    # the text and report print the JSON's numbers rounded for display
    for e, row in zip(res["forecast"], forecast_frame(res).itertuples(index=False)):
        score = e["variable"] == "score"
        assert row[2] == _forecast_value(e["median"], score, median=True)
        assert row[4] == f"[{_forecast_value(e['pi90'][0], score)}, {_forecast_value(e['pi90'][1], score)}]"
    assert json_quantile(22.049999999999983) == 22.05 and json_quantile(1.59e-16) == 0.0
    assert json_quantile(12.345) == 12.345 and json_quantile(123.4567891) == 123.457
    assert _forecast_value(22.05, True) == "22" and _forecast_value(1.59e-16, False) == "0"


def test_a_record_without_observations_says_so_not_last_observation_at_0_h():
    """A record with no observation printed 'patient 1: 0 observed values, ..., last observation at 0 h'."""
    from ketasim.personal import personal_plan
    from ketasim.plan_report import text_summary
    from ketasim.record import record_from_csv_text

    head = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
    dose = "1,0,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,70,40,F\n"
    rec = record_from_csv_text(head + dose, source="r.csv")
    first = text_summary(personal_plan(rec, n_samples=100, top=1)).splitlines()[0]
    assert first == ("patient 1 (F, 40 y, 70 kg): no observed values, scale MADRS; the forecast and the plan's "
                     "window count from 0 h, the record's start")
    one = record_from_csv_text(head + dose + "1,24,0,,,,,,20,madrs,,,\n", source="r.csv")
    assert text_summary(personal_plan(one, n_samples=100, top=1)).splitlines()[0] == (
        "patient 1 (F, 40 y, 70 kg): 1 observed value, scale MADRS, last observation at 24 h")   # s41: display name


def test_the_readme_says_the_inverted_u_is_a_hypothesis_off_by_default():
    """README said 'the glutamate surge (an inverted U in dose)'; by default the surge's height keeps rising with
    dose (only the lowest glutamate falls at anesthetic doses) and the inverted U of mTORC1 needs the anesthetic-state
    hypothesis, off by default."""
    import re

    from ketasim.engine import VirtualExperiment

    intro = re.sub(r"\s+", " ", (ROOT / "README.md").read_text(encoding="utf-8").split("**ketasim is")[0])
    assert "glutamate surge (an inverted U in dose)" not in intro
    assert ("the glutamate surge (larger with dose; an inverted U of mTORC1 in dose is a hypothesis, off by default)"
            in intro)
    assert not VirtualExperiment().anesthetic_state          # the hypothesis the sentence names is off by default


@pytest.mark.parametrize("text, hint", [
    ("esketamine_mg_session=84mg", "the unit is in the limit's name: write esketamine_mg_session=84"),
    ("ketamine_mg_per_kg_session=1 MG/KG", "the unit is in the limit's name: write ketamine_mg_per_kg_session=1"),
    ("sbp_rise_mmhg=30mmHg", "the unit is in the limit's name: write sbp_rise_mmhg=30"),
    ("ketamine_mg_per_kg_session=70mg", "this limit is in mg/kg, its name's unit: convert 70 mg to mg/kg"),
    ("esketamine_mg_session=1mg/kg", "this limit is in mg, its name's unit: convert 1 mg/kg to mg"),
    ("sessions_per_week=2x", "a plain number, without a unit"),
    ("quantile_without_reading=75%", "a quantile between 0 and 1 without a unit: 0.75 for 75 %"),
])
def test_plan_limits_suggest_the_bare_number_only_in_the_names_unit(text, hint):
    """H3 R4-2: any number with a unit got 'write NAME=number', so 'ketamine_mg_per_kg_session=70mg' was told to
    write =70 (70 mg/kg: in effect no limit) and 'esketamine_mg_session=1mg/kg' =1 (1 mg)."""
    from ketasim.errors import InputError
    from ketasim.personal import parse_limits

    name, value = text.split("=")
    with pytest.raises(InputError) as e:
        parse_limits(text)
    assert str(e.value) == f"limits {name}: {value!r} is not a number ({hint})"


def test_the_dashboard_does_not_offer_the_zero_one_switches():
    """H3 R4-4: ddi.*.mechanism_based is a 0/1 switch (pk.py compares == 1); once values of 1 were no longer capped
    at 1 the page offered it 0.5-2, and any edit but exactly 1 turned clarithromycin's mechanism-based inhibition off
    without a word. Switches are not editable; a Hill coefficient of 1 still goes up."""
    from ketasim.web import api

    assert api.plausible_range("ddi.clarithromycin.mechanism_based") is None
    assert not [r for r in api.parameter_catalog() if r["name"].endswith(".mechanism_based")]
    with pytest.raises(api.FormErrors) as e:
        api.parameters_with({"ddi.clarithromycin.mechanism_based": 0.9})
    assert e.value.errors == [{"field": "overrides", "message": "overrides.ddi.clarithromycin.mechanism_based: this "
                                                                "parameter cannot be edited here"}]
    assert api.plausible_range("pd.nmda.hill")[1] > 1


def test_sensitivity_sizes_an_evaluation_by_the_scenario_rule_and_refuses_as_trial_uncertainty(monkeypatch):
    """H3 R4-3: sensitivity built its run estimate by hand (the 24-h-past-the-last-dose horizon, 3 resets a dose),
    restating limits' one scenario-size rule, and wrote its own memory/time refusals beside trial --uncertainty's.
    It now asks limits.estimate_scenario_run for the evaluated arm and refuses by limits.check_repeated."""
    from ketasim import limits
    from ketasim.errors import InputError
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario(str(ROOT / "examples" / "design_example.yaml"))
    seen = {}

    class Stop(Exception):
        pass

    def spy(est, runs, field, **kw):
        seen.update(est=est, runs=runs, field=field, **kw)
        raise Stop

    monkeypatch.setattr(limits, "check_repeated", spy)
    with pytest.raises(Stop):
        run_sensitivity(sc, endpoint="mean_change@24h", arm=sc.arms[1].name, n_patients=300, samples=2,
                        patterns=("pd.nmda.hill",))
    arm = sc.arms[1]
    assert seen["field"] == "n_patients" and seen["runs"] > 1
    assert seen["est"] == limits.estimate_scenario_run(sc, 300, [0.0, 24.0], tables=False, arms=[arm])
    # the same numbers as the rule it restated (24 h past the arm's last dose, 3 resets a dose)
    n_adm = len(arm.administrations())
    assert seen["est"] == limits.estimate_run(300, 2, max(24.0, arm.last_time_h + 24.0), n_resets=3 * n_adm,
                                              n_sessions=max(n_adm, 1), tables=False)
    monkeypatch.undo()
    monkeypatch.setenv("KETASIM_MAX_SECONDS", "1")
    with pytest.raises(InputError, match=r"^n_patients: \d+ evaluations of 200,000 patients would compute for ~.*"
                                         r"\(KETASIM_MAX_SECONDS\); use fewer patients \(n_patients\), samples or "
                                         r"parameters$"):
        run_sensitivity(sc, endpoint="cadss_peak", n_patients=200_000, samples=2, patterns=("pd.nmda.hill",))


def test_the_largest_of_note_is_one_phrase_and_the_chart_counts_the_bars_it_can_draw(tmp_path):
    """H3 R1-5: 'the N largest of M parameters' was written three times, slightly differently, and the tornado's M
    counted every parameter while its N counted only those with an index: a result with one parameter lacking an
    index said 'the 2 largest of 3' when every drawable bar was shown."""
    import matplotlib.pyplot as plt

    from ketasim.sensitivity import tornado_figure, write_html

    res = _sobol_result([0.5, 0.2, float("nan")], [0.05] * 3, [0.6, 0.3, float("nan")], [0.05] * 3)
    fig = tornado_figure(res)
    assert "largest" not in fig.axes[0].get_title()
    plt.close(fig)
    fig = tornado_figure(res, top=1)
    assert ", the 1 largest of 2 parameters (all in --json)" in fig.axes[0].get_title()
    plt.close(fig)
    assert "  ... the 2 largest of 3 parameters (all in --json)" in res.format_table(top=2)
    write_html(res, tmp_path / "s.html", top=2)
    assert "<p>The 2 largest of 3 parameters (all in --json).</p>" in (tmp_path / "s.html").read_text()
