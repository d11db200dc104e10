"""Issue 10: a large arm keeps its per-session peaks in float32 (half its largest array); the side-effect endpoints
stay those of float64 storage to 1e-6 relative."""

import numpy as np

from ketasim import scenario_from_dict
from ketasim import trial as T

SCENARIO = {"name": "storage", "seed": 3, "population": {"size": 300, "baseline": {"mean": 33, "sd": 5}},
            "arms": {"ket": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                              "duration": "40 min", "every": "3.5 d", "count": 4}]},
            "endpoints": {"times": ["24 h", "14 d"],
                          "measures": ["mean_change", "response_rate", "cadss_peak", "sbp_change_peak",
                                       "nausea_rate", "hypertension_rate", "discharge_2h_rate"]}}


def test_large_arm_sessions_float32_endpoints_unchanged(monkeypatch):
    monkeypatch.setattr(T, "BAND_PATIENTS", 50)      # 300 patients count as a large arm
    sc = scenario_from_dict(SCENARIO)
    small = T.run_trial(sc)
    assert small.outcomes["ket"].sessions.dtype == np.float32
    monkeypatch.setattr(T, "LARGE_ARM_SESSION_DTYPE", np.float64)
    ref = T.run_trial(sc)
    assert ref.outcomes["ket"].sessions.dtype == np.float64
    a, b = small.table(), ref.table()
    assert list(a.measure) == list(b.measure)
    va, vb = a.value.to_numpy(float), b.value.to_numpy(float)
    assert np.all(np.abs(va - vb) <= 1e-6 * np.abs(vb)), (va, vb)
    side = a.scale.to_numpy() == "side-effects"
    assert side.sum() == 5          # cadss, sbp, nausea, hypertension, discharge: all compared above
