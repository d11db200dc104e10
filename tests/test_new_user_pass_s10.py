"""A new user's pass (tenth session): what a clinician, researcher or teacher meets from a fresh clone. Every bad input
is one line naming the option, field or file, checked before anything runs; nothing is half-written, and nothing
outside the named file is replaced."""

from __future__ import annotations

import os

import pytest

from ketasim.errors import OutputPathError

from _support import one_error_line, run_cli as run

QUICK = ["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5mg/kg"]



# ---- output paths that are not files ------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes")
@pytest.mark.parametrize("option", ["--csv", "--parquet", "--plot", "--report"])
def test_an_output_that_is_a_pipe_or_a_link_to_one_is_refused_before_running(capsys, tmp_path, option):
    """Outputs are written beside the target and renamed over it; over a pipe or a device (`--csv /dev/null`,
    `--csv /dev/stdout`) that replaced the pipe or device itself (as root: /dev/null became a CSV file), or failed
    only after the run. Now one line before anything runs, and the pipe is still a pipe."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link_to_pipe"
    link.symlink_to(fifo)
    for target in (fifo, link):
        code, out, err = run(capsys, *QUICK, option, target)
        assert code == 2
        assert "not a regular file" in one_error_line(err) and str(target) in err
        assert fifo.is_fifo() and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link_to_pipe", "pipe"]   # no temporary file left


@pytest.mark.skipif(os.name != "posix", reason="POSIX device paths")
@pytest.mark.parametrize("path", ["/dev/null", "/dev/stdout", "/dev/full", "/proc/x.csv"])
def test_device_paths_are_not_output_files(path):
    from ketasim.io import check_target

    with pytest.raises(OutputPathError, match="/dev and /proc|not a regular file"):
        check_target(path)


@pytest.mark.parametrize("chunk", [None, "1"])
def test_an_output_given_as_a_link_writes_the_linked_file_and_keeps_the_link(capsys, tmp_path, chunk):
    """Renaming over a symbolic link replaced the link by a new file and left the file it points to unchanged."""
    real = tmp_path / "results" / "traj_v3.csv"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "traj.csv"
    link.symlink_to(real)
    code, out, err = run(capsys, *QUICK, "--csv", link, *(["--chunk", chunk] if chunk else []))
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.read_text().startswith("arm,subject,time_h")
    assert (tmp_path / "traj.csv.provenance.json").is_file()      # beside the name given


# ---- figure file names --------------------------------------------------------------------------------------------
def test_a_plot_without_an_extension_is_a_png(capsys, tmp_path):
    """`--plot cascade` ended in a matplotlib traceback after the run (the temporary file's name gave no format)."""
    code, out, err = run(capsys, *QUICK, "--plot", tmp_path / "cascade")
    assert code == 0, err
    assert (tmp_path / "cascade").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cascade"]


def test_a_plot_extension_in_capitals_is_read(capsys, tmp_path):
    code, out, err = run(capsys, *QUICK, "--plot", tmp_path / "cascade.JPG")
    assert code == 0, err
    assert (tmp_path / "cascade.JPG").read_bytes()[:2] == b"\xff\xd8"           # JPEG


@pytest.mark.parametrize("command", ["simulate", "sensitivity"])
def test_a_plot_extension_matplotlib_cannot_write_is_refused_before_running(capsys, tmp_path, monkeypatch, command):
    import ketasim.engine
    import ketasim.sensitivity

    def refuse(*a, **k):
        raise AssertionError("ran before the --plot name was checked")

    monkeypatch.setattr(ketasim.engine, "simulate", refuse)
    monkeypatch.setattr(ketasim.sensitivity, "run_sensitivity", refuse)
    argv = (QUICK if command == "simulate" else
            ["sensitivity", "examples/design_example.yaml", "--endpoint", "response_rate@24h"])
    code, out, err = run(capsys, *argv, "--plot", tmp_path / "fig.jpgg")
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: --plot: cannot write a figure as '.jpgg'") and ".png" in line
    assert not list(tmp_path.iterdir())


def test_the_tornado_chart_is_written_completely_or_not_at_all(tmp_path, monkeypatch):
    """write_tornado wrote straight to the target (every other output goes through a temporary file)."""
    import matplotlib.figure

    from ketasim import sensitivity

    class Fake:
        pass

    def boom(self, *a, **k):
        with open(a[0], "wb") as fh:
            fh.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(sensitivity, "tornado_figure", lambda res, top: matplotlib.figure.Figure())
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    with pytest.raises(KeyboardInterrupt):
        sensitivity.write_tornado(Fake(), tmp_path / "t.png")
    assert not list(tmp_path.iterdir())


# ---- input files that are not UTF-8 text --------------------------------------------------------------------------
SCENARIO = """name: t
seed: 1
population: {size: 2, condition: depression, scale: madrs, baseline: {mean: 33, sd: 5}}
arms:
  k: [{drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min}]
endpoints: {times: [24 h], measures: [mean]}
"""


def _record_text() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "examples" / "patient" / "patient_101.csv").read_text()


