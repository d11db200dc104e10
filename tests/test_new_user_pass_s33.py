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
                     ["between-trial", str(path), "--size", "5"],
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
