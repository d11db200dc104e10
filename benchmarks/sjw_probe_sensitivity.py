"""St John's wort on oral S-ketamine: what independent CYP probe data predict (typical 70-kg, 40-year-old man).

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/sjw_probe_sensitivity.py

Prints (1) every DDI anchor of the shipped parameter set beside its published value, (2) the St John's wort oral
S-ketamine / S-norketamine AUC ratios when the midazolam probe comes from products of different hyperforin dose
(Mueller 2006), (3) the sweep of the CYP3A/CYP2B6 shares of N-demethylation, (4) the CYP2B6 factor St John's wort
would need with Wang 2001's CYP3A factors. Nothing here changes the parameter set: variants are
``ParameterSet.with_literature`` copies. Published targets (Peltoniemi 2012, Fundam Clin Pharmacol 26:743,
doi:10.1111/j.1472-8206.2011.00954.x): oral S-ketamine AUC0-inf ratio 0.42, Cmax 0.34, norketamine AUC 0.82.

Probe sources (read): Wang 2001 Clin Pharmacol Ther doi:10.1016/s0009-9236(01)00127-8 (IV midazolam AUC -20 %, oral
clearance 121.8 -> 254.5 L/h); Mueller 2006 Eur J Clin Pharmacol doi:10.1007/s00228-005-0061-3 (oral midazolam
AUC0-12 -79.4 % with extract LI 160, hyperforin 41 mg/day; -47.9 % with powder 12 mg/day; -21.1 % with 0.13 mg/day).
Mueller gives oral midazolam only: the IV (liver) ratio is an assumption, shown two ways (Wang's 0.80, i.e. the
extra induction in the gut wall only; or the liver:gut split of Wang in log space, both organs scaled).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import brentq

import ketasim
from ketasim import pk as P

warnings.simplefilter("ignore")
T = np.unique(np.round(np.concatenate([np.arange(0, 12, 1 / 60), np.arange(12, 120 + 1e-9, 0.25)]), 9))
SJW = "st-johns-wort"
#: the anchors' pretreatments (induction builds up with the enzymes' turnover, pk.induction_reached): St John's wort
#: 14 days (Peltoniemi 2012 FCP, like its probes), rifampicin 6 days (Peltoniemi 2012 BCPT) / 5 days (Noppers 2011)
SJW_14, RIF_6, RIF_5 = "st-johns-wort for 14 d", "rifampicin for 6 d", "rifampicin for 5 d"


def run(lines, comedications=(), params=None):
    sc = ketasim.scenario_from_dict({"name": "sjw", "population": {
        "size": 1, "female_fraction": 0.0, "weight_kg": {"mean": 70.0, "sd": 0.0},
        "age_years": {"mean": 40.0, "sd": 0.0}, "comedications": list(comedications)}, "arms": {"arm": list(lines)}})
    return ketasim.simulate(sc, params, typical=True, output_times_h=T).trajectories().set_index("time_h")


def auc(tr, col):
    t, c = tr.index.to_numpy(), tr[col].to_numpy()
    return float(np.sum(np.diff(t) * (c[1:] + c[:-1]) / 2))


def ratio(lines, comedication, col="cp_s_ketamine_ng_ml", what="auc", params=None):
    a, b = run(lines, params=params), run(lines, [comedication], params=params)
    if what == "cmax":
        return float(b[col].max() / a[col].max())
    return auc(b, col) / auc(a, col)


def ln(drug, route, dose, **kw):
    return {"drug": drug, "route": route, "dose": dose, **kw}


ORAL_03 = [ln("esketamine", "oral", "0.3 mg/kg")]
ORAL_02 = [ln("esketamine", "oral", "0.2 mg/kg")]
IV_2H = [ln("esketamine", "iv-infusion", "0.1 mg/kg", duration="2 h")]
IN_56 = [ln("esketamine", "intranasal", "56 mg")]


def nk_rule(p):
    """ddi.st-johns-wort.nk_cl_factor's rule: norketamine CL induced as much as hepatic N-demethylation."""
    return P.induction_factors(p, SJW, p.get(f"ddi.{SJW}.nk_cl_days", "h"))[0]


def variant(p, iv, oral):
    q = p.with_literature({f"ddi.{SJW}.midazolam_iv_auc_ratio": iv, f"ddi.{SJW}.midazolam_oral_auc_ratio": oral})
    return q.with_literature({f"ddi.{SJW}.nk_cl_factor": nk_rule(q)})


def oral_closed_form(p, comedication):
    """Oral S-ketamine AUC ratio of the well-stirred liver + gut wall: (Fg'/Fg) / (liver CLint factor)."""
    clint_f, gut_f, *_ = P.comedication_factors(p, (comedication,))
    fg = P.oral_fractions(p)[2][0]
    g = (1.0 - fg) / fg
    return (1.0 / (1.0 + g * gut_f)) / fg / clint_f


