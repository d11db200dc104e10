"""Early plasma peaks after IV, IM and oral racemic ketamine against published PK data (forty-eighth session, H3).

NOTES.md listed these as unverified ("Oral racemic Cmax 2-3x low; IV bolus first 15 min 1.3-1.8x adult trauma
medians; IM 12-28 % below Hirlinger ... No test pins these numbers"). Each test below compares the shipped model
with one published number that has a DOI or PMID, at the dose, route and sampling time of the study, and states its
tolerance from the source's own spread (or, where the source gives a median without a spread, from the model's
sampling distribution of that median for the study's number of patients). Where the model is outside, the test is a
strict xfail naming the measured ratio, so that a fix flips it.

Sources (all venous plasma levels of racemic ketamine unless stated; the model's column is ``cp_ketamine_ng_ml``,
the arm-venous read-out; ``ca_ketamine_ng_ml`` is arterial and is quoted only for comparison):

* Oral 25 mg: Chong et al., 6 neuropathic-pain inpatients, 25-mg lozenge swallowed, Cmax 22.8 +/- 12.8 ng/mL
  (mean +/- SD) at 0.96 +/- 0.8 h (meeting abstract Pain Med 2006;7(5):469, as tabulated on
  https://www.ketamine.com/bioavailability.html; full paper of the same study: Chong C et al., Clin Drug Investig
  2009;29(5):317-324, doi:10.2165/00044011-200929050-00004, PMID 19366273, whose abstract gives F only). The
  reference file's row 'Bioavailability oral' (23 +/- 9 %) is this study.
* Oral 0.5 mg/kg: Grant IH, Nimmo WS, Clements JA, Br J Anaesth 1981;53:805 (volunteers), as tabulated by Zanos et
  al., Pharmacol Rev 2018;70:621, doi:10.1124/pr.117.015198, Table 1 (https://pmc.ncbi.nlm.nih.gov/articles/
  PMC6020109/table/T1): 45 +/- 10 ng/mL (n and the kind of spread not given; the primary paper was not read).
* IV 10 mg: Singh V et al., Pharmacotherapy 2022;42(4):298-310, doi:10.1002/phar.2669, PMID 35146776, Table 6
  (PMC9118341): 9 cancer patients on opioids, Cmax 296 ng/mL (geometric mean; geometric SD 1.71) at 2 min (median);
  AUC 113 ng.h/mL (the model's 112.5: clearance agrees). Injection rate and sampling site not read.
* IV 2 mg/kg S-ketamine: Weber F et al., Paediatr Anaesth 2004;14(12):983-988, doi:10.1111/j.1460-9592.2004.01358.x
  (10 children 1-7 y under sevoflurane, venous): peak 1860 +/- 883 ng/mL at 3 +/- 1 min (reference file row 'IN
  S-ketamine Cmax 2 mg/kg (children)', notes). This is a FIT ANCHOR of pk.ketamine.venous_t_half
  (benchmarks/fit_pk_absorption.py), not an independent check; pinned so that the one early IV level the model is
  fitted to stays where it is.
* IM 0.5 and 1.0 mg/kg: Hirlinger WK, Dick W, Anaesthesist 1984;33(6):272-275, PMID 6476334 (abstract): 20 trauma
  patients; highest median plasma level 147 ng/mL at 30 min after 0.5 mg/kg and 474 ng/mL at 15 min after 1.0
  mg/kg (medians only; 10 patients per dose assumed: 20 patients, two doses).

Not pinned (no DOI or PMID identified): the same group's adult IV study ("Intravenous analgesia with ketamine for
emergency patients", Anaesthesist 1984, abstract read through Semantic Scholar 4ce927070707182b478487309d59299955962482):
medians 238 / 189 / 135 / 118 ng/mL at 5 / 10 / 15 / 30 min after 0.5 mg/kg. The model (typical 70-kg man, venous):
419 / 272 / 182 / 100 (x1.76 / 1.44 / 1.35 / 0.85); population medians 410 / 265 / 175 / 95 (x1.72 / 1.40 / 1.29 /
0.80); arterial (typical) 434 / 195 / 154 / 105.

Measured (forty-eighth session, shipped model; typical = 70-kg 40-year-old man; population = 200 patients of the
default population, 80 +/- 15 kg, 45 +/- 12 y, 55 % women, seed 48):

| source | observed | typical (venous) | population | ratio typ / pop | test |
|---|---|---|---|---|---|
| Chong oral 25 mg Cmax | 22.8 +/- 12.8 (n 6) | 11.6 at 29 min | mean 12.0 | 0.51 / 0.53 | passes (95 % CI of the mean 9.4-36.2) |
| Chong oral 25 mg Tmax | 0.96 +/- 0.8 h | 0.48 h | mean 0.82 h | | passes (CI 0.12-1.80 h) |
| Grant oral 0.5 mg/kg Cmax | 45 +/- 10 | 16.2 | mean 19.1 | 0.36 / 0.43 | strict xfail (25-65) |
| Singh IV 10 mg, 2 min (Tmax) | GM 296 (GSD 1.71, n 9) | 111 at 2 min (peak 125 at 4) | GM 92 at 2 min | 0.38 / 0.31 | strict xfail (CI of GM 196-448) |
| Weber IV 2 mg/kg S peak (fit anchor) | 1860 +/- 883 | 1724 at 4 min | | 0.93 | passes (+/- 1 SD) |
| Hirlinger IM 1 mg/kg, 15 min | median 474 | 451 | median 432 | 0.95 / 0.91 | passes (band of a 10-patient median 378-484) |
| Hirlinger IM 0.5 mg/kg, 30 min | median 147 | 120 | median 113 | 0.82 / 0.77 | strict xfail (band 98-132) |
| Hirlinger IM 0.5 mg/kg, highest median | 147 at 30 min | 254 at 10 min | 251 at 9 min | 1.73 / 1.71 | strict xfail (band 210-288) |
| Hirlinger IM 1 mg/kg, highest median | 474 at 15 min | 507 at 10 min | 503 at 9 min | 1.07 / 1.06 | passes (band 420-577) |

The arterial levels (``ca_ketamine_ng_ml``) are higher early: 356 ng/mL at 2 min after 10 mg IV (typical), 548 at 5
min after IM 0.5 mg/kg, 17.6 at 15 min after oral 25 mg.

Predictions come out of the model; only the targets are published numbers.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

import ketasim
from ketasim.errors import DoseWarning

from _support import REFERENCE_PK_CSV, line, reference_rows, typical_traj

TIMES_MIN = np.arange(1, 241)                   # 1-min grid, 1 min to 4 h
TIMES_H = TIMES_MIN / 60.0
POP_SIZE = 200
POP_SEED = 48
BOOT = 4000                                     # resamples for a statistic's sampling band


@lru_cache(maxsize=None)
def population(route: str, dose: str, drug: str = "racemic-ketamine", column: str = "cp_ketamine_ng_ml") -> np.ndarray:
    """(patients, times) levels of POP_SIZE patients of the default population (public API, fixed seed)."""
    sc = ketasim.scenario_from_dict({"name": "early-peaks", "population": {"size": POP_SIZE},
                                     "arms": {"arm": [line(drug, route, dose)]}})
    tr = ketasim.simulate(sc, seed=POP_SEED, output_times_h=TIMES_H).trajectories()
    wide = tr.pivot(index="subject", columns="time_h", values=column)
    return wide.to_numpy()


@lru_cache(maxsize=None)
def typical(route: str, dose: str, drug: str = "racemic-ketamine", column: str = "cp_ketamine_ng_ml") -> np.ndarray:
    """The typical 70-kg 40-year-old man's levels on TIMES_H."""
    return typical_traj([line(drug, route, dose)], TIMES_H)[column].to_numpy()