@pytest.mark.parametrize("encoding, expected", [
    ("latin-1", r"not UTF-8 text \(byte 0xe9 on line 1: another encoding, e.g. Latin-1 or Windows-1252\); "
                r"save it as UTF-8"),
    ("cp1252", r"not UTF-8 text \(byte 0xe9 on line 1"),
    ("utf-16", r"UTF-16 text \(Windows 'Unicode'\); save it as UTF-8"),
])
def test_a_scenario_saved_in_another_encoding_says_so(capsys, tmp_path, encoding, expected):
    """A scenario with an accent ('Étude', 'médecin') saved by a Windows editor was 'not a text file'."""
    import re

    f = tmp_path / "s.yaml"
    f.write_bytes(("name: étude\n" + SCENARIO.split("\n", 1)[1]).encode(encoding))
    code, out, err = run(capsys, "trial", f)
    assert code == 2
    assert re.search(expected, one_error_line(err)) and str(f) in err


@pytest.mark.parametrize("encoding, expected", [
    ("cp1252", r"rec.csv: not UTF-8 text \(byte 0xe9 on line 2.*save it as UTF-8 \(in Excel: 'CSV UTF-8 \(comma"),
    ("utf-16", r"rec.csv: UTF-16 text"),
])
@pytest.mark.parametrize("command", ["plan", "events"])
def test_a_patient_record_exported_in_another_encoding_says_so(capsys, tmp_path, encoding, expected, command):
    import re

    text = _record_text().replace("101,0,0,,,,,,40,madrs,82,41,F,,,",
                                                          "101,0,0,,,,,,40,madrs,82,41,F,,,Sérieux")
    f = tmp_path / "rec.csv"
    f.write_bytes(text.encode(encoding))
    argv = ["plan", f] if command == "plan" else ["simulate", "--events", f]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert re.search(expected, one_error_line(err)), err


def test_a_spreadsheet_given_as_a_patient_record_is_named(capsys, tmp_path):
    import zipfile

    f = tmp_path / "patient.xlsx"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    code, out, err = run(capsys, "plan", f)
    assert code == 2
    assert "patient.xlsx: this is an Excel workbook or other ZIP file, not a text file" in one_error_line(err)


