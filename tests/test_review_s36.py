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
