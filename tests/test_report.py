"""HTML reports are one self-contained file holding the scenario, the plots, provenance and the notice."""

from __future__ import annotations

import html
import json
import re

import pytest

pytest.importorskip("plotly")

from ketasim import NOTICE, scenario_from_dict, simulate  # noqa: E402
from ketasim.parameters import load_parameters  # noqa: E402
from ketasim.report import simulation_report, trial_report  # noqa: E402

SCENARIO = {
    "name": "report-test", "seed": 11,
    "population": {"size": 60, "condition": "depression", "scale": "madrs", "baseline": {"mean": 32, "sd": 5}},
    "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                           "duration": "40 min", "at": "0 h"}],
             "midazolam": [{"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg",
                            "duration": "40 min", "at": "0 h"}]},
    "endpoints": {"times": ["24 h", "7 d"], "measures": ["mean", "mean_change", "response_rate", "cadss_peak"]},
    "output": {"every": "2 h"},
}


def _figures(text: str) -> dict:
    """The plotly specs embedded in a report: {div id: (data, layout)}."""
    out = {}
    for m in re.finditer(r'Plotly\.newPlot\("([^"]+)", (\[.*?\]), (\{.*?\}), \{', text):
        out[m.group(1)] = json.loads(m.group(2).replace("<\\/", "</"))
    return out


def _assert_self_contained(text: str):
    assert text.count("<script>") >= 2 and "plotly.js v" in text[:20000]            # plotly.js inlined
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)        # nothing fetched
    assert text.count(NOTICE) == 1                                                   # the notice, once


@pytest.fixture(scope="module")
def scenario():
    return scenario_from_dict(SCENARIO)


def test_simulation_report(tmp_path, scenario):
    params = load_parameters()
    pop = simulate(scenario, params)
    typ = simulate(scenario, params, typical=True)
    path = simulation_report(pop, typ, tmp_path / "sim.html")
    text = path.read_text(encoding="utf-8")
    _assert_self_contained(text)
    prov = pop.provenance
    for key in ("ketasim_version", "parameter_set", "seed"):
        assert f"<td class=\"l\">{html.escape(str(prov[key]))}</td>" in text, key
    assert "name: report-test" in html.unescape(text) and "dose: 0.5 mg/kg" in html.unescape(text)
    figs = _figures(text)
    assert set(figs) == {"cascade", "side-effects"}
    cascade = figs["cascade"]
    bands = [t for t in cascade if t.get("fill") == "tonexty"]
    lines = [t for t in cascade if t.get("meta", {}).get("arm")]
    assert {t["meta"]["arm"] for t in lines} == {"ketamine", "midazolam"}
    assert len(bands) >= 10                                    # population bands per arm and variable
    ket = next(t for t in lines if t["meta"] == {"arm": "ketamine", "column": "cp_ketamine_ng_ml"})
    assert max(ket["y"]) == pytest.approx(typ.trajectories().query("arm == 'ketamine'")["cp_ketamine_ng_ml"].max(), rel=1e-3)
    side_cols = {t["meta"]["column"] for t in figs["side-effects"] if t.get("meta", {}).get("column")}
    assert {"cadss", "sbp_change_mmhg", "sedation"} <= side_cols
    assert "CADSS peak" in text                               # per-session side-effect table


def test_simulation_report_of_one_patient(tmp_path, scenario):
    typ = simulate(scenario, typical=True)
    text = simulation_report(typ, typ, tmp_path / "one.html").read_text(encoding="utf-8")
    _assert_self_contained(text)
    assert not any(t.get("fill") for t in _figures(text)["cascade"])


def test_trial_report(tmp_path, scenario):
    from ketasim.trial import run_trial

    tr = run_trial(scenario, n=80)
    path = trial_report(tr, tmp_path / "trial.html")
    text = path.read_text(encoding="utf-8")
    _assert_self_contained(text)
    d = tr.to_dict()
    for v in (d["ketasim_version"], d["parameter_set"], str(d["seed"])):
        assert f"<td class=\"l\">{html.escape(v)}</td>" in text
    assert "name: report-test" in html.unescape(text)
    t = tr.table()
    row = t[(t.arm == "ketamine") & (t.measure == "response_rate") & (t.time_h == 24.0)].iloc[0]
    assert f"{row.value:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}]" in text or \
        f"{row.value:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]" in text
    figs = _figures(text)
    assert {"endpoints", "cascade", "side-effects"} <= set(figs)
    assert any(t.get("fill") == "tonexty" for t in figs["cascade"])
    assert "Between arms" in text


def test_report_needs_plotly_named_in_the_error(monkeypatch, tmp_path, scenario):
    import builtins

    real = builtins.__import__

    def no_plotly(name, *a, **k):
        if name == "plotly" or name.startswith("plotly."):
            raise ImportError("No module named 'plotly'")
        return real(name, *a, **k)

    typ = simulate(scenario, typical=True)
    monkeypatch.setattr(builtins, "__import__", no_plotly)
    with pytest.raises(ImportError, match=r"ketasim\[web\]"):
        simulation_report(typ, typ, tmp_path / "x.html")
