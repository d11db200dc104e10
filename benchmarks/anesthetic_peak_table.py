"""The tables behind the anesthetic-range warning (fortieth session).

The warning judges every parenteral ketamine dose by the typical effect-site peak it reaches, from the peak of
1 mg/kg pushed IV over 60 s (the Ketalar label's lowest induction dose, given as the label says). At read time, before any run, it cannot simulate, so
`regimen.py` holds two tables of the model's own ratios, printed here:

* `_EFFECT_SITE_PEAK_RATIO`: the effect-site peak of 1 mg/kg racemic ketamine infused over T minutes, relative to
  the same dose as a bolus (interpolated log-log in between by `regimen.infusion_peak_factor`);
* `_ABSORBED_PARENTERAL_PEAK_RATIO`: the same for an IM and an SC dose.

The quick form's typical 70-kg patient (a woman; a man's ratios differ by < 2 %), output every 0.25 min. The
constants are copied by hand into regimen.py;
tests/test_infusion_anesthetic_warning.py re-checks them, and durations in between, against the model (2 %).

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/anesthetic_peak_table.py      (~5 s)
"""

from __future__ import annotations

import warnings

DURATIONS_MIN = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 40, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1440)


def effect_site_peak(route: str, dose: str = "1 mg/kg", duration_min: float = 0.0,
                     drug: str = "racemic-ketamine") -> float:
    """The typical 70-kg patient's effect-site ketamine peak (ng/mL, column ``ce_ketamine_ng_ml``)."""
    from ketasim import quick_scenario
    from ketasim.engine import simulate
    from ketasim.errors import DoseWarning

    kw = {"duration": f"{duration_min:g} min"} if duration_min else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseWarning)
        sc = quick_scenario(drug, route, dose, weight_kg=70, output_every="0.25 min",
                            until=f"{duration_min / 60 + 4:g} h", **kw)
    return float(simulate(sc, typical=True).trajectories()["ce_ketamine_ng_ml"].max())


def infusion_ratios(durations_min=DURATIONS_MIN) -> dict[float, float]:
    """Effect-site peak of 1 mg/kg infused over each duration (min) / that of a 1 mg/kg bolus."""
    bolus = effect_site_peak("iv-bolus")
    return {float(d): effect_site_peak("iv-infusion", duration_min=d) / bolus for d in durations_min}


def absorbed_ratios() -> dict[str, float]:
    """Effect-site peak of 1 mg/kg IM and SC / that of a 1 mg/kg IV bolus."""
    bolus = effect_site_peak("iv-bolus")
    return {r: effect_site_peak(r) / bolus for r in ("im", "sc")}


def main() -> None:
    print(f"1 mg/kg IV bolus: effect-site peak {effect_site_peak('iv-bolus'):.1f} ng/mL")
    pairs = ", ".join(f"({d:g}, {r:.4g})" for d, r in infusion_ratios().items())
    print(f"_EFFECT_SITE_PEAK_RATIO = ((0.0, 1.0), {pairs})")
    print("_ABSORBED_PARENTERAL_PEAK_RATIO = {" + ", ".join(f"{k}: {v:.4f}" for k, v in absorbed_ratios().items())
          + "}")


if __name__ == "__main__":
    main()
