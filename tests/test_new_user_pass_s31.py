"""A new user's pass over the thirty-first session's changes (posterior draws stored with the parameter set, the SBML
export's solver note, the tornado figure): what the help texts say exists, and what a bad input does."""

from __future__ import annotations

import re


def test_every_command_line_quoted_in_the_help_texts_names_existing_options():
    """`ketasim posterior-draws --help` said the stored draws serve `qualify --parameter-draws N`: qualify has no such
    option (it is --uncertainty). Every backquoted `[ketasim] COMMAND --option ...` in a command's help or an option's
    help must name an option of that command."""
    import typer

    from ketasim.cli import app

    commands = typer.main.get_command(app).commands
    texts = []
    for name, cmd in commands.items():
        texts.append((name, cmd.help or ""))
        texts += [(f"{name} {p.opts[0]}", getattr(p, "help", None) or "") for p in cmd.params]
    bad, seen = [], 0
    for where, text in texts:
        for m in re.finditer(r"`(?:ketasim )?([a-z][a-z-]*)((?: [^`]*)?)`", " ".join(text.split())):
            sub, rest = m.group(1), m.group(2)
            if sub not in commands:
                continue
            known = {o for p in commands[sub].params for o in (*p.opts, *p.secondary_opts)}
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
                seen += 1
                if option not in known:
                    bad.append(f"{where}: {m.group(0)}: {sub} has no {option}")
    assert seen >= 5 and not bad, bad


def _shipped_set_copy(tmp_path, name="set.json"):
    from ketasim.calibration import default_free_parameters_path

    path = tmp_path / name
    path.write_bytes(default_free_parameters_path().read_bytes())
    return path


def test_posterior_draws_refuses_a_read_only_file_before_drawing(capsys, tmp_path, monkeypatch):
    """The file is rewritten beside itself and renamed over: a read-only set (chmod 444) was replaced after the run
    (its mode reset to 644), for root and for any user who can write the folder. Now one line, exit 2, before any
    draw, and the file and its mode are unchanged; so for `between-trial` (the same update path)."""
    import os
    import stat

    import ketasim.calibration as cal

    from _support import one_error_line, run_cli as run

    def no_run(*a, **k):
        raise AssertionError("the draws ran before the file was checked")
    monkeypatch.setattr(cal, "posterior_draws_record", no_run)
    monkeypatch.setattr(cal, "between_trial_record", no_run)
    path = _shipped_set_copy(tmp_path)
    os.chmod(path, 0o444)
    before = path.read_bytes()
    for command in ("posterior-draws", "between-trial"):
        code, out, err = run(capsys, command, path, *(["--count", "1"] if command == "posterior-draws" else []))
        assert code == 2 and "read-only" in one_error_line(err) and str(path) in err
        assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.json"]      # no temporary file left


