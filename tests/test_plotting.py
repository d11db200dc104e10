"""The cascade figure (--plot): one colour per arm in every panel, the symptom panel names the scale, and a
4-week repeated course is drawn on a linear day axis so that every dose's peak is visible; legend above the data."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_hex

import ketasim
from ketasim.plotting import plot_cascade
from ketasim.scenario import scenario_from_dict


def _figure(arms, scale="madrs"):
    sc = scenario_from_dict({"name": "p", "population": {"scale": scale}, "arms": arms})
    df = ketasim.simulate(sc, typical=True, output_times_h=np.arange(0, 28 * 24 + 1e-9, 0.25)).trajectories()
    return plot_cascade(df, None, None, scale=scale)


def test_one_colour_per_arm_in_every_panel_and_the_scale_is_named():
    import matplotlib.pyplot as plt

    fig = _figure({"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                 "duration": "40 min"}],
                   "esketamine": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]}, scale="hamd17")
    arm_colours = [to_hex(h.get_color()) for h in fig.legends[0].legend_handles]
    assert len(set(arm_colours)) == 2 and [t.get_text() for t in fig.legends[0].get_texts()] == ["ketamine", "esketamine"]
    for ax in fig.axes:
        assert {to_hex(line.get_color()) for line in ax.lines} <= set(arm_colours), ax.get_title()
        assert ax.get_legend() is None                       # no legend on top of the data
    titles = [ax.get_title() for ax in fig.axes]
    assert any("HAM-D17" in t for t in titles)
    assert fig.axes[0].get_xscale() == "symlog"              # a single dose: hours, logarithmic after 2 h
    plt.close(fig)


def test_a_repeated_course_uses_a_linear_day_axis_with_every_peak():
    import matplotlib.pyplot as plt

    fig = _figure({"twice weekly": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d",
                                     "count": 8}]})
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and "days" in fig.axes[-1].get_xlabel()
    x, y = ax.lines[0].get_data()
    peaks = [y[(x >= k * 3.5) & (x < k * 3.5 + 0.2)].max() for k in range(8)]
    assert min(peaks) > 0.8 * max(peaks)                     # eight visible peaks of similar height
    zoom = ax.child_axes                                     # the first session, in hours
    assert len(zoom) == 1 and max(zoom[0].lines[0].get_xdata()) <= 4.0
    plt.close(fig)


def test_a_single_dose_time_axis_is_labelled_on_the_clinic_clock():
    """The log time axis was labelled 0, 10^0, 10^1, 10^2, 10^3 (hours as powers of ten; new-user pass, thirty-ninth
    session): it reads 0, 1 h, 2 h, 6 h, 1 d, 3 d, 7 d ... up to the last time, without minor labels."""
    import matplotlib.pyplot as plt

    fig = _figure({"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                 "duration": "40 min"}]})
    fig.canvas.draw()
    ax = fig.axes[-1]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:6] == ["0", "1 h", "2 h", "6 h", "1 d", "3 d"]
    assert not any("10^" in s or "$" in s for s in labels)
    assert [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()] == []
    plt.close(fig)