def at(curve: np.ndarray, minutes: int):
    return curve[..., int(np.flatnonzero(TIMES_MIN == minutes)[0])]


def sampling_band(values: np.ndarray, n: int, statistic, seed: int = 0) -> tuple[float, float]:
    """2.5-97.5 % band of ``statistic`` of ``n`` patients drawn from the simulated ones (between-patient variability
    only: no assay error, which would widen it)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), (BOOT, n))
    lo, hi = np.percentile(statistic(values[idx]), [2.5, 97.5])
    return float(lo), float(hi)


# --------------------------------------------------------------------------------------------------------------
# Oral racemic ketamine
# --------------------------------------------------------------------------------------------------------------
#: Chong 2006 / 2009 (PMID 19366273): 25 mg swallowed, n 6, mean +/- SD; t(0.975, 5 df) = 2.571
CHONG = {"dose": "25 mg", "n": 6, "cmax": (22.8, 12.8), "tmax_h": (0.96, 0.8), "t975": 2.571}


def _mean_ci(mean_sd, n, t975):
    m, sd = mean_sd
    half = t975 * sd / np.sqrt(n)
    return m - half, m + half


def test_oral_25_mg_cmax_within_the_95_ci_of_chongs_mean():
    """The model's oral Cmax after 25 mg (population mean and typical patient) lies in the 95 % CI of Chong's
    6-patient mean (22.8 +/- 12.8 -> 9.4-36.2 ng/mL). Measured: population mean 12.0 (median 9.8), typical 11.6 ng/mL
    at 29 min (x0.53 / x0.51): about half the observed mean, but a 6-patient mean cannot tell that from chance. Not pinned: the
    same table's oral AUC0-8 per mg, 3.1 +/- 0.7 ng.h/mL per mg, against the model's 1.47 (typical; x0.47, below that
    mean's CI 2.4-3.8; realized F 0.15 vs 0.23 +/- 0.09): the table's parse is uncertain (its IV AUC is cut off)."""
    lo, hi = _mean_ci(CHONG["cmax"], CHONG["n"], CHONG["t975"])
    pop_mean = float(population("oral", CHONG["dose"]).max(axis=1).mean())
    typ = float(typical("oral", CHONG["dose"]).max())
    assert lo <= pop_mean <= hi, (pop_mean, lo, hi)
    assert lo <= typ <= hi, (typ, lo, hi)


def test_oral_25_mg_tmax_within_the_95_ci_of_chongs_mean():
    """Tmax 0.96 +/- 0.8 h (n 6) -> CI 0.12-1.80 h; the model's population mean Tmax 0.82 h (typical 0.48 h; the
    population's slow absorbers, iiv.ka_oral_cv 1.004, lengthen the mean)."""
    lo, hi = _mean_ci(CHONG["tmax_h"], CHONG["n"], CHONG["t975"])
    c = population("oral", CHONG["dose"])
    tmax = TIMES_H[np.argmax(c, axis=1)]
    assert lo <= float(tmax.mean()) <= hi, (tmax.mean(), lo, hi)


#: Grant 1981 as tabulated by Zanos 2018 (doi:10.1124/pr.117.015198) Table 1: oral 0.5 mg/kg, 45 +/- 10 ng/mL
GRANT = {"dose": "0.5 mg/kg", "cmax": (45.0, 10.0)}


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: oral racemic 0.5 mg/kg venous Cmax, population mean 19.1 ng/mL (200 patients; typical 70-kg man 16.2 ng/mL "
    "at 29 min) against Grant 1981's 45 +/- 10 ng/mL (volunteers; as tabulated by Zanos 2018 Pharmacol Rev, "
    "doi:10.1124/pr.117.015198, Table 1): x0.43 / x0.36, below 45 - 2 x 10 = 25 if the +/- 10 is an SD of individuals (the "
    "reading tested here); Grant's n and whether +/- 10 is an SD or an SE were not read (as an SE of 5-6 volunteers "
    "the mean's 95 % CI starts at 17-19 and the model's mean sits at its edge), so this xfail is only as firm as that "
    "reading. The same model is x0.51-0.53 of Chong's 25-mg mean (inside that "
    "6-patient mean's CI, the test above): oral racemic Cmax is 1.9-2.8x low against both sources. The model's oral "
    "absorption (route.oral.ka 1.45/h, Perez-Ruixo's swallowed-esketamine rate; their oral-solution rate is slower, "
    "0.97/h after a 0.32-h zero-order phase) already peaks at ~0.5 h, so a faster ka alone is not the evidence; "
    "F (route.oral.f_s 0.15 / f_r 0.19, Fanta 2021's prolonged-release tablets) is below Chong's 0.23-0.24, and the "
    "venous read-out sits at 0.66 x the arterial level at the oral peak (venous_slow_fraction 0.384)."))
