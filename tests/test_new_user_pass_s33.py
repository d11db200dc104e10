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