def test_a_patient_record_is_read_with_bounded_memory(capsys, tmp_path):
    """A trajectory CSV given to `plan` by mistake (72 MB: 1.3 GB of memory and 9 s before 'too many rows';
    /dev/zero: a MemoryError traceback) is refused after reading at most the record limit."""
    from ketasim.record import MAX_RECORD_BYTES

    f = tmp_path / "traj.csv"
    row = b"ketamine,1,0.5,170.2,68.1,0.42,0.17,1.25,1.21,1.29,1.33,1.47,1.2,13.1,3.2,0.1,24.0\n"
    with open(f, "wb") as fh:
        fh.write(b"arm,subject,time_h,a,b,c,d,e,f,g,h,i,j,k,l,m,score\n")
        fh.write(row * (MAX_RECORD_BYTES // len(row) + 10))
    code, out, err = run(capsys, "plan", f)
    assert code == 2
    assert f"traj.csv: larger than the {MAX_RECORD_BYTES:,} bytes a patient record may have" in one_error_line(err)


def test_an_observed_file_with_nul_bytes_is_not_text(capsys, tmp_path):
    """A binary --observed file without a known signature (or /dev/zero) made the CSV reader read one endless line
    (MemoryError traceback)."""
    scen = tmp_path / "s.yaml"
    scen.write_text(SCENARIO)
    f = tmp_path / "obs.csv"
    f.write_bytes(b"\x00" * 5000)
    code, out, err = run(capsys, "trial", scen, "--observed", f)
    assert code == 2
    assert one_error_line(err) == "error: --observed obs.csv: not a text file"


# ---- the documentation matches the command line -------------------------------------------------------------------
def _documented_command_lines():
    """(file, line) of every `ketasim COMMAND ...` in README.md and docs/: shell blocks and inline code."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for f in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        text = f.read_text(encoding="utf-8")
        chunks = [b for lang, b in re.findall(r"```([^\n]*)\n(.*?)```", text, re.S)
                  if lang.strip() in ("", "bash", "sh")]
        chunks += re.findall(r"`(ketasim [^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for chunk in chunks:
            for line in re.sub(r"\\\n\s*", " ", chunk).splitlines():
                line = line.split("  #", 1)[0].strip()
                m = re.search(r"(?:^|\s)ketasim ([a-z][a-z-]*)\b(.*)", line)
                if m:
                    yield f.relative_to(root).as_posix(), m.group(1), m.group(2)


def test_every_documented_command_line_names_a_command_and_its_options():
    """A how-to page showed `ketasim sensitivity examples/design_example.yaml  # planned: ...` (without the required
    --endpoint) long after the command had landed; every command line in the README and docs is checked against
    the command line's own definition: the command exists, every option is one of its options, every required
    option is given."""
    import re

    import typer

    from ketasim.cli import app

    commands = typer.main.get_command(app).commands
    bad, seen = [], 0
    for where, sub, rest in _documented_command_lines():
        if sub not in commands:
            bad.append(f"{where}: ketasim {sub}: no such command")
            continue
        seen += 1
        params = commands[sub].params
        known = {o for p in params for o in (*p.opts, *p.secondary_opts)}
        given = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest))
        bad += [f"{where}: ketasim {sub} {o}: no such option" for o in sorted(given - known)]
        if "..." not in rest and "--help" not in given:
            bad += [f"{where}: ketasim {sub}: {p.opts[0]} is required" for p in params
                    if getattr(p, "required", False) and p.opts[0].startswith("--") and not given & set(p.opts)]
    assert seen > 60 and not bad, bad


def test_no_how_to_page_describes_a_landed_command_as_planned():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for page in (root / "docs" / "howto").glob("*.md"):
        text = page.read_text(encoding="utf-8").lower()
        assert "planned command line" not in text and "# planned" not in text, page.name


# ---- a single value where a list is expected ----------------------------------------------------------------------
@pytest.mark.parametrize("old, new, expected", [
    ("times: [24 h]", "times: 24 h", "endpoints.times: expected a list in square brackets, e.g. [24 h, 7 d], got '24 h'"),
    ("measures: [mean]", "measures: mean", "endpoints.measures: expected a list in square brackets, e.g. "
                                           "[mean_change, response_rate], got 'mean'"),
    ("scale: madrs,", "scale: madrs, comedications: clarithromycin,",
     "population.comedications: expected a list in square brackets, e.g. [clarithromycin], got 'clarithromycin'"),
    ("endpoints:", "output: 24 h\nendpoints:",
     "output: expected a mapping of fields, e.g. {every: 15 min, until: 7 d} or a list of times [0 h, 40 min, 24 h], "
     "got '24 h'"),
])
def test_a_single_value_where_a_list_is_expected_says_how_to_write_the_list(capsys, tmp_path, old, new, expected):
    """`times: 24 h` said pydantic's 'Input should be a valid list'."""
    f = tmp_path / "s.yaml"
    assert old in SCENARIO
    f.write_text(SCENARIO.replace(old, new))
    code, out, err = run(capsys, "trial", f)
    assert code == 2
    assert one_error_line(err) == f"error: {expected}"


# ---- sex as clinicians write it -----------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling, female", [("Female", True), ("F", True), ("f", True), ("MALE", False),
                                              ("m", False), (" male ", False)])