def main():
    p = ketasim.load_parameters()
    print("1. DDI anchors, shipped parameter set (typical man)")
    rows = [
        ("rifampicin 6 d oral S-ket AUC", ratio(ORAL_03, RIF_6), "0.14 (Peltoniemi 2012 BCPT)"),
        ("rifampicin 6 d IV S-ket AUC", ratio(IV_2H, RIF_6), "0.86 (Peltoniemi)"),
        ("rifampicin 5 d IV S-ket AUC", ratio(IV_2H, RIF_5), "0.90 (Noppers 2011)"),
        ("rifampicin 5 d IV S-NK AUC", ratio(IV_2H, RIF_5, "cp_norketamine_ng_ml"), "0.50 (Noppers 2011)"),
        ("SJW oral S-ket AUC", ratio(ORAL_03, SJW_14), "0.42 (Peltoniemi 2012 FCP)"),
        ("SJW oral S-ket Cmax", ratio(ORAL_03, SJW_14, what="cmax"), "0.34"),
        ("SJW oral S-NK AUC", ratio(ORAL_03, SJW_14, "cp_norketamine_ng_ml"), "0.82"),
        ("SJW oral S-NK Cmax", ratio(ORAL_03, SJW_14, "cp_norketamine_ng_ml", what="cmax"), "0.77"),
        ("clarithromycin oral AUC", ratio(ORAL_02, "clarithromycin"), "2.6 (Hagelberg 2010)"),
        ("clarithromycin oral Cmax", ratio(ORAL_02, "clarithromycin", what="cmax"), "3.6"),
        ("ticlopidine IN AUC", ratio(IN_56, "ticlopidine"), "1.29"),
        ("ticlopidine IN Cmax", ratio(IN_56, "ticlopidine", what="cmax"), "no effect"),
        ("grapefruit oral AUC", ratio(ORAL_02, "grapefruit-juice"), "3.0 (Peltoniemi 2012)"),
        ("grapefruit IV AUC", ratio(IV_2H, "grapefruit-juice"), "1.0"),
        ("itraconazole oral AUC", ratio(ORAL_02, "itraconazole"), "1.0 (Peltoniemi 2011)"),
    ]
    for name, model, pub in rows:
        print(f"   {name:28s} model {model:6.3f}   published {pub}")

    print("\n2. St John's wort: midazolam probe by product (hyperforin dose), shipped CYP2B6 factor and shares")
    split = math.log(0.80) / math.log(0.48)     # Wang 2001: ln(IV ratio) / ln(oral ratio)
    for label, oral in (("Wang 2001 product (shipped)", 0.48), ("LI 160, hyperforin 41 mg/d", 0.206),
                        ("powder, hyperforin 12 mg/d", 0.521), ("powder, hyperforin 0.13 mg/d", 0.789)):
        for how, iv in (("IV 0.80", 0.80), ("IV log-split", oral ** split)):
            if oral == 0.48 and how != "IV 0.80":
                continue
            q = variant(p, iv, oral)
            h, g = P.cyp3a_factors_from_midazolam(q, SJW, 14 * 24.0)
            print(f"   {label:30s} oral mdz {oral:.3f} {how:12s} (IV {iv:.3f}): CYP3A liver x{h:.2f} gut x{g:.2f}"
                  f" -> S-ket AUC {ratio(ORAL_03, SJW_14, params=q):.3f} Cmax {ratio(ORAL_03, SJW_14, what='cmax', params=q):.3f}"
                  f"  S-NK AUC {ratio(ORAL_03, SJW_14, 'cp_norketamine_ng_ml', params=q):.3f}")

    print("\n3. CYP3A share of N-demethylation (CYP2B6 share = 1 - it): oral S-ketamine AUC ratio (closed form)")
    for s in (0.0, 0.25, 0.5, 0.75, 1.0):
        q = p.with_literature({"pk.demethylation_cyp3a_share": s, "pk.demethylation_cyp2b6_share": 1.0 - s})
        print(f"   CYP3A share {s:.2f}: SJW {oral_closed_form(q, SJW_14):.3f} (0.42)   rifampicin "
              f"{oral_closed_form(q, RIF_6):.3f} (0.14)")

    need = brentq(lambda f: oral_closed_form(p.with_literature({f"ddi.{SJW}.cyp2b6_factor": f}), SJW_14) - 0.42, 1.0, 50.0)
    print(f"\n4. CYP2B6 factor St John's wort would need with Wang 2001's CYP3A factors: x{need:.2f} "
          f"(rifampicin's, from efavirenz: x{p.get('ddi.rifampicin.cyp2b6_factor'):.2f}; bupropion gives SJW x1.20)")


if __name__ == "__main__":
    main()
