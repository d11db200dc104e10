"""Link 10 — symptoms: a rapid and a sustained drug component, expectancy, and background therapy.

Relative severity D (1 = baseline score) follows ``D* = (1 - R_drug)(1 - R_placebo)(1 - R_AD)`` with
half-time ``symptom_t_half``:

* ``R_drug = Emax * tanh(w_M (M - 1) + w_P (P - 1) + w_S (S/S0 - 1))`` — mTORC1-dependent translation carries
  the first hours (acute synaptic potentiation), synaptic proteins hours to days (rapid component), spines days
  to weeks (sustained component). All three sit downstream of mTORC1, so rapamycin abolishes the response.
* ``R_placebo = Emax_pl * X / (1 + X)`` — X is expectancy, kindled by each session and by perceptible drug
  effects (dissociation, sedation: functional unblinding), decaying over days.
* ``R_AD = Emax_AD * AD`` — a newly started oral antidepressant, onset over weeks.

The score on a scale is ``baseline * D``.
"""

from numba import njit
import math


@njit(cache=True)
def drug_relief(mtorc1, proteins, spines_rel, w_mtorc1, w_protein, w_spine, emax):
    return emax * math.tanh(w_mtorc1 * (mtorc1 - 1.0) + w_protein * (proteins - 1.0) + w_spine * (spines_rel - 1.0))


@njit(cache=True)
def placebo_relief(expectancy, emax_placebo):
    x = max(expectancy, 0.0)
    return emax_placebo * x / (1.0 + x)


@njit(cache=True)
def symptom_target(r_drug, r_placebo, r_antidepressant):
    return (1.0 - r_drug) * (1.0 - r_placebo) * (1.0 - r_antidepressant)