def test_oral_half_mg_per_kg_cmax_grant_1981():
    m, sd = GRANT["cmax"]
    pop_mean = float(population("oral", GRANT["dose"]).max(axis=1).mean())
    assert m - 2 * sd <= pop_mean <= m + 2 * sd, pop_mean


# --------------------------------------------------------------------------------------------------------------
# IV bolus
# --------------------------------------------------------------------------------------------------------------
#: Singh 2022 (PMID 35146776) Table 6: 10 mg IV, n 9, geometric mean 296 (geometric SD 1.71); t(0.975, 8 df) = 2.306
SINGH = {"dose": "10 mg", "n": 9, "gm": 296.0, "gsd": 1.71, "t975": 2.306}


def test_singh_geometric_mean_interval_is_as_computed():
    """The CI used below: 296 x exp(+/- 2.306 ln 1.71 / 3) = 196-448 ng/mL."""
    half = SINGH["t975"] * np.log(SINGH["gsd"]) / np.sqrt(SINGH["n"])
    lo, hi = SINGH["gm"] * np.exp(-half), SINGH["gm"] * np.exp(half)
    assert lo == pytest.approx(196, abs=1) and hi == pytest.approx(448, abs=1)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: 10 mg racemic IV bolus, venous level at 2 min: population geometric mean 92 ng/mL (200 patients, 80 +/- "
    "15 kg; its maximum, at ~4 min, GM 105), typical 70-kg man 111 ng/mL at 2 min, against Singh 2022 "
    "(Pharmacotherapy, doi:10.1002/phar.2669, PMID 35146776, Table 6; 9 cancer patients) GM 296 (GSD 1.71) with Tmax "
    "2 (1) min, a level at about 2 min: x0.31-0.38, below the GM's 95 % CI 196-448. Singh's patients weighed "
    "~60 kg (Table 6's AUC/D column implies 0.167 mg/kg per 10 mg; an inference, fiftieth session H2), which by "
    "1/weight would lift the model's 2-min level to ~130, still below. The AUC agrees (113 vs 112.5 ng.h/mL), so it is the "
    "early venous peak, not clearance. The model's ARTERIAL level at 2 min (356 ng/mL typical) would be inside; "
    "Singh's sampling site and injection rate were not read. The model's early venous level rests on a children's "
    "S-ketamine peak under sevoflurane (Weber 2004, the fit anchor of pk.ketamine.venous_t_half, next test), and "
    "the adult trauma medians without a PMID (Hirlinger, module docstring) point the other way (model x1.35-1.76 at "
    "5-15 min): the adult data disagree around the model."))