def test_sex_is_read_as_clinicians_write_it(spelling, female):
    """`--sex Female` / `--sex F` were refused ('use female or male') while a record's SEX column takes F / M."""
    from ketasim.patient import Patient
    from ketasim.scenario import quick_scenario

    sc = quick_scenario(drug="racemic-ketamine", route="iv-infusion", dose="0.5 mg/kg", sex=spelling)
    assert sc.population.female_fraction == (1.0 if female else 0.0)
    assert Patient(sex=spelling).sex == ("female" if female else "male")


def test_a_record_may_spell_out_the_sex(tmp_path):
    from ketasim.record import read_record

    f = tmp_path / "rec.csv"
    f.write_text(_record_text().replace(",82,41,F,", ",82,41,Female,"))
    assert read_record(f).female


@pytest.mark.parametrize("argv", [QUICK + ["--sex", "x"], QUICK + ["--sex", "1"]])
def test_an_unknown_sex_is_still_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert one_error_line(err).startswith("error: --sex: use female or male (or F / M), got ")


def test_a_missing_dose_gives_an_example_for_the_route(capsys):
    """'a esketamine dose is required ... (e.g. '0.5 mg/kg')' for intranasal esketamine, dosed as 28/56/84 mg."""
    code, out, err = run(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal")
    assert code == 2
    assert one_error_line(err) == ("error: --dose: an esketamine dose is required and must be > 0 "
                                   "(e.g. '56 mg')")


@pytest.mark.parametrize("value, expected", [("mtor_block=2", "--experiment mtor_block: must lie in [0, 1], got 2"),
                                             ("hnk_weight=inf", "--experiment hnk_weight: must be a finite number")])
def test_an_experiment_out_of_range_names_the_option(capsys, value, expected):
    """Named the scenario's 'experiments.mtor_block' when the user typed --experiment."""
    code, out, err = run(capsys, *QUICK, "--experiment", value)
    assert code == 2
    assert one_error_line(err).startswith(f"error: {expected}")


def test_demo_checks_its_options_before_making_the_folder(capsys, tmp_path):
    """`demo --size 0` made the folder, then said 'population.size: ...'; `demo --out FILE` said 'FILE: File exists'."""
    code, out, err = run(capsys, "demo", "--out", tmp_path / "new", "--size", "0")
    assert code == 2
    assert one_error_line(err) == "error: --size: must lie in 1-2,000,000, got 0"
    assert not (tmp_path / "new").exists()
    f = tmp_path / "afile"
    f.write_text("keep")
    code, out, err = run(capsys, "demo", "--out", f)
    assert code == 2
    assert one_error_line(err) == f"error: --out: {f} is a file; give a folder (it is created if missing)"
    assert f.read_text() == "keep"


# ---- one kind of file given where another is expected -------------------------------------------------------------
def test_a_result_json_given_as_a_scenario_says_what_it_is(capsys, tmp_path):
    """`ketasim trial trial.json` (the JSON a trial wrote) said 'name: required field is missing'."""
    import json

    f = tmp_path / "trial.json"
    f.write_text(json.dumps({"scenario": "single-infusion-trd", "ketasim_version": "0.1.0", "arms": {}}))
    code, out, err = run(capsys, "trial", f)
    assert code == 2
    assert one_error_line(err) == (f"error: {f}: this is a result file written by ketasim (trial, PK or plan JSON), "
                                   "not a scenario; give the scenario YAML it was run from ('single-infusion-trd')")


def test_a_record_csv_given_as_a_scenario_points_to_plan_and_events(capsys, tmp_path):
    f = tmp_path / "rec.csv"
    f.write_text(_record_text())
    code, out, err = run(capsys, "simulate", f)
    assert code == 2
    assert "a CSV is not a scenario: a patient record goes to `ketasim plan FILE`" in one_error_line(err)


@pytest.mark.parametrize("content, hint", [
    ({"name": "x", "population": {"size": 5}, "arms": {}}, "this is a scenario (arms, population): run it with"),
    ({"scenario": "x", "ketasim_version": "0.1.0", "arms": {}}, "this is a result file written by ketasim"),
])
def test_a_scenario_or_result_given_as_a_record_says_what_it_is(capsys, tmp_path, content, hint):
    """`ketasim plan scenario.yaml` said only "expected a list of rows or a mapping with 'events'"; a .json file was
    read as CSV ('row 1: 2 values for 1 columns')."""
    import json

    for name, text in (("s.yaml", json.dumps(content)), ("s.json", json.dumps(content))):
        f = tmp_path / name
        f.write_text(text)
        code, out, err = run(capsys, "plan", f)
        assert code == 2
        assert hint in one_error_line(err), err


def test_between_trial_names_its_path_argument(capsys, tmp_path):
    """Said '--parameters: cannot read ... [Errno 2] No such file or directory' (the command has no --parameters)."""
    code, out, err = run(capsys, "between-trial", tmp_path / "missing.json")
    assert code == 2
    assert one_error_line(err) == (f"error: between-trial: {tmp_path / 'missing.json'}: no such parameter set file "
                                   "(written by `ketasim calibrate`)")


# ---- units as journals write them ---------------------------------------------------------------------------------
@pytest.mark.parametrize("journal, plain", [("0.5 mg kg-1", "0.5 mg/kg"), ("0.5 mg·kg⁻¹", "0.5 mg/kg"),
                                            ("0.5 mg kg^-1", "0.5 mg/kg"), ("500 µg·kg−1", "0.5 mg/kg")])
def test_a_dose_per_kg_as_journals_write_it(journal, plain):
    """'0.5 mg kg-1' (the journals' and the SmPC's notation) was 'cannot read ... no arithmetic'."""
    from ketasim.units import parse_dose

    assert parse_dose(journal, "dose") == pytest.approx(parse_dose(plain, "dose"))


def test_an_infusion_rate_as_journals_write_it():
    from ketasim.regimen import is_rate_text, parse_rate

    assert is_rate_text("0.75 mg kg-1 h-1") and is_rate_text("0.75 mg·kg⁻¹·h⁻¹")
    assert parse_rate("0.75 mg kg-1 h-1", "dose") == parse_rate("0.75 mg/kg/h", "dose")
    from ketasim.errors import InputError
    from ketasim.units import parse_dose

    with pytest.raises(InputError, match="cannot read"):
        parse_dose("0.5 mg kg-10", "dose")          # not a power -1: still refused


def test_a_probability_given_in_percent_says_it_is_a_fraction(capsys, monkeypatch):
    import ketasim.personal

    def refuse(*a, **k):
        raise AssertionError("fitted before --probability was checked")

    monkeypatch.setattr(ketasim.personal, "fit_patient", refuse)
    code, out, err = run(capsys, "plan", "examples/patient/patient_101.csv", "--probability", "80")
    assert code == 2
    assert one_error_line(err) == "error: --probability: must lie between 0 and 1, got 80 (a fraction: 80 % is 0.8)"


# ---- an output name that says another kind of file ----------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    (QUICK + ["--parquet", "{tmp}/traj.csv"], "--parquet: {tmp}/traj.csv ends in '.csv', but --parquet writes "
                                               "Parquet: name it 'traj.parquet', or use --csv"),
    (QUICK + ["--csv", "{tmp}/traj.parquet"], "--csv: {tmp}/traj.parquet ends in '.parquet', but --csv writes CSV"),
    (["trial", "examples/design_example.yaml", "--report", "{tmp}/t.json"],
     "--report: {tmp}/t.json ends in '.json', but --report writes HTML: name it 't.html', or use --json"),
    (["plan", "examples/patient/patient_101.csv", "--json", "{tmp}/p.html"],
     "--json: {tmp}/p.html ends in '.html', but --json writes JSON"),
])
def test_an_output_named_as_another_kind_of_file_is_refused_before_running(capsys, tmp_path, argv, expected):
    """`--parquet traj.csv` wrote Parquet bytes into a .csv file (and `--report t.json` HTML into a .json) after
    the whole run; a spreadsheet then shows garbage."""
    code, out, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    assert one_error_line(err).startswith("error: " + expected.format(tmp=tmp_path))
    assert not list(tmp_path.iterdir())


