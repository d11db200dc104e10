"""Sensitivity analysis (issue 10): SALib Morris/Sobol indices under SALib's names, ranges from the model's data,
a link switched off by a virtual experiment gives an index of zero, CLI JSON and tornado chart."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ketasim
from ketasim.cli import main
from ketasim.engine import VirtualExperiment
from ketasim.errors import InputError
from ketasim.sensitivity import factors, parse_endpoint, run_sensitivity

from _support import params

SCENARIO = {
    "name": "sens-test", "seed": 3,
    "population": {"size": 30, "baseline": {"mean": 33, "sd": 5}},
    "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                           "duration": "40 min"}]},
    "endpoints": {"times": ["24 h"]},
}
PARAMS = ("protein_gain", "pd.trkb.k", "placebo_gain")


def _run(**kw):
    sc = ketasim.scenario_from_dict(SCENARIO)
    return run_sensitivity(sc, endpoint="mean_change@24h", params=params(), patterns=PARAMS, n_patients=30,
                           samples=4, **kw)


@pytest.fixture(scope="module")
def intact():
    return _run()


def _by_name(res, key):
    return {r["name"]: r[key] for r in res.ranking()}


def test_ranges_come_from_confidence_and_calibration_bounds():
    fs = {f.name: f for f in factors(params(), ("pd.trkb.k", "pd.synaptic.t_half", "pd.ki.s_ketamine", "protein_gain"))}
    k = fs["pd.trkb.k"]                       # 'uncertain': a factor of 2, log-uniform
    assert k.lo == pytest.approx(k.value / 2) and k.hi == pytest.approx(k.value * 2) and k.space == "log"
    d = fs["pd.synaptic.t_half"]              # 'derived': +-25 %
    assert d.lo == pytest.approx(0.75 * d.value) and d.hi == pytest.approx(1.25 * d.value)
    s = fs["pd.ki.s_ketamine"]                # 'as stated': +-10 %
    assert s.lo == pytest.approx(0.9 * s.value)
    g = fs["protein_gain"]                    # free: calibration bounds, log space
    assert (g.lo, g.hi, g.space, g.kind) == (2.0, 40.0, "log", "free")


def test_every_default_range_is_finite_in_its_sampling_space():
    """pd.natural_course.worst (-1, 'uncertain') got a log range from -2 to -0.5: NaN bounds, so a run that varied it
    warned 'invalid value encountered in log' and, where the parameter is used (population.natural_course_spread),
    printed '-' for every parameter (thirtieth session)."""
    fs = factors(params())
    for f in fs:
        assert np.isfinite(f.to_space(f.lo)) and np.isfinite(f.to_space(f.hi)) and f.lo < f.hi, f
    w = {f.name: f for f in fs}["pd.natural_course.worst"]
    assert (w.lo, w.hi, w.space) == (pytest.approx(-2.0), pytest.approx(-0.5), "linear")


def test_morris_indices_under_salib_names(intact):
    row = intact.ranking()[0]
    for key in ("mu_star", "mu_star_conf", "sigma", "mu", "elasticity"):
        assert key in row
    mu = _by_name(intact, "mu_star")
    assert mu["protein_gain"] > 0.05 and mu["placebo_gain"] > 0.05     # both links are live without the block
    assert np.isfinite(intact.nominal) and intact.nominal < 0           # scores fall after ketamine


def test_a_link_switched_off_by_an_experiment_gets_an_index_of_zero(intact):
    blocked = _run(experiment=VirtualExperiment(mtor_block=1.0))
    mu = _by_name(blocked, "mu_star")
    # rapamycin holds mTORC1 at baseline: nothing downstream of it (protein gain) or upstream (TrkB) can act
    assert mu["protein_gain"] <= 1e-9 and mu["pd.trkb.k"] <= 1e-9
    assert _by_name(blocked, "elasticity")["protein_gain"] == pytest.approx(0.0, abs=1e-12)
    assert mu["placebo_gain"] > 0.05                                    # the placebo path still works


def test_sobol_indices_and_intervals():
    res = _run(method="sobol", local=False)
    st, s1 = _by_name(res, "ST"), _by_name(res, "S1")
    assert set(res.ranking()[0]) >= {"S1", "S1_conf", "ST", "ST_conf"}
    assert all(np.isfinite(v) for v in st.values()) and all(np.isfinite(v) for v in s1.values())
    assert res.evaluations == 1 + 4 * (len(PARAMS) + 2)


def test_bad_endpoint_and_method_are_one_line_errors():
    with pytest.raises(InputError, match="^endpoint: "):
        parse_endpoint("response_rate")
    with pytest.raises(InputError, match="^endpoint: "):
        parse_endpoint("happiness@24h")
    with pytest.raises(InputError, match="^method: "):
        _run(method="fast")
    assert parse_endpoint("response_rate@24h").time_h == 24.0
    assert parse_endpoint("mean_change@7 d").time_h == 168.0


def test_cli_writes_json_and_tornado(tmp_path, capsys):
    import yaml

    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(SCENARIO), encoding="utf-8")
    out, png, page = tmp_path / "s.json", tmp_path / "t.png", tmp_path / "s.html"
    code = main(["sensitivity", str(sc), "--endpoint", "response_rate@24h", "--method", "morris", "--samples", "2",
                 "--size", "10", "--parameters", "protein_gain,placebo_gain", "--json", str(out), "--plot", str(png),
                 "--report", str(page), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    d = json.loads(out.read_text())
    assert d["method"] == "morris" and d["endpoint"] == "response_rate@24h"
    assert {p["name"] for p in d["parameters"]} == {"protein_gain", "placebo_gain"}
    assert "mu_star" in d["index_names"] and "parameter_set" in d
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in page.read_text() and "protein_gain" in page.read_text()


def test_tornado_intervals_stop_at_zero():
    """mu_star and ST cannot be negative, but SALib's interval is symmetric (1.96 x its bootstrap's SD): a small
    index with a wide interval drew a whisker below 0 (s31 new-user pass). The figure and the HTML cut it at 0."""
    import matplotlib.pyplot as plt

    from ketasim.sensitivity import Factor, SensitivityResult, index_interval, tornado_figure

    fs = [Factor(n, "literature", 1.0, 0.5, 2.0, "log", "h", "uncertain") for n in ("wide", "narrow")]
    res = SensitivityResult("mean_change@24h", "ketamine", "morris", -5.0, fs,
                            {"mu_star": np.array([1.0, 4.0]), "mu_star_conf": np.array([2.5, 1.0]),
                             "sigma": np.array([1.0, 1.0]), "mu": np.array([1.0, 4.0])},
                            np.array([0.1, 0.2]), np.array([0.1, 0.2]), 9, {})
    assert index_interval(1.0, 2.5) == (0.0, 3.5) and index_interval(4.0, 1.0) == (3.0, 5.0)
    fig = tornado_figure(res)
    try:
        from matplotlib.container import ErrorbarContainer

        (whiskers,) = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
        segments = whiskers.lines[2][0].get_segments()
        lows = sorted(float(min(seg[:, 0])) for seg in segments)
        highs = sorted(float(max(seg[:, 0])) for seg in segments)
        assert lows == pytest.approx([0.0, 3.0]) and highs == pytest.approx([3.5, 5.0])
    finally:
        plt.close(fig)