def test_posterior_draws_on_a_malformed_posterior_is_one_line(capsys, tmp_path, monkeypatch):
    """A hand-edited set whose posterior is not a mapping, or whose covariance does not match its names, was a
    TypeError / numpy ValueError traceback; now one line naming the file and the field, the file unchanged."""
    import json

    import ketasim.calibration as cal

    from _support import one_error_line, run_cli as run

    monkeypatch.setattr(cal, "posterior_draws_record", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran")))
    path = _shipped_set_copy(tmp_path)
    good = json.loads(path.read_text(encoding="utf-8"))
    assert cal.posterior_problem(good["posterior"]) is None
    for i, (edit, field) in enumerate([(lambda d: d.__setitem__("posterior", "x"), "expected a mapping"),
                        (lambda d: d["posterior"].__setitem__("covariance_theta", [[1.0]]), "'covariance_theta'"),
                        (lambda d: d["posterior"].__setitem__("mode_theta", [0.0]), "'mode_theta'"),
                        (lambda d: d["posterior"].__setitem__("names", ["no_such"]), "'names'")]):
        data = json.loads(json.dumps(good))
        edit(data)
        path = tmp_path / f"edited{i}.json"      # load_parameters caches by path
        path.write_text(json.dumps(data), encoding="utf-8")
        before = path.read_bytes()
        code, out, err = run(capsys, "posterior-draws", path, "--count", "1")
        assert code == 2 and field in one_error_line(err) and str(path) in err, err
        assert path.read_bytes() == before


def test_the_tornado_figures_axis_label_fits_inside_the_figure():
    """The x label ('mu_star (% of patients); bars: 95% interval (SALib's bootstrap, cut at 0: mu_star cannot be
    negative)') ran past the right edge of the PNG and lost its end; every text of the figure lies inside it."""
    import matplotlib.pyplot as plt
    import numpy as np

    from ketasim.sensitivity import Factor, SensitivityResult, tornado_figure

    fs = [Factor(n, "literature", 1.0, 0.5, 2.0, "log", "h", "uncertain") for n in ("a", "sedation_perception_weight")]
    for method, indices in [("morris", {"mu_star": np.array([1.0, 4.0]), "mu_star_conf": np.array([2.5, 1.0]),
                                        "sigma": np.array([1.0, 1.0]), "mu": np.array([1.0, 4.0])}),
                            ("sobol", {"ST": np.array([0.1, 0.4]), "ST_conf": np.array([0.2, 0.1]),
                                       "S1": np.array([0.1, 0.3]), "S1_conf": np.array([0.1, 0.1])})]:
        res = SensitivityResult("response_rate@24h", "ketamine", method, 43.3, fs, indices, np.array([0.1, 0.2]),
                                np.array([0.1, 0.2]), 9, {}, unit="% of patients")
        fig = tornado_figure(res)
        try:
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            ax = fig.axes[0]
            for text in (ax.xaxis.label, ax.title, *ax.get_yticklabels()):
                box = text.get_window_extent(renderer)
                assert box.x0 >= -0.5 and box.x1 <= fig.bbox.width + 0.5, (method, text.get_text())
        finally:
            plt.close(fig)


def test_the_export_of_a_bolus_needs_no_integrator_advice(tmp_path, capsys):
    """`ketasim export` printed, for an IV-bolus arm, advice to use CVODE's Adams method (its default BDF method stalled
    right after the bolus) and that Adams's 't + h = t' warnings were expected. Since the thirty-second session the
    file integrates at libRoadRunner's defaults (export.OFFSET_STATES, tests/test_sbml_export.py), so the command
    prints no advice for either arm; the file's notes say the defaults integrate it and recommend a vector absolute
    tolerance (tests/test_sbml_export.py runs both for every route)."""
    from ketasim.cli import main
    from ketasim.export import SOLVER_NOTE

    assert "defaults" in SOLVER_NOTE and "stiff" not in SOLVER_NOTE and "t + h = t" not in SOLVER_NOTE
    scenario = tmp_path / "two.yaml"
    scenario.write_text("name: two\npopulation: {size: 1}\narms:\n  bolus:\n    - {drug: racemic-ketamine, route: "
                        "iv-bolus, dose: 0.3 mg/kg, at: 2 h}\n  infusion:\n    - {drug: racemic-ketamine, route: "
                        "iv-infusion, dose: 0.5 mg/kg, duration: 40 min, at: 0 h}\n", encoding="utf-8")
    for arm, out in (("bolus", "b.xml"), ("infusion", "i.xml")):
        assert main(["export", str(scenario), "--arm", arm, "--sbml", str(tmp_path / out)]) == 0
        printed = capsys.readouterr().out
        assert "stiff" not in printed and "t + h = t" not in printed and "Integrator" not in printed
        assert "libRoadRunner&apos;s defaults" in (tmp_path / out).read_text(encoding="utf-8")


def test_posterior_draws_and_between_trial_on_a_directory_say_it_is_one(capsys, tmp_path):
    """A folder given as the parameter file said 'no such parameter set file', though it exists."""
    from ketasim.cli import main

    for command in ("posterior-draws", "between-trial"):
        assert main([command, str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"error: {command}: {tmp_path}: is a directory, not a parameter set file (written by `ketasim "
                       "calibrate`)")


def test_trial_runs_on_a_parameter_set_file_before_it_is_installed(capsys, tmp_path):
    """`ketasim trial` had no --parameters (qualify had): a new fit could only be tried by installing it. With a set
    whose drug effect is halved the trial's drug-placebo difference shrinks and its JSON names that set; the installed
    set is untouched; a missing file is one line naming the option, before anything runs."""
    import json

    from ketasim.calibration import default_free_parameters_path
    from ketasim.cli import main

    shipped = default_free_parameters_path()
    before = shipped.read_bytes()
    data = json.loads(before)
    data["parameters"]["emax_drug"]["value"] *= 0.5
    half = tmp_path / "half.json"
    half.write_text(json.dumps(data), encoding="utf-8")
    scenario = "docs/tutorials/placebo_trial.yaml"
    diffs = {}
    for name, extra in (("installed", []), ("half", ["--parameters", str(half)])):
        out = tmp_path / f"trial_{name}.json"
        assert main(["trial", scenario, "--size", "60", "--no-progress", "--json", str(out), *extra]) == 0, \
            capsys.readouterr().err
        d = json.loads(out.read_text())
        diffs[name] = (d["parameter_set"], next(c["value"] for c in d["comparisons"]
                                                if c["measure"] == "mean_change_difference" and c["time_h"] == 24.0))
    capsys.readouterr()
    assert diffs["half"][0] != diffs["installed"][0]
    assert diffs["installed"][1] < diffs["half"][1] < 0          # ketamine still better than saline, by less
    assert shipped.read_bytes() == before
    assert main(["trial", scenario, "--parameters", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.strip() == (f"error: --parameters: {tmp_path / 'missing.json'}: no such file (a "
                                               "parameter set written by `ketasim calibrate`)")


def test_the_plans_fit_table_reads_as_a_table_with_one_line_for_the_weakly_informed(capsys, tmp_path):
    """H3: the fit table's header was one ~250-character line mixing column names with their explanation, and seven
    near-identical warnings followed (one per weakly informed parameter). The header names the columns, the
    explanation follows the rows, and one warning names every weakly informed parameter; the JSON keeps a warning per
    parameter."""
    import json

    from ketasim.cli import main

    out = tmp_path / "plan.json"
    assert main(["plan", "examples/patient/patient_101.csv", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(ln for ln in lines if ln.lstrip().startswith("parameter"))
    assert len(header) < 90
    grouped = [ln for ln in lines if ln.startswith("  warning: the data barely inform ")]
    d = json.loads(out.read_text())
    # (a parameter whose Laplace SD is the prior's although the predictions depend on it, e.g. eta_sedation since the
    # thirty-ninth session, has a note of its own: flat_laplace)
    weak = [p["name"] for p in d["fit"]["parameters"]
            if not p["informed"] and not p["uninformative"] and not p.get("flat_laplace")]
    assert len(grouped) == 1 and all(n in grouped[0] for n in weak) and len(weak) >= 2
    assert not any("barely inform this parameter" in ln for ln in lines)
    assert sum("barely inform this parameter" in w for w in d["fit"]["warnings"]) == len(weak)
    # thirty-second session: parameters the record cannot inform at all (IV infusions only: the nasal and gut
    # absorption rates) are one note of their own, not "barely" informed
    blind = [p["name"] for p in d["fit"]["parameters"] if p["uninformative"]]
    assert {"eta_ka_nasal", "eta_ka_gut"} <= set(blind) and not set(blind) & set(weak)
    note = [ln for ln in lines if ln.startswith("  note: the record's observations do not depend on ")]
    assert len(note) == 1 and all(n in note[0] for n in blind)
    assert not any(n in grouped[0] for n in blind)


def test_simulate_runs_on_a_parameter_set_file_too(capsys, tmp_path):
    """`ketasim simulate --parameters FILE`, as `trial` and `qualify`: the typical patient on a set with emax_drug
    halved improves less at 24 h; a missing file is one line naming the option."""
    import json

    import pandas as pd

    from ketasim.calibration import default_free_parameters_path
    from ketasim.cli import main

    data = json.loads(default_free_parameters_path().read_text())
    data["parameters"]["emax_drug"]["value"] *= 0.5
    half = tmp_path / "half.json"
    half.write_text(json.dumps(data), encoding="utf-8")
    quick = ["simulate", "--drug", "ketamine", "--route", "iv-infusion", "--dose", "0.5 mg/kg", "--duration", "40 min"]
    scores = {}
    for name, extra in (("installed", []), ("half", ["--parameters", str(half)])):
        out = tmp_path / f"traj_{name}.csv"
        assert main([*quick, "--csv", str(out), *extra]) == 0
        d = pd.read_csv(out)
        scores[name] = float(d.loc[(d["time_h"] - 24.0).abs().idxmin(), "score"])
    capsys.readouterr()
    assert scores["installed"] < scores["half"] < 33.0
    assert main([*quick, "--parameters", str(tmp_path / "missing.json")]) == 2
    assert "error: --parameters:" in capsys.readouterr().err


def test_plan_fits_on_a_parameter_set_file_too(capsys, tmp_path):
    """`ketasim plan --parameters FILE`: the plan's provenance names that set (its population model is the fit's
    prior); a missing file is one line naming the option, before the fit."""
    import json

    from ketasim.calibration import default_free_parameters_path
    from ketasim.cli import main

    data = json.loads(default_free_parameters_path().read_text())
    data["parameters"]["emax_drug"]["value"] *= 0.5
    half = tmp_path / "half.json"
    half.write_text(json.dumps(data), encoding="utf-8")
    sets = {}
    for name, extra in (("installed", []), ("half", ["--parameters", str(half)])):
        out = tmp_path / f"plan_{name}.json"
        assert main(["plan", "examples/patient/patient_101.csv", "--json", str(out), *extra]) == 0
        sets[name] = json.loads(out.read_text())["provenance"]["parameter_set"]
    capsys.readouterr()
    assert sets["half"] != sets["installed"]
    assert main(["plan", "examples/patient/patient_101.csv", "--parameters", str(tmp_path / "missing.json")]) == 2
    assert "error: --parameters:" in capsys.readouterr().err