def test_iv_10_mg_early_venous_peak_singh_2022():
    half = SINGH["t975"] * np.log(SINGH["gsd"]) / np.sqrt(SINGH["n"])
    lo, hi = SINGH["gm"] * np.exp(-half), SINGH["gm"] * np.exp(half)
    # Singh's Tmax is "2 (1)" min (Table 6, n 9): the 296 is a level at about 2 min (if the "(1)" is a geometric
    # SD, every patient's highest sample was the 2-min one), so the model is read at 2 min, not at its own venous
    # maximum (~4 min), which would flatter it.
    c2 = at(population("iv-bolus", SINGH["dose"]), 2)
    gm = float(np.exp(np.log(c2).mean()))
    assert lo <= gm <= hi, (gm, lo, hi)


def test_iv_2_mg_per_kg_s_ketamine_venous_peak_is_weber_2004s_fit_anchor():
    """Weber 2004 (children, S-ketamine 2 mg/kg IV, venous): 1860 +/- 883 ng/mL at 3 +/- 1 min. The typical 70-kg
    man's S-ketamine venous peak after esketamine 2 mg/kg IV lies within +/- 1 SD of it, by 5 min. A fit anchor
    (benchmarks/fit_pk_absorption.py fits pk.ketamine.venous_t_half to it, with a racemic proxy), so it only guards
    against drift. Measured: 1724 ng/mL at 4 min (racemic 2 mg/kg: 1748)."""
    rows = reference_rows()
    if rows is None:
        pytest.skip(f"{REFERENCE_PK_CSV} is not present on this machine")
    notes = {r["quantity"]: r for r in rows}["IN S-ketamine Cmax 2 mg/kg (children)"]["notes"]
    assert "IV 1860 +/- 883 at 3 +/- 1 min" in notes
    with pytest.warns(DoseWarning, match="anesthetic range"):
        c = typical_traj([line("esketamine", "iv-bolus", "2 mg/kg")], TIMES_H)["cp_s_ketamine_ng_ml"].to_numpy()
    k = int(np.argmax(c))
    assert TIMES_MIN[k] <= 5 and 1860 - 883 <= c[k] <= 1860 + 883, (TIMES_MIN[k], c[k])