# ---- text pasted from a document ----------------------------------------------------------------------------------
def test_a_dose_in_typographic_quotes_is_read(capsys, tmp_path):
    """`dose: “0.5 mg/kg”` (pasted from a protocol in a word processor) was 'cannot read ... as a number followed by a
    unit'; YAML removes straight quotes, not these."""
    from ketasim.units import parse_dose

    assert parse_dose("“0.5 mg/kg”", "dose") == parse_dose("0.5 mg/kg", "dose")
    f = tmp_path / "s.yaml"
    f.write_text(SCENARIO.replace("dose: 0.5 mg/kg", "dose: “0.5 mg/kg”"))
    code, out, err = run(capsys, "trial", f, "--no-progress")
    assert code == 0, err


@pytest.mark.parametrize("bad, hint", [
    ("population:\n\tsize: 2", "indent with spaces, not tabs"),
    ("seed:\u00a01\npopulation: {size: 2}", "a non-breaking space (copied from a document?) near there: type a "
                                            "normal space"),
])
def test_yaml_broken_by_a_tab_or_a_pasted_space_says_which(capsys, tmp_path, bad, hint):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\n" + bad + "\n")
    code, out, err = run(capsys, "trial", f)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(f"error: {f}: not valid YAML (line ") and hint in line, line


# ---- a unit typed with a numeric option ---------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, expected", [
    ("--weight", "70kg", "--weight: expected a number (in kg; write the number only), got '70kg'"),
    ("--age", "forty", "--age: expected a number (in years; write the number only), got 'forty'"),
    ("--size", "1e3", "--size: expected a whole number, got '1e3'"),
])
def test_a_numeric_option_with_a_unit_or_text_names_the_value(capsys, option, value, expected):
    """Said the framework's "Invalid value for '--weight': Input should be a valid number, unable to parse string
    as a number (see 'ketasim --help')": neither the value nor the unit the option is in."""
    code, out, err = run(capsys, *QUICK, option, value)
    assert code == 2
    assert one_error_line(err) == f"error: {expected}"


def test_a_scenario_value_beyond_a_bound_states_the_bound_and_the_value(capsys, tmp_path):
    """`seed: -1` said pydantic's 'Input should be greater than or equal to 0'."""
    f = tmp_path / "s.yaml"
    f.write_text(SCENARIO.replace("seed: 1", "seed: -1"))
    code, out, err = run(capsys, "trial", f)
    assert code == 2
    assert one_error_line(err) == "error: seed: must be >= 0, got -1"