# --------------------------------------------------------------------------------------------------------------
# IM
# --------------------------------------------------------------------------------------------------------------
#: Hirlinger & Dick 1984 (PMID 6476334): highest median level (ng/mL) and its time (min), 10 patients per dose
HIRLINGER_IM = {"0.5 mg/kg": (147.0, 30), "1 mg/kg": (474.0, 15)}
HIRLINGER_N = 10

_IM_HALF_REASON = (
    "MODEL: IM 0.5 mg/kg in trauma patients (Hirlinger & Dick 1984, Anaesthesist 33:272, PMID 6476334, medians of ~10 "
    "patients): the highest median level was 147 ng/mL at 30 min. The model (venous) gives {what}. Not absorption "
    "alone: with the same IM rate the 1-mg/kg group agrees (474 at 15 min vs typical 451, population median 432), "
    "so the two groups of the same study are >= 3.2x apart at 15 min (474 vs at most 147) for twice the dose, where "
    "linear PK gives 2x (trauma: perfusion of the injected muscle may differ); route.im.ka 9.261/h rests on a secondary Tmax of 5-15 min and "
    "route.im.f 0.93 on a secondary source (Clements 1982 not read).")


@pytest.mark.parametrize("dose", [
    pytest.param("0.5 mg/kg", marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=_IM_HALF_REASON.format(
        what="at 30 min a population median 113 (typical 70-kg man 120): x0.77 / x0.82, and the observed median "
             "lies above the 2.5-97.5 % band of the model's median of 10 patients (98-132)"))),
    "1 mg/kg",
])
def test_im_level_at_the_time_of_hirlingers_highest_median(dose):
    """The observed median at its stated time lies within the 2.5-97.5 % band of the median of 10 patients drawn from
    the model's population (no spread is published). 1 mg/kg at 15 min: model band 378-484 around 474 (population
    median 432, typical 451: x0.91 / x0.95; band 378-484)."""
    observed, minutes = HIRLINGER_IM[dose]
    x = at(population("im", dose), minutes)
    lo, hi = sampling_band(x, HIRLINGER_N, lambda s: np.median(s, axis=-1))
    assert lo <= observed <= hi, (dose, minutes, observed, lo, hi, float(np.median(x)))


@pytest.mark.parametrize("dose", [
    pytest.param("0.5 mg/kg", marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=_IM_HALF_REASON.format(
        what="its median curve's highest level 251 ng/mL at 9 min (typical 254 at 10 min): x1.7 the observed "
             "highest median and 20 min earlier; the band of the highest median of 10 patients (210-288) lies far "
             "above 147"))),
    "1 mg/kg",
])
def test_im_highest_median_level_matches_hirlinger(dose):
    """The highest level of the median curve of 10 patients (over the first hour) drawn from the model: its
    2.5-97.5 % band must hold the observed highest median. 1 mg/kg: model 503 at 9 min (band 420-577) against 474 at
    15 min."""
    observed, _ = HIRLINGER_IM[dose]
    c = population("im", dose)[:, TIMES_MIN <= 60]
    lo, hi = sampling_band(c, HIRLINGER_N, lambda s: np.median(s, axis=-2).max(axis=-1))
    assert lo <= observed <= hi, (dose, observed, lo, hi)
