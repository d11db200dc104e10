"""Power and sample size of a virtual trial, by replicate trials (clinical trial simulation).

The trial's arms are simulated once for a large pool of virtual patients per arm (:func:`ketasim.trial.run_trial`'s
machinery: the same patients, rater noise, screening and endpoint ratings a trial of the scenario reports). Each
replicate trial then draws ``n`` patients per arm from the pools (with replacement: a pool stands for its
population) and analyses each comparison as a trial would: the change from baseline by Welch's t-test (the trial's
own comparison rows) or by ANCOVA with the baseline rating as covariate (``test="ancova"``, the usual primary
analysis of depression trials), a response or remission rate by the pooled two-proportion z-test (the trial's score
test); a crossover's periods by the paired t-test and the exact McNemar test. **Power** is the share of replicates
whose two-sided p is below ``alpha`` with the difference in the tested arm's favour (a positive trial: a larger fall
of the score, a higher rate), with its 95 % Wilson interval (Monte Carlo). ``dropout`` removes each patient from the
analysis with that probability, at random (missing completely at random; completers analysed).

With ``uncertainty`` = K, the whole calculation is repeated under K draws of the calibrated parameters' posterior
(each with a trial effect when ``between_trial``, as ``trial --uncertainty``), each on a new pool: the mean power over
the draws is the **assurance** (the probability of a positive trial averaged over what is not known about the
model's parameters; O'Hagan, Stevens & Campbell 2005, Pharm Stat 4:187, doi:10.1002/pst.175), beside the 5th-95th
percentiles of the draws' power.

The normal-theory power of the pool's own effect and spread (statsmodels' ``TTestIndPower``, ``TTestPower`` and
``NormalIndPower`` with Cohen's h) is given beside each row as a cross-check; it assumes normal changes and large
samples, the replicates do not.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InputError, argument
from .parameters import ParameterSet, load_parameters
from .vocabulary import AE_MEASURES

#: Default patients per arm of the replicate trials.
DEFAULT_SIZES = (10, 20, 30, 40, 60, 80, 100, 150, 200)
#: Default replicate trials per size (Monte Carlo SE of a power of 0.80: 0.013).
DEFAULT_REPLICATES = 1000
#: Fewest virtual patients per arm in the pool, and the pool's size as a multiple of the largest trial (the pool's own
#: sampling error in the effect is then small against a trial's: a tenth of its variance).
MIN_POOL, POOL_PER_PATIENT = 2000, 10
#: The comparisons a replicate analyses, by score measure (the trial's comparison rows).
MEASURES = ("mean_change", "response_rate", "remission_rate")
#: Incidence endpoints (a patient had the event at least once over the period, as ``ketasim trial`` reports them:
#: the adverse events of :mod:`ketasim.adverse_events` and a monitored reading >= 180/110 mmHg), tested for harm:
#: more patients with the event in the tested arm than in the compared-with arm.
HARM_MEASURES = AE_MEASURES + ("hypertension_rate",)
#: Analyses of the change from baseline (parallel arms); a crossover's is always the paired t-test.
TESTS = ("welch", "ancova")
TEST_NAMES = {"welch": "Welch t", "ancova": "ANCOVA (baseline)", "paired": "paired t", "z": "two-proportion z",
              "mcnemar": "exact McNemar"}
MAX_REPLICATES = 100_000
MAX_SIZE = 100_000
#: At most this many patient draws (replicates x patients) held at once per arm (memory stays bounded).
_CHUNK_DRAWS = 2_000_000
#: Patient draws (replicates x patients x arms x comparisons) the replicate analyses do per second on one core
#: (benchmarks/bench_power.py: ~1.4e7; taken lower): the compute bound's estimate.
_DRAWS_PER_S = 5e6
#: SeedSequence tag of the replicates' draws (their own streams: the pool's patients are the trial's).
_REPLICATE_TAG = 0x706F776572
#: SeedSequence tag of the pool's adverse-event incidences (per arm, keyed by the arm's index in the scenario).
_INCIDENCE_TAG = 0x6165
#: ``sizes="auto"``: the largest patients per arm the search evaluates (default; ``max_size``).
DEFAULT_MAX_SIZE = 500
#: ``sizes="auto"`` without ``pool``: the default pool (10 x ``max_size``) is capped at this many patients per arm, or
#: the largest arm the search may evaluate if that is larger (``--max-size 100000`` made pools of 1,000,000 patients
#: per arm, ~600 MB and up to the hour's time budget, whatever size the search found). A size found above a tenth of
#: the pool is said (the pool's own error is then not small against a trial's).
SEARCH_POOL_CAP = 50_000


@dataclasses.dataclass
class PowerResult:
    """The rows of a power analysis (:meth:`table`) with what produced them (``provenance``)."""

    rows: list
    provenance: dict

    def table(self) -> pd.DataFrame:
        """One row per comparison x endpoint x size: arm, versus, time_h, measure, test, n_per_arm (patients in the
        tested arm), n_versus (in the arm it is compared with: n_per_arm x the allocation ratio), analysed_per_arm
        (the tested arm's expected patients analysed, after dropout), effect (the pools' difference arm - versus: scale points
        for a change, percentage points for a rate), unit, power, power_ci95_low, power_ci95_high (Wilson, Monte
        Carlo), normal_theory_power, and with posterior draws assurance, power_p05, power_p95 (NaN without); then
        margin (the row's unit; 0: the plain test), hypothesis (superiority, non-inferiority, superiority by a
        margin, harm, harm by a margin) and search_step (with sizes 'auto': the order in which the search evaluated
        the size, 1 first; NaN for a list of sizes); with ``multiplicity``: multiplicity ('holm over 4'), power_adjusted
        (this row's hypothesis rejected within the family), power_all and power_any (the family's at this size: every
        hypothesis / at least one rejected; the same on each row of the size), power_all_unadjusted (every hypothesis
        rejected at its own one-sided alpha / 2, no adjustment: the power of co-primary endpoints, an
        intersection-union test); empty or NaN without. time_h is NaN for an incidence (the whole period)."""
        return pd.DataFrame(self.rows, columns=[
            "arm", "versus", "time_h", "measure", "test", "n_per_arm", "n_versus", "analysed_per_arm", "effect", "unit",
            "power",
            "power_ci95_low", "power_ci95_high", "normal_theory_power", "assurance", "power_p05", "power_p95",
            "margin", "hypothesis", "search_step", "multiplicity", "power_adjusted", "power_all", "power_any",
            "power_all_unadjusted"])

    def sample_sizes(self) -> pd.DataFrame:
        """Per comparison x endpoint: the smallest size tested whose power (with posterior draws: assurance) reaches
        the target (NaN: none of the sizes tested does)."""
        df = self.table()
        key = "assurance" if self.provenance.get("uncertainty") else "power"
        target = self.provenance["target_power"]
        out = []
        for (arm, versus, t, m), g in df.groupby(["arm", "versus", "time_h", "measure"], sort=False,
                                                 dropna=False):
            ok = g[g[key] >= target]
            out.append({"arm": arm, "versus": versus, "time_h": t, "measure": m, "target": target, "by": key,
                        "smallest_n_per_arm": float(ok["n_per_arm"].min()) if len(ok) else float("nan")})
        return pd.DataFrame(out)

    def to_csv(self, path):
        """The table as CSV with ``PATH.provenance.json`` beside it (both files complete or neither replaced)."""
        from .result import _csv_with_provenance

        return _csv_with_provenance(path, self.table, {**self.provenance, "units": {
            "time_h": "h", "n_per_arm": "patients", "n_versus": "patients", "analysed_per_arm": "patients",
            "effect": "the row's unit (arm - versus)", "power": "fraction of replicate trials",
            "power_ci95_low": "as power", "power_ci95_high": "as power", "normal_theory_power": "as power",
            "assurance": "as power", "power_p05": "as power", "power_p95": "as power",
            "margin": "the row's unit (scale points for a change, percentage points for a rate)",
            "search_step": "order of evaluation (sizes auto)", "power_adjusted": "as power",
            "power_all": "as power", "power_any": "as power", "power_all_unadjusted": "as power"}})

    def format_table(self) -> str:
        """The printed table: one line per comparison x endpoint, one column per size (with sizes 'auto': the sizes
        the search evaluated, in order), and the smallest size reaching the target."""

        df = self.table()
        if not len(df):
            return "no power computed"
        p = self.provenance
        draws = bool(p.get("uncertainty"))
        search = p.get("sizes") == "auto"
        key = "assurance" if draws else "power"
        sizes = sorted(df["n_per_arm"].unique())
        need = {(r["arm"], r["versus"], _time_key(r["time_h"]), r["measure"]): r["smallest_n_per_arm"]
                for r in self.sample_sizes().to_dict("records")}
        labels = []
        for (arm, versus, t, m, test), g in df.groupby(["arm", "versus", "time_h", "measure", "test"], sort=False,
                                                       dropna=False):
            eff = g["effect"].iloc[0]
            unit = "pp" if m != "mean_change" else "pts"
            labels.append((f"{arm} vs {versus}", _endpoint_words(m, t), TEST_NAMES[test],
                           f"{eff:+.1f} {unit}" if math.isfinite(eff) else "n/a", g,
                           (arm, versus, _time_key(t), m)))
        w = [max(len(h), *(len(x[i]) for x in labels)) for i, h in enumerate(("comparison", "endpoint", "test",
                                                                               "effect"))]
        cols = f"sizes evaluated (in order): {key}" if search else "  ".join(f"{int(n):>5}" for n in sizes)
        n_for = f"n for {100 * p['target_power']:g}%"
        head = (f"{'comparison':<{w[0]}}  {'endpoint':<{w[1]}}  {'test':<{w[2]}}  {'effect':>{w[3]}}  "
                + (f"{n_for}  {cols}" if search else f"{cols}  {n_for}"))
        alloc = p.get("allocation", "1:1")
        per = (CROSSOVER_SIZE if p.get("design") == "crossover" else
               "patients per arm" if alloc in ("1:1", "") else
               f"patients in the tested arm (allocation {alloc}: {int(df['n_versus'].iloc[0])} in the other arm at "
               f"{int(df['n_per_arm'].iloc[0])})")
        per_arm = "" if p.get("design") == "crossover" else " per arm"      # a crossover's size is its patients
        how = (f"size evaluated by a search up to {p['search']['max_size']:,}{per_arm}" if search else "size")
        lines = [f"{'Assurance' if draws else 'Power'} by {per} ({p['replicates']:,} replicate trials per "
                 f"{how}; two-sided alpha {p['alpha']:g}, " + _direction_words(df)
                 + ("; with a margin one-sided at alpha/2" if p.get("margins") else "") + ")", head]
        for comp, ep, test, eff, g, k in labels:
            n_t = need.get(k, float("nan"))
            reach = f"{int(n_t)}" if math.isfinite(n_t) else f"> {int(max(g['n_per_arm']))}"
            if search:
                g = g.sort_values("search_step")
                cells = "  ".join(f"{int(n)}: {v:.2f}" for n, v in zip(g["n_per_arm"], g[key]))
                lines.append(f"{comp:<{w[0]}}  {ep:<{w[1]}}  {test:<{w[2]}}  {eff:>{w[3]}}  "
                             f"{reach:>{len(n_for)}}  {cells}")
                continue
            vals = dict(zip(g["n_per_arm"], g[key]))
            cells = "  ".join(f"{vals[n]:>5.2f}" if n in vals and math.isfinite(vals[n]) else f"{'-':>5}"
                              for n in sizes)
            # the smallest size tested already reaching it: a smaller trial may too ('<= 10'; it printed '10')
            if math.isfinite(n_t) and n_t == min(sizes):
                reach = f"<= {reach}"
            lines.append(f"{comp:<{w[0]}}  {ep:<{w[1]}}  {test:<{w[2]}}  {eff:>{w[3]}}  {cells}  {reach}")
        half = float(np.nanmax((df["power_ci95_high"] - df["power_ci95_low"]) / 2))
        lines.append(f"Replicates draw patients from pools of {p['pool']:,} virtual patients per arm (seed {p['seed']}); "
                     # with draws the table shows the assurance: this interval is the calibrated set's power's
                     + (f"Monte Carlo 95 % CI half-width of the calibrated parameters' power (the CSV's power column) "
                        f"at most {half:.3f}." if draws else f"Monte Carlo 95 % CI half-width at most {half:.3f}.")
                     + (f" Dropout {p['dropout']:.0%} at random (completers analysed)." if p["dropout"] else "")
                     + (" Effect: the pools' mean difference (scale points) or rate difference (percentage points), "
                        "arm - versus."))
        if p.get("margins"):
            words = "; ".join(f"{t} {m:+g} {'pts' if t.startswith('mean_change') else 'pp'}"
                              for t, m in p["margins"].items())
            lines.append(f"Margins: {words}. {MARGIN_CONVENTION[0].upper()}{MARGIN_CONVENTION[1:]}.")
        if p.get("incidence"):
            lines.append(f"Incidence: {p['incidence']}.")
        if p.get("multiplicity"):
            mu = p["multiplicity"]
            first = df.drop_duplicates("n_per_arm").sort_values("n_per_arm")
            both = "  ".join(f"{int(n)}: {a:.2f} / {o:.2f}" for n, a, o in
                             zip(first["n_per_arm"], first["power_all"], first["power_any"]))
            # with posterior draws the table above is the assurance; these are the central pools' power
            central = "; the central pools' power, not the assurance above" if draws else ""
            k = len(mu["family"])
            harm = df["hypothesis"].astype(str).str.startswith("harm")
            # a family of benefit and harm: 'all significant' includes showing the harm (H9, s43): said
            mixed = (" The family mixes efficacy and harm endpoints: 'all' includes showing the harm (run each kind "
                     "with its own --multiplicity to size them apart).") if harm.any() and not harm.all() else ""
            lines.append(f"Multiplicity ({mu['method'].capitalize()} over {k} hypothes{'is' if k == 1 else 'es'} "
                         f"(comparisons x endpoints), family-wise two-sided alpha {p['alpha']:g}{central}): power "
                         f"that all / any are significant by size: {both}; co-primary (all at their own level, no "
                         "adjustment): " + "  ".join(f"{int(n)}: {c:.2f}" for n, c in
                                                    zip(first["n_per_arm"], first["power_all_unadjusted"]))
                         + "." + mixed)
            several = len(p["comparisons"]) > 1
            adj = "; ".join((f"{a_} vs {v_}, " if several else "") + f"{_endpoint_words(m, t)}: "
                            + "  ".join(f"{v:.2f}" for v in g["power_adjusted"])
                            for (a_, v_, t, m), g in df.groupby(["arm", "versus", "time_h", "measure"], sort=False,
                                                                 dropna=False))
            lines.append(f"Adjusted power per endpoint (sizes as above): {adj}.")
        if draws:
            from .limits import MIN_PER_ROW_DRAWS

            few = (f" With {p['uncertainty']} draws the percentiles are nearly the extremes (use {MIN_PER_ROW_DRAWS} "
                   "or more)." if p["uncertainty"] < MIN_PER_ROW_DRAWS else "")
            lines.append(f"Assurance: the mean power over {p['uncertainty']} draws of the calibrated parameters' "
                         "posterior" + (" with a between-trial effect each" if p["between_trial"] else "")
                         + f", each on its own pool of {p['draw_pool']:,} patients per arm (the draws' 5th-95th "
                         f"percentiles of the power: the CSV's power_p05, power_p95).{few}")
        if p.get("design_note"):
            lines.append(f"note: {p['design_note']}")
        return "\n".join(lines)


def _direction_words(df) -> str:
    """The printed table's tested direction: the arm's favour, or for incidence endpoints (harm) more events in the
    arm."""
    harm = df["measure"].isin(HARM_MEASURES)
    if harm.all():
        return "more patients with the event in the arm (harm)"
    if harm.any():
        return "difference in the arm's favour (an incidence: more patients with the event in the arm, harm)"
    return "difference in the arm's favour"


def _time_key(t):
    """A row's time as a dictionary key (NaN, an incidence's whole period, as None)."""
    return None if t is None or not math.isfinite(t) else float(t)


def _endpoint_words(measure: str, time_h) -> str:
    from .units import fmt_hours

    if measure in HARM_MEASURES:
        return f"{measure.removesuffix('_rate').replace('_', ' ')} (incidence)"
    return f"{_MEASURE_WORDS[measure]} {fmt_hours(time_h)}"


_MEASURE_WORDS = {"mean_change": "change", "response_rate": "response", "remission_rate": "remission"}
#: Line style of each measure in the power curves (the colour is the comparison x time's).
_MEASURE_STYLES = {"mean_change": "-", "response_rate": "--", "remission_rate": ":"}


# ---- the tests, vectorised over replicate trials (rows of the arrays; a mask marks the analysed patients) ----------
def _mean_var(x: np.ndarray, m: np.ndarray):
    """Per row: the mean and the variance (ddof 1) of ``x`` over ``m``, and the count."""
    k = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(m, x, 0.0).sum(axis=1) / k
        dev = np.where(m, x - mean[:, None], 0.0)
        var = (dev * dev).sum(axis=1) / (k - 1)
    return mean, var, k, dev


def _two_sided_t(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return 2.0 * stats.t.sf(np.abs(t), df)


def _welch_parts(a, b, ma, mb):
    """Per row: (difference of means a - b, its squared standard error, Welch-Satterthwaite degrees of freedom)."""
    xa, va, ka, _ = _mean_var(a, ma)
    xb, vb, kb, _ = _mean_var(b, mb)
    with np.errstate(invalid="ignore", divide="ignore"):
        sa, sb = va / ka, vb / kb
        se2 = sa + sb
        df = se2 * se2 / (sa * sa / (ka - 1) + sb * sb / (kb - 1))
    return xa - xb, se2, df


def welch_test(a: np.ndarray, b: np.ndarray, ma: np.ndarray, mb: np.ndarray):
    """Welch's unequal-variance t-test per row (as ``scipy.stats.ttest_ind(equal_var=False)``): (difference of
    means a - b, two-sided p; NaN where undefined)."""
    diff, se2, df = _welch_parts(a, b, ma, mb)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = diff / np.sqrt(se2)
    return diff, _two_sided_t(t, df)


def _ancova_fit(a, b, xa, xb, ma, mb):
    """Per row, the common-slope ANCOVA of outcome ``a``/``b`` on group and covariate ``xa``/``xb``: (adjusted
    difference a - b, residual variance on N - 3 degrees of freedom, its variance factor 1/na + 1/nb + (x̄a - x̄b)² /
    Sxx, degrees of freedom)."""
    ya, _, ka, dya = _mean_var(a, ma)
    yb, _, kb, dyb = _mean_var(b, mb)
    ca, _, _, dxa = _mean_var(xa, ma)
    cb, _, _, dxb = _mean_var(xb, mb)
    sxx = (dxa * dxa).sum(axis=1) + (dxb * dxb).sum(axis=1)
    sxy = (dxa * dya).sum(axis=1) + (dxb * dyb).sum(axis=1)
    syy = (dya * dya).sum(axis=1) + (dyb * dyb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 0, sxy / sxx, 0.0)
        diff = (ya - yb) - slope * (ca - cb)
        df = ka + kb - 3.0
        s2 = (syy - slope * sxy) / df
        factor = 1.0 / ka + 1.0 / kb + np.where(sxx > 0, (ca - cb) ** 2 / sxx, 0.0)
    return diff, s2, factor, df


def ancova_test(a: np.ndarray, b: np.ndarray, xa: np.ndarray, xb: np.ndarray, ma: np.ndarray, mb: np.ndarray):
    """ANCOVA per row: outcome ``a``/``b`` on group and covariate ``xa``/``xb`` (a common slope); the adjusted
    difference a - b and its two-sided t-test p on N - 3 degrees of freedom (as the group coefficient of an OLS fit
    y ~ 1 + group + x)."""
    diff, s2, factor, df = _ancova_fit(a, b, xa, xb, ma, mb)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = diff / np.sqrt(s2 * factor)
    return diff, _two_sided_t(t, df)


def paired_t_test(d: np.ndarray, m: np.ndarray):
    """One-sample t-test of the paired differences ``d`` per row: (mean difference, two-sided p)."""
    x, v, k, _ = _mean_var(d, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = x / np.sqrt(v / k)
    return x, _two_sided_t(t, k - 1)


def proportion_z_test(ra: np.ndarray, rb: np.ndarray, ma: np.ndarray, mb: np.ndarray):
    """Pooled two-proportion z-test per row (the trial's score test of a rate difference; no continuity
    correction): (difference of proportions a - b, two-sided p; p 1 when both arms are all-or-none)."""
    ka, kb = ma.sum(axis=1), mb.sum(axis=1)
    sa, sb = (ra & ma).sum(axis=1), (rb & mb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = sa / ka, sb / kb
        pool = (sa + sb) / (ka + kb)
        z = (pa - pb) / np.sqrt(pool * (1.0 - pool) * (1.0 / ka + 1.0 / kb))
        p = np.where((pool > 0) & (pool < 1), 2.0 * stats.norm.sf(np.abs(z)), 1.0)
    return pa - pb, p


def restricted_mle_proportions(pa, pb, na, nb, delta):
    """Farrington & Manning's (1990, Stat Med 9:1447, doi:10.1002/sim.4780091208) maximum-likelihood proportions
    (a, b) under the null difference a - b = ``delta`` (proportions, not percent), given the observed ``pa``, ``pb`` of
    ``na``, ``nb`` patients (arrays; the closed-form root of their cubic, Miettinen & Nurminen 1985)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = nb / na
        a = 1.0 + theta
        b = -(1.0 + theta + pa + theta * pb + delta * (theta + 2.0))
        c = delta * delta + delta * (2.0 * pa + theta + 1.0) + pa + theta * pb
        d = -pa * delta * (1.0 + delta)
        v = b ** 3 / (3.0 * a) ** 3 - b * c / (6.0 * a * a) + d / (2.0 * a)
        u = np.where(v >= 0, 1.0, -1.0) * np.sqrt(np.maximum(b * b / (3.0 * a) ** 2 - c / (3.0 * a), 0.0))
        ratio = np.where(u != 0, v / np.where(u != 0, u, 1.0) ** 3, 0.0)
        w = (math.pi + np.arccos(np.clip(ratio, -1.0, 1.0))) / 3.0
        ta = np.clip(2.0 * u * np.cos(w) - b / (3.0 * a), 0.0, 1.0)
        tb = np.clip(ta - delta, 0.0, 1.0)
    return ta, tb


def one_sided_p(diff, se, df, sign: float, margin: float) -> np.ndarray:
    """Per row, the one-sided p of H0: sign x diff <= -margin (``sign`` -1 for a change, where the arm's favour is a
    larger fall; +1 for a rate or an incidence): the upper tail of t = (sign x diff + margin) / se on ``df`` degrees
    of freedom (``df`` None: the normal distribution)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (sign * diff + margin) / se
        return stats.norm.sf(t) if df is None else stats.t.sf(t, df)


def one_sided_reject(diff, se, df, sign: float, margin: float, alpha: float) -> np.ndarray:
    """Per row, whether the one-sided test at ``alpha`` / 2 rejects H0: sign x diff <= -margin
    (:func:`one_sided_p`). At margin 0 it rejects exactly where the two-sided test at ``alpha`` is significant with
    the difference in that direction."""
    return one_sided_p(diff, se, df, sign, margin) < alpha / 2.0


def proportion_margin_test(ra, rb, ma, mb, sign: float, margin: float, alpha: float):
    """Farrington-Manning score test per row of H0: sign x (a - b) <= -margin (proportions), one-sided at ``alpha``
    / 2: (difference of proportions a - b, rejected). At margin 0 it is the pooled z-test
    (:func:`proportion_z_test`)."""
    diff, p = _proportion_margin_p(ra, rb, ma, mb, sign, margin)
    return diff, p < alpha / 2.0


def _proportion_margin_p(ra, rb, ma, mb, sign: float, margin: float):
    """(difference of proportions a - b, the Farrington-Manning one-sided p of :func:`proportion_margin_test`; 1
    where its variance is 0)."""
    ka, kb = ma.sum(axis=1), mb.sum(axis=1)
    sa, sb = (ra & ma).sum(axis=1), (rb & mb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = sa / ka, sb / kb
        ta, tb = restricted_mle_proportions(pa, pb, ka, kb, -sign * margin)
        se = np.sqrt(ta * (1.0 - ta) / ka + tb * (1.0 - tb) / kb)
        p = np.where(se > 0, one_sided_p(pa - pb, se, None, sign, margin), 1.0)
    return pa - pb, p


def mcnemar_test(ra: np.ndarray, rb: np.ndarray, m: np.ndarray):
    """Exact McNemar test per row (the same patients in both periods): (difference of proportions a - b, two-sided
    p = the binomial test of the discordant pairs at 1/2, as the trial's crossover rows)."""
    b = (ra & ~rb & m).sum(axis=1)
    c = (~ra & rb & m).sum(axis=1)
    k = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(b + c > 0, np.minimum(1.0, 2.0 * stats.binom.cdf(np.minimum(b, c), b + c, 0.5)), 1.0)
        return (b - c) / k, p


# ---- the analysis ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Endpoint:
    measure: str
    time_h: float | None        # None: an incidence over the whole period

    @property
    def harm(self) -> bool:
        return self.measure in HARM_MEASURES

    @property
    def sign(self) -> float:
        """The tested direction of arm - versus: -1 for a change (a larger fall), +1 for a rate or an incidence."""
        return -1.0 if self.measure == "mean_change" else 1.0

    @property
    def text(self) -> str:
        return self.measure if self.time_h is None else f"{self.measure}@{self.time_h:g}h"


def _harm_endpoint(text: str, field: str):
    """An incidence endpoint ('nausea_rate') as an :class:`_Endpoint`; None for anything else (a score endpoint)."""
    m, at, t = str(text).partition("@")
    typed, m = m.strip(), m.strip().lower()         # any case, as parse_endpoint reads a score endpoint
    if m in HARM_MEASURES:
        if at:
            raise InputError(f"{field}: {m} is the incidence over the whole period (any event in any session), not "
                             f"a value at a time; write '{m}' without '@{t.strip()}'")
        return _Endpoint(m, None)
    from .sensitivity import SESSION_MEASURES

    if m not in (*MEASURES, "mean", *SESSION_MEASURES):
        raise InputError(f"{field}: {typed or repr(str(text))}: not an endpoint the trial can compute for power; "
                         f"incidence endpoints (harm: more in the arm): {', '.join(HARM_MEASURES)}; score endpoints: "
                         f"{', '.join(MEASURES)} at a time")
    return None


def _endpoints(scenario, endpoints) -> list[_Endpoint]:
    """The comparisons asked for ('mean_change@24h', ...; default every score measure of the scenario at every
    endpoint time after 0 h; 'mean' is compared as its change, as the trial's rows)."""
    from .sensitivity import parse_endpoint
    from .trial import DEFAULT_ENDPOINTS, DEFAULT_MEASURES

    field = argument("endpoints", "--endpoint")
    if endpoints is None:
        ep = scenario.endpoints or DEFAULT_ENDPOINTS
        measures = []
        for m in (ep.measures or DEFAULT_MEASURES):
            m = "mean_change" if m == "mean" else m
            if m in MEASURES and m not in measures:
                measures.append(m)
        if not measures:
            raise InputError(f"endpoints.measures: the scenario reports no score measure to power a trial on "
                             f"(mean_change, response_rate, remission_rate); give {field}, e.g. mean_change@24h")
        times = [float(t) for t in ep.times_h if t > 0]
        if not times:
            raise InputError(f"endpoints.times: no endpoint time after 0 h; give {field}, e.g. mean_change@24h")
        return [_Endpoint(m, t) for m in measures for t in times]
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    if not isinstance(endpoints, (list, tuple)) or not all(isinstance(t, str) for t in endpoints):
        # endpoints=5 stopped with TypeError: 'int' object is not iterable
        raise InputError(f"{field}: expected comparisons as text, e.g. ['mean_change@24h', 'response_rate@24h'], "
                         f"got {type(endpoints).__name__} {str(endpoints)[:40]!r}")
    out = []
    for text in endpoints:
        harm = _harm_endpoint(text, field)
        if harm is not None:
            if harm not in out:
                out.append(harm)
            continue
        e = parse_endpoint(text)
        if e.measure not in MEASURES and e.measure != "mean":
            raise InputError(f"{field}: {e.measure}: power is computed for the score comparisons a trial tests "
                             f"({', '.join(MEASURES)}), at a time, e.g. response_rate@24h, and for the incidence "
                             f"endpoints ({', '.join(HARM_MEASURES)})")
        if e.time_h is None or e.time_h <= 0:
            raise InputError(f"{field}: {text!r}: the comparison needs a time after the first dose, e.g. "
                             f"{e.measure}@24h")
        end = _Endpoint("mean_change" if e.measure == "mean" else e.measure, float(e.time_h))
        if end not in out:
            out.append(end)
    if not out:
        raise InputError(f"{field}: give at least one, e.g. mean_change@24h")
    return out


def _with_times(scenario, times):
    """The scenario with ``times`` among its endpoint times (ratings are drawn at endpoint times only)."""
    from .trial import DEFAULT_ENDPOINTS

    ep = scenario.endpoints or DEFAULT_ENDPOINTS
    have = {round(t, 9) for t in ep.times_h}
    new = [t for t in times if t is not None and round(t, 9) not in have]
    if not new:
        return scenario
    return dataclasses.replace(scenario, endpoints=dataclasses.replace(
        ep, times_h=tuple(sorted({*ep.times_h, *new}))))


def _design_for(scenario, pairs, ratio: float, paired: bool):
    """(The scenario as the power analysis runs it, (each kept arm's index in the scenario, the scenario's number of
    arms)). A parallel trial keeps only the compared arms (the others cost simulation and change nothing; each kept
    arm keeps its random stream, so its patients are the full trial's). With unequal allocation participants are
    told the share of patients randomized to ketamine (``population.p_active``, the design expectancy), weighing
    every arm of the scenario 1 and the compared-with arm the allocation ratio, unless the scenario states it (in
    its file, or a value other than the equal-allocation default); at 1:1 that is the scenario's own value."""
    names = [a.name for a in scenario.arms]
    if paired:
        return scenario, (tuple(range(len(names))), len(names))
    keep = {x for pair in pairs for x in pair}
    positions = tuple(i for i, nm in enumerate(names) if nm in keep)
    arms = tuple(scenario.arms[i] for i in positions)
    spec = scenario.population
    ketamine = {a.name: any(x.drug.is_ketamine for x in a.administrations()) for a in scenario.arms}
    equal = sum(ketamine.values()) / len(names)
    stated = (((scenario.source or {}).get("population") or {}).get("p_active") is not None
              or not math.isclose(spec.p_active, equal))
    if ratio != 1.0 and not stated:
        weight = {nm: (ratio if nm == pairs[0][1] else 1.0) for nm in names}
        p_active = sum(w for nm, w in weight.items() if ketamine[nm]) / sum(weight.values())
        spec = dataclasses.replace(spec, p_active=float(p_active))
    return dataclasses.replace(scenario, arms=arms, population=spec), (positions, len(names))


def _check_sizes(sizes) -> tuple[int, ...]:
    from . import limits

    field = argument("sizes", "--sizes")
    if sizes is None:
        return DEFAULT_SIZES
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        sizes = [sizes]
    if isinstance(sizes, str):      # '20,40' was read character by character ('got str '2'')
        try:
            sizes = [float(x) for x in sizes.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"{field}: expected patients per arm, e.g. [20, 40, 60], got {sizes[:40]!r}") from None
    try:
        seq = list(sizes)
    except TypeError:
        raise InputError(f"{field}: expected patients per arm, e.g. 20,40,60") from None
    if not seq:
        raise InputError(f"{field}: give at least one size, e.g. 20,40,60")
    out = sorted({limits.check_int(s, field, lo=2, hi=MAX_SIZE) for s in seq})
    return tuple(out)


def _arms_compared(scenario, arm, versus) -> list[tuple[str, str]]:
    from .trial import _control_arm, comparator_arms

    names = [a.name for a in scenario.arms]
    if len(names) < 2:
        raise InputError("arms: a trial's power needs two arms to compare (this scenario has one)")
    for value, field in ((arm, argument("arm", "--arm")), (versus, argument("versus", "--versus"))):
        if value is not None and value not in names:
            raise InputError(f"{field}: no arm named {value!r}; arms: {', '.join(names)}")
    ctrl = versus or _control_arm(names, dict(scenario.design), comparator_arms(scenario))
    tested = [arm] if arm is not None else [n for n in names if n != ctrl]
    if arm is not None and arm == ctrl:
        raise InputError(f"{argument('arm', '--arm')}: {arm!r} is also the arm it is compared with; give "
                         f"{argument('versus', '--versus')} another arm")
    return [(a, ctrl) for a in tested]


def _pool_size(pool, sizes) -> int:
    from . import limits

    field = argument("pool", "--pool")
    if pool is None:
        return max(MIN_POOL, POOL_PER_PATIENT * max(sizes))
    pool = limits.check_size(pool, field)
    if pool < max(sizes):
        raise InputError(f"{field}: the pool ({pool:,} patients per arm) must hold at least the largest trial "
                         f"({max(sizes):,}); {POOL_PER_PATIENT}x it ({POOL_PER_PATIENT * max(sizes):,}) keeps the "
                         "pool's own error small")
    return pool


def _columns(outcome, time_h: float) -> int:
    j = np.flatnonzero(np.isclose(outcome.times_h, time_h, rtol=0, atol=1e-9))
    return int(j[0])


def pool_incidences(outcome, params, seed: int, position: int) -> dict:
    """Each pool patient's incidence of every event of :data:`HARM_MEASURES` (bool arrays by measure), drawn as
    ``ketasim trial`` draws them (:func:`ketasim.trial.side_effect_values`: a persistent susceptibility per patient
    and the sessions' exposure) from a stream of the arm's own, keyed by ``seed`` and the arm's ``position`` in the
    scenario: an arm's incidences do not depend on which other arms or endpoints are asked for. (The trial draws its
    arms' incidences from one stream in turn: the same model and probabilities, other random numbers.)"""
    from .trial import side_effect_values

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _INCIDENCE_TAG, int(position)]))
    vals = side_effect_values(outcome, rng, params)
    return {m: np.asarray(vals[m.removesuffix("_rate")], bool) for m in HARM_MEASURES}


def _pool_arrays(tr, pairs, eps, positions=None):
    """Per arm and endpoint: the arrays the tests read (change, baseline, response, remission, an event's
    incidence) for every patient of the pool. ``positions``: each arm's index in the scenario (default its order in
    the trial run)."""
    from .trial import _remission_threshold, _responders

    from .trial import DEFAULT_ENDPOINTS

    ep = tr.scenario.endpoints or DEFAULT_ENDPOINTS
    scale = tr.scenario.population.scale
    thr = _remission_threshold(ep, scale, required=any(e.measure == "remission_rate" for e in eps))
    out = {}
    names = [a.name for a in tr.scenario.arms]
    for name in {x for pair in pairs for x in pair}:
        o = tr.outcomes[name]
        base = np.asarray(o.baseline, float)
        if any(e.harm for e in eps):
            pos = (positions or {}).get(name, names.index(name))
            incidence = pool_incidences(o, tr.params, tr.seed, pos)
        for e in eps:
            if e.harm:
                out[name, e] = (incidence[e.measure], base)
                continue
            r = np.asarray(o.rating[:, _columns(o, e.time_h)], float)
            if e.measure == "mean_change":
                out[name, e] = (r - base, base)
            elif e.measure == "response_rate":
                out[name, e] = (_responders(r, np.asarray(o.response_reference, float), ep), base)
            else:
                out[name, e] = (r <= thr, base)
    return out


def _pool_effect(values_a, values_b, measure: str) -> float:
    """The pools' difference a - b (scale points, or percentage points for a rate)."""
    d = float(np.mean(values_a)) - float(np.mean(values_b))
    return d if measure == "mean_change" else 100.0 * d


def _normal_theory_power(arrays_a, arrays_b, measure: str, test: str, n_eff: float, alpha: float,
                         ratio: float = 1.0, margin: float = 0.0) -> float:
    """statsmodels' power of the pools' effect and spread for ``n_eff`` patients in the tested arm and ``ratio`` x
    as many in the other, counted as the replicates are: significant at two-sided ``alpha`` in the tested arm's
    favour (the one tail, at alpha / 2, of the signed effect: ~0 for an arm worse than its comparator); an
    incidence: more events in the arm. ``margin`` (the row's unit: scale points, percentage points) not 0: the
    one-sided test at alpha / 2 of H0: d <= -margin, d the difference in the tested direction (Welch, ANCOVA and
    paired: the t-test power of (d + margin) / SD; rates: Farrington & Manning's normal approximation with the
    restricted-MLE variance under H0, :func:`farrington_manning_power`). NaN where no closed form applies (the
    exact McNemar test)."""
    from statsmodels.stats.power import NormalIndPower, TTestIndPower, TTestPower
    from statsmodels.stats.proportion import proportion_effectsize

    import warnings

    (ya, xa), (yb, xb) = arrays_a, arrays_b
    if n_eff < 2 or test == "mcnemar":
        return float("nan")
    one_tail = {"alpha": alpha / 2.0, "alternative": "larger"}
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        if test == "paired":
            d = ya - yb
            sd = float(np.std(d, ddof=1))
            # a change: the arm's favour is a larger fall (d < 0)
            return float(TTestPower().power((-float(np.mean(d)) + margin) / sd, nobs=n_eff, **one_tail)) \
                if sd > 0 else float("nan")
        if measure == "mean_change":
            if test == "ancova":     # the adjusted difference and residual SD of the pools' own ANCOVA
                d, s2, _, _ = _ancova_fit(ya[None, :], yb[None, :], xa[None, :], xb[None, :],
                                          np.ones((1, ya.size), bool), np.ones((1, yb.size), bool))
                diff, sd = float(d[0]), math.sqrt(max(float(s2[0]), 0.0))
            else:
                # Welch's standard error sqrt(va/na + vb/nb) as TTestIndPower's sd x sqrt(1/na + 1/nb): at 1:1 the
                # pooled SD sqrt((va + vb)/2); at unequal allocation the smaller arm's variance weighs more (the
                # pooled SD made 2:1 with a more variable comparator 3-6 points too optimistic)
                diff = float(np.mean(ya) - np.mean(yb))
                va, vb = float(np.var(ya, ddof=1)), float(np.var(yb, ddof=1))
                sd = math.sqrt((va + vb / ratio) / (1.0 + 1.0 / ratio))
            return (float(TTestIndPower().power((-diff + margin) / sd, nobs1=n_eff, ratio=ratio, **one_tail))
                    if sd > 0 else float("nan"))
        pa, pb = float(np.mean(ya)), float(np.mean(yb))
        if margin:
            return farrington_manning_power(pa, pb, n_eff, ratio * n_eff, margin / 100.0, alpha)
        return float(NormalIndPower().power(proportion_effectsize(pa, pb), nobs1=n_eff, ratio=ratio, **one_tail))


def farrington_manning_power(pa: float, pb: float, na: float, nb: float, margin: float, alpha: float) -> float:
    """Normal-approximation power of the one-sided Farrington-Manning test at ``alpha`` / 2 of H0: pa - pb <=
    -``margin`` (proportions) when the true proportions are ``pa``, ``pb`` with ``na``, ``nb`` patients: Phi((pa -
    pb + margin - z sigma0) / sigma1), sigma0 from the restricted-MLE proportions under H0 at the true ones,
    sigma1 the unrestricted standard error (Farrington & Manning 1990, Stat Med 9:1447,
    doi:10.1002/sim.4780091208, eq. 6; statsmodels' ``normal_power_het``'s one tail)."""
    ta, tb = restricted_mle_proportions(np.array([pa]), np.array([pb]), np.array([float(na)]),
                                        np.array([float(nb)]), -margin)
    s0 = math.sqrt(float(ta[0] * (1 - ta[0])) / na + float(tb[0] * (1 - tb[0])) / nb)
    s1 = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    if s1 <= 0:
        return float("nan")
    z = stats.norm.isf(alpha / 2.0)
    return float(stats.norm.cdf((pa - pb + margin - z * s0) / s1))


def _replicate_power(arrays, pairs, eps, sizes, tests, replicates, alpha, dropout, paired, seed,
                     ratio: float = 1.0, index_of: dict | None = None, margins: dict | None = None,
                     only=None, multiplicity: str | None = None, family: dict | None = None) -> dict:
    """Power per (pair, endpoint, size): successes / replicates, drawing each arm's patients from its own stream
    (the draws of one size do not depend on which other sizes, endpoints or arms are asked for, nor on the
    chunking). An arm's pool is its patients in ``arrays`` (fewer than simulated when a pre-dose BP limit screened
    some out). The compared-with arm (``pairs[0][1]``) has ``versus_size(n, ratio)`` patients per replicate. An
    arm's streams are keyed by ``index_of[arm]`` (its index in the scenario; default its order here). ``margins``
    {endpoint: M (its unit)}: a non-zero M tests H0: d <= -M one-sided at alpha / 2 (d the difference in the
    endpoint's tested direction, :attr:`_Endpoint.sign`); 0 or absent: the two-sided test at alpha with the
    difference in that direction (the same decisions). ``only`` (pair, endpoint): analyse that one (the draws are
    the same). ``multiplicity`` ('bonferroni', 'holm'; not with ``only``): the family of every pair x endpoint is
    also tested per replicate at family-wise one-sided alpha / 2 on the one-sided p values (:func:`adjusted_rejections`;
    a two-sided p in the tested direction is halved): ``family`` is filled with the adjusted successes per (pair,
    endpoint, size), and per ('all', size) / ('any', size) the replicates rejecting every / at least one, per
    ('all_unadjusted', size) those rejecting every one at its own one-sided alpha / 2 (co-primary endpoints)."""
    names = list(dict.fromkeys(x for pair in pairs for x in pair))
    pools = {name: len(arrays[name, eps[0]][0]) for name in names}
    control = pairs[0][1]
    wins = {}
    for n in sizes:
        size_of = {name: versus_size(n, ratio) if name == control else n for name in names}
        chunk = max(1, _CHUNK_DRAWS // max(size_of.values()))
        streams = {}
        for i, name in enumerate(names):
            ss = np.random.SeedSequence([int(seed), _REPLICATE_TAG, int(n), (index_of or {}).get(name, i)])
            idx_ss, drop_ss = ss.spawn(2)
            streams[name] = (np.random.default_rng(idx_ss), np.random.default_rng(drop_ss))
        if paired:      # a crossover: the same patients in every period (one index and dropout stream for all)
            first = streams[names[0]]
            streams = {name: first for name in names}
        counts = {(pair, e): 0 for pair in pairs for e in eps}
        adjusted, every, some = dict.fromkeys(counts, 0), 0, 0
        every_unadjusted = 0
        done = 0
        while done < replicates:
            c = min(chunk, replicates - done)
            idx, mask = {}, {}
            family_p = []
            for name in (names[:1] if paired else names):
                rng_i, rng_d = streams[name]
                # floats scaled to indices: one 64-bit draw per patient, so the draws do not depend on the chunking
                pool, m = pools[name], size_of[name]
                idx[name] = np.minimum((rng_i.random((c, m)) * pool).astype(np.int64), pool - 1)
                mask[name] = rng_d.random((c, m)) >= dropout if dropout else np.ones((c, m), bool)
            if paired:
                idx = {name: idx[names[0]] for name in names}
                mask = {name: mask[names[0]] for name in names}
            for pair in pairs:
                a, b = pair
                for e in eps:
                    if only is not None and (pair, e) != only:
                        continue
                    (ya, xa), (yb, xb) = arrays[a, e], arrays[b, e]
                    ia, ib = idx[a], idx[b]
                    test = tests[e.measure]
                    margin = (margins or {}).get(e, 0.0)
                    if margin:
                        p1 = _margin_p(test, e, margin, ya, yb, xa, xb, ia, ib, mask[a], mask[b])
                        counts[pair, e] += int(np.sum(p1 < alpha / 2.0))
                        if multiplicity:
                            family_p.append(p1)
                        continue
                    if test == "welch":
                        diff, p = welch_test(ya[ia], yb[ib], mask[a], mask[b])
                    elif test == "ancova":
                        diff, p = ancova_test(ya[ia], yb[ib], xa[ia], xb[ib], mask[a], mask[b])
                    elif test == "paired":
                        diff, p = paired_t_test(ya[ia] - yb[ib], mask[a])
                    elif test == "z":
                        diff, p = proportion_z_test(ya[ia], yb[ib], mask[a], mask[b])
                    else:
                        diff, p = mcnemar_test(ya[ia], yb[ib], mask[a])
                    favours = diff < 0 if e.measure == "mean_change" else diff > 0
                    counts[pair, e] += int(np.sum((p < alpha) & favours))
                    if multiplicity:        # the one-sided p in the tested direction
                        family_p.append(np.where(favours, p / 2.0, 1.0 - p / 2.0))
            if multiplicity:
                rejected = adjusted_rejections(np.vstack(family_p), alpha / 2.0, multiplicity)
                for j, key in enumerate(counts):
                    adjusted[key] += int(rejected[j].sum())
                every += int(rejected.all(axis=0).sum())
                some += int(rejected.any(axis=0).sum())
                # co-primary (intersection-union): each at its own level, no adjustment (NaN p: not rejected)
                every_unadjusted += int((np.vstack(family_p) < alpha / 2.0).all(axis=0).sum())
            done += c
        for key, k in counts.items():
            if only is None or key == only:
                wins[(*key, n)] = k
        if multiplicity:
            family.update({(*key, n): k for key, k in adjusted.items()})
            family["all", n], family["any", n] = every, some
            family["all_unadjusted", n] = every_unadjusted
    return wins


def _margin_p(test, e, margin, ya, yb, xa, xb, ia, ib, ma, mb):
    """Per replicate: the one-sided p of H0: d <= -margin (see :func:`_replicate_power`; rejected below alpha / 2);
    rates by the Farrington-Manning score test (margin in percentage points)."""
    if test == "welch":
        diff, se2, df = _welch_parts(ya[ia], yb[ib], ma, mb)
        return one_sided_p(diff, np.sqrt(se2), df, e.sign, margin)
    if test == "ancova":
        diff, s2, factor, df = _ancova_fit(ya[ia], yb[ib], xa[ia], xb[ib], ma, mb)
        with np.errstate(invalid="ignore"):
            return one_sided_p(diff, np.sqrt(s2 * factor), df, e.sign, margin)
    if test == "paired":
        x, v, k, _ = _mean_var(ya[ia] - yb[ib], ma)
        with np.errstate(invalid="ignore", divide="ignore"):
            return one_sided_p(x, np.sqrt(v / k), k - 1, e.sign, margin)
    if test == "z":
        return _proportion_margin_p(ya[ia], yb[ib], ma, mb, e.sign, margin / 100.0)[1]
    raise InputError(f"margin: no margin test for {TEST_NAMES[test]}")     # refused earlier (_margins)


#: Multiplicity adjustments over the family of a run's comparisons x endpoints (``multiplicity``).
MULTIPLICITY = ("bonferroni", "holm")


def adjusted_rejections(p: np.ndarray, level: float, method: str) -> np.ndarray:
    """Which hypotheses each replicate rejects (bool, the shape of ``p``: hypotheses x replicates) from their
    one-sided p values at family-wise ``level``: Bonferroni (p < level / K) or Holm's step-down (the i-th smallest
    p, i = 1..K, against level / (K - i + 1), stopping at the first that misses; Holm 1979, Scand J Stat 6:65). NaN
    p values count as 1."""
    p = np.where(np.isnan(p), 1.0, p)
    k = p.shape[0]
    if method == "bonferroni":
        return p < level / k
    order = np.argsort(p, axis=0, kind="stable")
    ranked = np.take_along_axis(p, order, axis=0)
    passes = ranked < (level / (k - np.arange(k)))[:, None]
    kept = np.cumprod(passes, axis=0).astype(bool)
    out = np.zeros_like(kept)
    np.put_along_axis(out, order, kept, axis=0)
    return out


def _margins(margin, eps, paired: bool) -> dict:
    """{endpoint: margin in its unit} from ``margin``: None or 0 (none), one number for every endpoint asked for
    (they must share a unit: scale points for changes, percentage points for rates and incidences), or per endpoint
    ('mean_change@24h=2', a list of them, or a mapping). Convention: H0: d <= -M with d the difference in the tested
    direction (versus - arm for a change, arm - versus for a rate or an incidence); M > 0 non-inferiority, M < 0
    superiority by ``|M|`` (an incidence: an excess of more than ``|M|`` percentage points), 0 the plain test."""
    field = argument("margin", "--margin")
    if margin is None:
        return {}
    by_text = {e.text: e for e in eps}

    def value(v, where):
        if isinstance(v, bool):
            raise InputError(f"{field}: {where}expected a number, got {v!r}")
        try:
            x = float(str(v).strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            x = float("nan")
        if not math.isfinite(x) or abs(x) >= 100:
            raise InputError(f"{field}: {where}expected a number between -100 and 100 (scale points for a change, "
                             f"percentage points for a rate), got {v!r}")
        return x

    def endpoint(text):
        harm = _harm_endpoint(text, field)
        if harm is None:
            from .sensitivity import parse_endpoint

            from .errors import UnitError

            try:
                spec = parse_endpoint(text)
            except UnitError as e:      # its time's unit: said "'mean_change@24H' is not an endpoint asked for"
                raise InputError(f"{field}: {str(text).strip()!r}: {str(e).split(': ', 1)[-1]}") from None
            except InputError:
                spec = None
            harm = (None if spec is None or spec.time_h is None else
                    _Endpoint("mean_change" if spec.measure == "mean" else spec.measure, float(spec.time_h)))
        if harm is None or harm not in eps:
            raise InputError(f"{field}: {str(text).strip()!r} is not an endpoint asked for ({', '.join(by_text)})")
        return harm

    out = {}
    if isinstance(margin, dict):
        items = list(margin.items())
    elif isinstance(margin, (list, tuple)) or (isinstance(margin, str) and "=" in margin):
        items = []
        for part in ([margin] if isinstance(margin, str) else margin):
            for piece in str(part).split(","):
                name, eq, v = piece.partition("=")
                if not eq:
                    raise InputError(f"{field}: per endpoint, write ENDPOINT=M, e.g. mean_change@24h=2, got "
                                     f"{piece.strip()!r}")
                items.append((name.strip(), v))
    else:
        m = value(margin, "")
        if m and len({e.measure == "mean_change" for e in eps}) > 1:
            raise InputError(f"{field}: the endpoints asked for mix scale points (a change) and percentage points (a "
                             "rate); give one margin per endpoint, e.g. mean_change@24h=2,response_rate@24h=10")
        items = [(e, m) for e in eps]
    for name, v in items:
        e = name if isinstance(name, _Endpoint) else endpoint(name)
        m = value(v, f"{e.text}: ")
        if e in out and out[e] != m:       # the last one silently won ('mean_change@24h=2,mean_change@1d=-3')
            raise InputError(f"{field}: {e.text}: two margins given ({out[e]:g} and {m:g}); give one per endpoint")
        out[e] = m
    for e, m in out.items():
        if m and paired and e.measure != "mean_change":
            raise InputError(f"{field}: {e.text}: a crossover's rates are tested by the exact McNemar test, which has "
                             "no margin here; give a margin for a mean_change endpoint only")
        if m > 0 and e.harm:
            raise InputError(f"{field}: {e.text}: an incidence is tested for harm (more events in the arm); its "
                             f"margin is <= 0 (power to show an excess of more than |M| percentage points), got {m:g}")
    return {e: m for e, m in out.items() if m}


def hypothesis_text(e, margin: float) -> str:
    """The CSV's ``hypothesis`` of an endpoint tested with ``margin``."""
    if e.harm:
        return "harm by a margin" if margin else "harm"
    return "non-inferiority" if margin > 0 else "superiority by a margin" if margin < 0 else "superiority"


def margin_words(margin: float, unit: str, harm: bool = False) -> str:
    """The null hypothesis of a margin in words with its unit (the dashboard's notice): M > 0 'the arm is worse by M
    or more (non-inferiority)', M < 0 'the arm is better by |M| or less (superiority by more than |M|)', an
    incidence 'the excess in the arm is |M| or less (harm by more than |M|)'; '' for 0."""
    if not margin:
        return ""
    m = f"{abs(margin):g} {unit}"
    if harm:
        return f"H0: the excess of patients with the event in the arm is {m} or less (harm by more than {m})"
    if margin > 0:
        return f"H0: the arm is worse than the comparator by {m} or more (non-inferiority)"
    return f"H0: the arm is better than the comparator by {m} or less (superiority by more than {m})"


def versus_size(n: int, ratio: float) -> int:
    """Patients in the compared-with arm of a replicate whose tested arm has ``n`` (allocation ``ratio`` = versus /
    tested; at least 2)."""
    return max(2, int(round(n * ratio)))


def parse_allocation(text) -> float:
    """'2:1' (tested arm : compared-with arm, as trials write it) -> the ratio versus / tested (0.5); 1:1 -> 1."""
    field = argument("allocation", "--allocation")
    a, sep, b = str(text).partition(":")
    try:
        x, y = float(a), float(b)
    except ValueError:
        x = y = float("nan")
    if not sep or not (math.isfinite(x) and math.isfinite(y)) or x <= 0 or y <= 0 or not 0.1 <= y / x <= 10:
        raise InputError(f"{field}: expected tested:compared-with patients, e.g. 1:1 or 2:1 (ratios 1:10 to 10:1), "
                         f"got {text!r}")
    return y / x


def _fraction(value, field: str, *, lo: float, hi: float) -> float:
    """:func:`ketasim.limits.check_real`, saying when a percentage was given for a fraction ('--target 80' said only
    'must lie in [0.05, 0.999], got 80')."""
    from . import limits

    try:
        return limits.check_real(value, field, lo=lo, hi=hi)
    except InputError as err:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 < value <= 100:
            raise InputError(f"{err} (a fraction: {value:g} % is {value / 100:g})") from None
        raise


def _tests_for(test: str, paired: bool) -> dict:
    rate = "mcnemar" if paired else "z"
    return {"mean_change": "paired" if paired else test, **{m: rate for m in ("response_rate", "remission_rate",
                                                                               *HARM_MEASURES)}}


def run_power(scenario, *, sizes=None, endpoints=None, arm: str | None = None, versus: str | None = None,
              test: str = "welch", replicates: int = DEFAULT_REPLICATES, alpha: float = 0.05,
              target: float = 0.80, pool: int | None = None, dropout: float = 0.0, seed: int | None = None,
              uncertainty: int = 0, between_trial: bool = True, draw_seed: int = 0, allocation: str = "1:1",
              margin=None, max_size: int | None = None, multiplicity: str | None = None,
              params: ParameterSet | None = None, progress=None, chunk: int = 10000, log=None) -> PowerResult:
    """Power of the trial ``scenario`` (parallel or crossover) for each size in ``sizes`` (patients per arm; default
    :data:`DEFAULT_SIZES`) on each comparison of ``arm`` (default every arm but the control) against ``versus``
    (default the trial's control arm) at each endpoint (``'mean_change@24h'``, ``'response_rate@7d'``, ...; default
    every score measure of the scenario at its endpoint times; an incidence ``'nausea_rate'``, ... of
    :data:`HARM_MEASURES`: power to detect harm, more patients with the event in the arm). ``replicates`` trials per
    size drawn from pools of ``pool`` virtual patients per arm (default max(2000, 10 x the largest arm of a
    replicate trial: at an allocation such as 1:3 the compared-with arm's)); ``test`` 'welch' or 'ancova' for the
    change (parallel arms); two-sided ``alpha``; ``target`` power for the sample size; ``dropout`` share of patients
    missing at random; ``allocation`` 'A:B' patients in the tested arm to the compared-with arm (e.g. '2:1';
    ``sizes`` are the tested arm's). ``margin`` (the endpoint's unit: scale points
    for a change, percentage points for a rate; one number, or per endpoint 'mean_change@24h=2' or a mapping):
    the share of replicates whose one-sided test at alpha / 2 rejects H0: d <= -M, d the difference in the tested
    direction (versus - arm for a change, arm - versus for a rate or incidence): M > 0 non-inferiority, M < 0
    superiority by ``|M|``, 0 the plain test (the same decisions as without). ``sizes='auto'``: per comparison x
    endpoint, the smallest size reaching ``target`` by a bounded search (bracketing by doubling or halving from the
    normal-theory size, then bisection on integer sizes up to ``max_size``, default :data:`DEFAULT_MAX_SIZE`; each
    size evaluated with the replicate streams a list of sizes uses, so its row is the same); the rows are the sizes
    evaluated. ``multiplicity`` 'bonferroni' or 'holm' (a list of sizes): every comparison x endpoint of the run is
    one family, tested per replicate at family-wise two-sided ``alpha`` (one-sided alpha / 2 in the tested direction,
    with the margins); the rows add each endpoint's adjusted power and the family's power that all / any are
    significant (the central pools). ``uncertainty`` K > 0: the assurance over K posterior draws (see the module)."""
    from . import limits
    from .trial import _run_trial, _uncertainty_draws, draw_trial_seed, whole_design_draws

    limits.check_scenario_arg(scenario)
    if params is not None and not isinstance(params, ParameterSet):
        raise InputError(f"params: expected a ParameterSet (ketasim.load_parameters()), got {type(params).__name__}")
    params = params or load_parameters()
    if progress is not None and not callable(progress):
        raise InputError(f"progress: expected a function of the completed fraction, got {type(progress).__name__}")
    if log is not None and not callable(log):
        raise InputError(f"log: expected a function of one line of text, got {type(log).__name__}")
    chunk = limits.check_int(chunk, "chunk", lo=1, hi=limits.MAX_PATIENTS)
    kind = dict(scenario.design).get("type", "parallel")
    if kind not in ("parallel", "crossover") or whole_design_draws(scenario):
        raise InputError("design.type: power by replicate trials is computed for parallel and crossover trials (a "
                         "randomized withdrawal's or follow-up's relapse rows need the whole design per replicate: "
                         "ketasim trial --uncertainty)")
    paired = kind == "crossover"
    search = isinstance(sizes, str) and sizes.strip().lower() == "auto"
    ms_field = argument("max_size", "--max-size")
    if search:
        max_size = limits.check_int(DEFAULT_MAX_SIZE if max_size is None else max_size, ms_field, lo=2,
                                    hi=MAX_SIZE)
        sizes = (max_size,)        # the pool's size is set by the largest size the search may evaluate
    else:
        if max_size is not None:
            raise InputError(f"{ms_field}: bounds the search of {argument('sizes', '--sizes')} auto; with a list "
                             "of sizes give the sizes")
        sizes = _check_sizes(sizes)
    eps = _endpoints(scenario, endpoints)
    if paired and any(e.harm for e in eps):     # review R3-2: McNemar's pairing would have no concordance to use
        raise InputError(f"{argument('endpoints', '--endpoint')}: {next(e.text for e in eps if e.harm)}: a "
                         "crossover's periods draw independent susceptibilities, so the paired test of an incidence "
                         "would be biased; run the parallel design for incidence endpoints")
    pairs = _arms_compared(scenario, arm, versus)
    test = limits.check_choice(test, argument("test", "--test"), TESTS)
    if test == "ancova" and not any(e.measure == "mean_change" for e in eps):
        raise InputError(f"{argument('test', '--test')}: ancova analyses the change from baseline; no mean_change "
                         "endpoint is asked for (rates use the two-proportion z-test)")
    if paired and test == "ancova":
        raise InputError(f"{argument('test', '--test')}: a crossover compares the same patients (paired t-test); "
                         "ancova is for parallel arms")
    margins = _margins(margin, eps, paired)
    small = [f"{e.text} {m:g}" for e, m in margins.items() if e.measure != "mean_change" and abs(m) < 1]
    if small and log is not None:       # statsmodels and many texts give a rate's margin as a proportion (0.1)
        log(f"ketasim: {argument('margin', '--margin')} {', '.join(small)}: a rate's margin is in percentage points "
            "(10 % is 10, not 0.1); running with the margin as given")
    mult_field = argument("multiplicity", "--multiplicity")
    if multiplicity is not None:
        multiplicity = limits.check_choice(multiplicity, mult_field, MULTIPLICITY)
        if search:
            raise InputError(f"{mult_field}: the family is tested at each size of a list; "
                             f"{argument('sizes', '--sizes')} auto searches each endpoint on its own sizes: give a "
                             "list of sizes")
        harm = [e.text for e in eps if e.harm]
        if harm and len(harm) < len(eps) and log is not None:
            # one family of benefit and harm: its power_all asks a trial to show both (H9, s43); said, not refused
            log(f"ketasim: {mult_field}: the family mixes efficacy endpoints "
                f"({', '.join(e.text for e in eps if not e.harm)}) and harm endpoints ({', '.join(harm)}): "
                f"'all significant' then includes showing the harm; run each kind with its own {mult_field} to "
                "size them apart")
    replicates = limits.check_int(replicates, argument("replicates", "--replicates"), lo=100, hi=MAX_REPLICATES)
    alpha = _fraction(alpha, argument("alpha", "--alpha"), lo=1e-6, hi=0.5)
    target = _fraction(target, argument("target", "--target"), lo=0.05, hi=0.999)
    dropout = _fraction(dropout, argument("dropout", "--dropout"), lo=0.0, hi=0.9)
    ratio = parse_allocation(allocation)
    if paired and ratio != 1.0:
        raise InputError(f"{argument('allocation', '--allocation')}: a crossover gives every patient every arm "
                         "(1:1 only)")
    seed = scenario.seed if seed is None else limits.check_seed(seed, argument("seed", "--seed"))
    u_field = argument("uncertainty", "--uncertainty")
    uncertainty = limits.check_int(uncertainty, u_field, lo=0, hi=limits.MAX_UNCERTAINTY)
    from .trial import check_uncertainty_options

    # one rule with run_trial and qualify_external: between_trial / draw_seed only with draws, and checked
    between_trial, draw_seed = check_uncertainty_options(uncertainty, between_trial, draw_seed, log)
    capped = None
    if search and pool is None:
        largest = max(max(sizes), versus_size(max(sizes), ratio))
        if max(MIN_POOL, POOL_PER_PATIENT * largest) > SEARCH_POOL_CAP:
            pool, capped = max(SEARCH_POOL_CAP, largest), POOL_PER_PATIENT * largest
    if capped is not None and log is not None:
        log(f"ketasim: {argument('pool', '--pool')}: a search up to {max(sizes):,} draws from pools of {pool:,} "
            f"patients per arm ({POOL_PER_PATIENT}x its largest arm, {capped:,}, is capped for memory and time); "
            f"give {argument('pool', '--pool')} to set it")
    pool, sc, est, positions = _pool_setup(scenario, sizes, eps, pairs, ratio, paired, pool)
    draws = None
    if uncertainty:
        uncertainty = limits.check_uncertainty_draws(uncertainty, u_field, none="no assurance")
        limits.check_repeated(est, uncertainty + 1, u_field, what=f"{uncertainty} draws x pools of {pool:,} "
                              "patients per arm", fewer="fewer draws or a smaller --pool")
        draws = _uncertainty_draws(sc, params, uncertainty, between_trial, draw_seed, log, size=pool)
    tests = _tests_for(test, paired)
    # the replicate analyses' own work: patient draws x comparisons (~1e7 per second on one core); a search
    # evaluates at most search_evaluations(max_size) sizes per comparison, none above max_size
    per_replicate = (search_evaluations(max(sizes)) * (max(sizes) + versus_size(max(sizes), ratio)) if search else
                     sum(n + versus_size(n, ratio) for n in sizes))
    draws_total = replicates * per_replicate * len(pairs) * len(eps) * (1 + uncertainty)
    if draws_total / _DRAWS_PER_S > limits.time_budget():
        what = (f"a search up to {max(sizes):,} {'patients' if paired else 'per arm'} "      # a crossover's: patients
                f"({search_evaluations(max(sizes))} sizes at most)" if search
                else f"sizes up to {max(sizes):,}")
        raise InputError(f"{argument('replicates', '--replicates')}: {replicates:,} replicates of {what} on "
                         f"{len(pairs) * len(eps)} comparisons would compute for "
                         f"~{limits.fmt_seconds(draws_total / _DRAWS_PER_S)}, more than the "
                         f"{limits.fmt_seconds(limits.time_budget())} allowed (KETASIM_MAX_SECONDS); use fewer "
                         "replicates, " + (f"a smaller {ms_field}" if search else "sizes") + " or endpoints")
    index_of = {a.name: i for a, i in zip(sc.arms, positions[0])}

    def pool_arrays(pset, trial_seed, progress=None):
        tr = _run_trial(sc, pset, pool, trial_seed, progress, chunk, None, None, rows_only=True,
                        arm_positions=positions, size_field=argument("pool", "--pool"))
        return _pool_arrays(tr, pairs, eps, index_of), tr

    pools = 1 + (len(draws["sets"]) if draws is not None else 0)

    def share(i):
        """The progress of pool i of all pools (the central one and each draw's) as a fraction of the whole run."""
        return None if progress is None else (lambda f: progress((i + f) / pools))

    arrays, central = pool_arrays(params, seed, share(0))
    from .engine import warn_cumulative_anesthetic

    warn_cumulative_anesthetic(sc, params)      # doses adding up to the anesthetic range warn, as run_trial's
    # (arrays, the seed of its replicate streams) per pool: the central one, then each posterior draw's
    stages = [(arrays, seed)]
    if draws is not None:
        for i, pset in enumerate(draws["sets"]):
            trial_seed = draw_trial_seed(seed, draws["info"]["draw_seed"], i)
            stages.append((pool_arrays(pset, trial_seed, share(i + 1))[0], trial_seed))

    def replicate_wins(arr, trial_seed, sizes_, only=None, family=None):
        return _replicate_power(arr, pairs, eps, sizes_, tests, replicates, alpha, dropout, paired, trial_seed,
                                ratio, index_of, margins, only, multiplicity if family is not None else None, family)

    steps = {}          # search: (pair, endpoint) -> [sizes in the order evaluated]
    if search:
        wins, per_draw = {}, [{} for _ in stages[1:]]
        for pair in pairs:
            for e in eps:
                def evaluate(n, pair=pair, e=e):
                    out = [replicate_wins(arr, ts, (n,), (pair, e)) for arr, ts in stages]
                    wins.update(out[0])
                    for d, w in zip(per_draw, out[1:]):
                        d.update(w)
                    k = [w[(pair, e, n)] / replicates for w in out]
                    return float(np.mean(k[1:])) if len(k) > 1 else k[0]

                n0 = _search_start(arrays[pair[0], e], arrays[pair[1], e], e, tests[e.measure], alpha, ratio,
                                   dropout, margins.get(e, 0.0), target, max(sizes))
                steps[pair, e] = search_size(evaluate, n0, max(sizes), target)
        evaluated = max(max(s) for s in steps.values())
        if capped is not None and log is not None and evaluated * POOL_PER_PATIENT > pool:
            log(f"ketasim: {argument('pool', '--pool')}: the search evaluated sizes up to {evaluated:,}, more than a "
                f"tenth of the pool ({pool:,} per arm): the pool's own error is then not small against a trial's; "
                f"rerun with {argument('pool', '--pool')} {min(POOL_PER_PATIENT * evaluated, limits.MAX_PATIENTS):,} "
                "(or a list of sizes) to confirm")
    family: dict = {}
    if not search:
        wins = replicate_wins(arrays, seed, sizes, family=family if multiplicity else None)
        per_draw = [replicate_wins(arr, ts, sizes) for arr, ts in stages[1:]]
    from .trial import measure_unit, wilson_ci

    rows = []
    for pair in pairs:
        a, b = pair
        for e in eps:
            eff = _pool_effect(arrays[a, e][0], arrays[b, e][0], e.measure)
            m = margins.get(e, 0.0)
            order = steps.get((pair, e))
            for n in (sorted(order) if search else sizes):
                k = wins[(pair, e, n)]
                lo, hi = wilson_ci(k, replicates)
                n_eff = n * (1.0 - dropout)
                row = {"arm": a, "versus": b, "time_h": e.time_h, "measure": e.measure, "test": tests[e.measure],
                       "n_per_arm": int(n), "n_versus": versus_size(n, ratio), "analysed_per_arm": n_eff,
                       "effect": eff,
                       "unit": measure_unit(e.measure + "_difference", sc.population.scale),
                       "power": k / replicates, "power_ci95_low": lo / 100.0, "power_ci95_high": hi / 100.0,
                       "normal_theory_power": _normal_theory_power(arrays[a, e], arrays[b, e], e.measure,
                                                                   tests[e.measure], n_eff, alpha,
                                                                   versus_size(n, ratio) / n, m),
                       "assurance": float("nan"), "power_p05": float("nan"), "power_p95": float("nan"),
                       "margin": m, "hypothesis": hypothesis_text(e, m),
                       "search_step": order.index(n) + 1 if search else float("nan"),
                       "multiplicity": f"{multiplicity} over {len(pairs) * len(eps)}" if multiplicity else "",
                       "power_adjusted": family[(pair, e, n)] / replicates if multiplicity else float("nan"),
                       "power_all": family["all", n] / replicates if multiplicity else float("nan"),
                       "power_any": family["any", n] / replicates if multiplicity else float("nan"),
                       "power_all_unadjusted": (family["all_unadjusted", n] / replicates if multiplicity
                                                else float("nan"))}
                if per_draw:
                    pw = np.array([w[(pair, e, n)] / replicates for w in per_draw])
                    row.update(assurance=float(pw.mean()), power_p05=float(np.percentile(pw, 5)),
                               power_p95=float(np.percentile(pw, 95)))
                rows.append(row)
    prov = _provenance(sc, params, seed, pool, replicates, alpha, target, dropout, test, paired, sizes, eps, pairs)
    prov["allocation"] = str(allocation).strip()
    prov["p_active"] = float(sc.population.p_active)       # the chance of active drug participants are told
    if margins:
        prov["margins"] = {e.text: m for e, m in margins.items()}
        prov["sided"] = ("two-sided in the arm's favour where no margin is given; with a margin one-sided at alpha/2: "
                         + MARGIN_CONVENTION)
    if any(e.harm for e in eps):
        prov["incidence"] = INCIDENCE_NOTE
        # the tested direction of an incidence is harm, not the arm's favour (the sentence said only the latter)
        prov["sided"] = (HARM_SIDED if all(e.harm for e in eps) else
                         prov["sided"] + "; an incidence (harm): " + HARM_SIDED.removeprefix("two-sided, "))
    if multiplicity:
        prov["multiplicity"] = {"method": multiplicity, "family": [f"{a} vs {b}: {e.text}" for a, b in pairs
                                                                   for e in eps],
                                "level": f"family-wise one-sided {alpha / 2:g} (two-sided {alpha:g}) per replicate",
                                "rule": MULTIPLICITY_RULE}
    if search:
        prov["sizes"] = "auto"
        prov["search"] = {"max_size": int(max(sizes)), "rule": SEARCH_RULE,
                          "evaluated": {f"{a} vs {b}: {e.text}": [int(n) for n in order]
                                        for ((a, b), e), order in steps.items()}}
    if draws is not None:
        prov.update(uncertainty=uncertainty, between_trial=bool(draws["info"]["between_trial"]), draw_pool=pool,
                    draw_seed=draws["info"]["draw_seed"], posterior=draws["info"].get("posterior"),
                    tau_source=draws["info"].get("tau_source"))
    note = central.design_note()
    if note:
        prov["design_note"] = note
    if paired and dict(sc.design).get("period_interval") is not None:
        prov["resampling_note"] = ("a replicate draws patients at random, not balanced over the sequences of the "
                                   "periods")
    return PowerResult(rows, prov)


#: The margin's convention, in words (the provenance and the docs).
MARGIN_CONVENTION = ("H0: d <= -M, d the difference in the tested direction (versus - arm for a change, arm - versus "
                     "for a rate or an incidence), M in the endpoint's unit; M > 0 non-inferiority, M < 0 superiority "
                     "by |M|; rates by the Farrington-Manning score test")
#: The tested direction of an incidence endpoint (the provenance's ``sided``).
HARM_SIDED = "two-sided, more patients with the event in the tested arm (harm)"
INCIDENCE_NOTE = ("incidence endpoints (any event over the period, per patient) are tested for harm: the share of "
                  "replicates significant with more patients with the event in the tested arm; each arm's incidences "
                  "are drawn from a stream of its own (the trial's model and probabilities)")
MULTIPLICITY_RULE = ("each replicate tests every comparison x endpoint of the run on its one-sided p in the tested "
                     "direction (a two-sided p halved; with a margin the margin test's): Bonferroni at level / K, Holm "
                     "step-down (the i-th smallest p against level / (K - i + 1)); power_adjusted: this hypothesis "
                     "rejected; power_all: every one; power_any: at least one; power_all_unadjusted: every one at "
                     "its own one-sided level, no adjustment (co-primary endpoints, an intersection-union test) "
                     "(central pools, not averaged over posterior draws)")
SEARCH_RULE = ("start at the normal-theory size (20 without one, max_size if it is not reached there); step up (or "
               "down) by a factor 1.25, squared each step, until the target is reached (or missed); bisect on integer "
               "sizes; the smallest size evaluated that reaches the target")


#: The search's first bracketing step from its start (a factor of 1.25; each further step squares the factor).
SEARCH_STEP = 1.25


def search_evaluations(max_size: int) -> int:
    """The most sizes :func:`search_size` evaluates for sizes in [2, ``max_size``] (the compute bound's count): the
    start, the bracketing steps (the factor squared each step: log2(ln(max_size/2) / ln 1.25 + 1) steps cover
    [2, max_size] from anywhere in it) and the bisection (log2 of the bracket's width)."""
    m = max(int(max_size), 2)
    steps = math.ceil(math.log2(math.log(max(m / 2, 1.0)) / math.log(SEARCH_STEP) + 1)) + 1
    return 1 + steps + math.ceil(math.log2(m))


def search_size(evaluate, start: int, max_size: int, target: float) -> list:
    """The sizes evaluated (in order) in the search for the smallest size n in [2, ``max_size``] with ``evaluate(n)
    >= target``. Bracketing from ``start``: up while the target is missed (n x 1.25, then x 1.25^2, x 1.25^4, ...:
    a good start costs few steps, a poor one few more; the search ends at ``max_size`` if it misses there), down
    while it is reached (n / the same factors; 2 at least); then bisection on integers between the largest size
    that missed and the smallest that reached it. Each size is evaluated once; ``evaluate`` need not be monotone
    (Monte Carlo power): the answer is a size that reaches the target whose next smaller evaluated neighbour in the
    bracket misses it."""
    seen: dict = {}

    def f(n):
        if n not in seen:
            seen[n] = evaluate(n) >= target
        return seen[n]

    max_size = int(max_size)
    n = min(max(int(start), 2), max_size)
    lo = hi = None
    factor = SEARCH_STEP
    if f(n):
        hi = n
        while hi > 2:
            m = max(2, min(hi - 1, math.floor(hi / factor)))
            if f(m):
                hi = m
                factor *= factor
            else:
                lo = m
                break
    else:
        lo = n
        while lo < max_size:
            m = min(max_size, max(lo + 1, math.ceil(lo * factor)))
            if f(m):
                hi = m
                break
            lo = m
            factor *= factor
    if lo is not None and hi is not None:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if f(mid):
                hi = mid
            else:
                lo = mid
    return list(seen)


def _search_start(arrays_a, arrays_b, e, test, alpha, ratio, dropout, margin, target, max_size) -> int:
    """The normal-theory size reaching ``target`` (:func:`_normal_theory_power` on the pools, bisected on integers):
    the search's start; 20 where there is no closed form, ``max_size`` where it is not reached there."""
    def power(n):
        return _normal_theory_power(arrays_a, arrays_b, e.measure, test, n * (1.0 - dropout), alpha,
                                    versus_size(n, ratio) / n, margin)

    top = power(max_size)
    if not math.isfinite(top):
        return min(20, max_size)
    if top < target:
        return max_size
    lo, hi = 2, max_size
    if power(lo) >= target:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power(mid) >= target else (mid, hi)
    return hi


def _pool_setup(scenario, sizes, eps, pairs, ratio: float, paired: bool, pool):
    """(patients per arm in the pool, the scenario the pools run, :func:`ketasim.limits.estimate_scenario_run` of
    simulating them, the kept arms' positions (:func:`_design_for`)): one rule for :func:`run_power` and
    :func:`pool_run_estimate`."""
    from . import limits
    from .trial import _trial_grid, check_trial_size

    pool = _pool_size(pool, [*sizes, *(versus_size(n, ratio) for n in sizes)])
    sc, positions = _design_for(_with_times(scenario, sorted({e.time_h for e in eps if e.time_h is not None})),
                                pairs, ratio, paired)
    check_trial_size(sc, pool, argument("pool", "--pool"))
    times, _, _, _, band_times = _trial_grid(sc)
    return pool, sc, limits.estimate_scenario_run(sc, pool, np.unique(np.concatenate([times, band_times])),
                                                  tables=False), positions


def pool_run_estimate(scenario, *, sizes=None, endpoints=None, pool=None, arm: str | None = None,
                      versus: str | None = None, allocation: str = "1:1"):
    """(patients per arm in the pool, :func:`ketasim.limits.estimate_scenario_run` of simulating the pools) for the
    run :func:`run_power` makes with these arguments (the central pools; each posterior draw repeats it): for callers
    that bound the work before running it (the dashboard). The arguments are checked as :func:`run_power` checks
    them."""
    from . import limits

    limits.check_scenario_arg(scenario)
    paired = dict(scenario.design).get("type", "parallel") == "crossover"
    pool, _, est, _ = _pool_setup(scenario, _check_sizes(sizes), _endpoints(scenario, endpoints),
                               _arms_compared(scenario, arm, versus), parse_allocation(allocation), paired, pool)
    return pool, est


def _provenance(scenario, params, seed, pool, replicates, alpha, target, dropout, test, paired, sizes, eps,
                pairs) -> dict:
    from .model import model_id
    from .result import ketasim_version, scenario_definition
    from .vocabulary import NOTICE

    return {"analysis": "power by replicate virtual trials (patients drawn from simulated pools per arm)",
            "scenario": scenario.name, "design": "crossover" if paired else "parallel",
            "comparisons": [f"{a} vs {b}" for a, b in pairs],
            "endpoints": [e.text for e in eps], "sizes": [int(n) for n in sizes],
            "replicates": int(replicates), "alpha": float(alpha), "sided": "two-sided, difference in the arm's favour",
            "target_power": float(target), "dropout": float(dropout),
            "tests": {"mean_change": "paired t" if paired else TEST_NAMES[test],
                      "rates": TEST_NAMES["mcnemar" if paired else "z"]},
            "pool": int(pool), "seed": int(seed), "uncertainty": 0,
            "ketasim_version": ketasim_version(), "parameter_set": params.version,
            "calibration_run": params.calibration_run, "model": model_id(),
            "definition": scenario_definition(getattr(scenario, "source", None)), "notice": NOTICE}

def size_axis_label(allocation: str = "1:1", design: str = "parallel") -> str:
    """The size axis of a power curve: 'patients per arm', or at unequal allocation the tested arm's patients (the
    sizes are the tested arm's; the other arm has the ratio's share); a crossover's patients each have every arm
    (the size is the trial's patients, not per arm)."""
    if design == "crossover":
        return CROSSOVER_SIZE
    try:
        equal = math.isclose(parse_allocation(allocation or "1:1"), 1.0)
    except InputError:
        equal = True
    return "patients per arm" if equal else f"patients in the tested arm (allocation {str(allocation).strip()})"


#: A crossover's size: its patients, each in every period (n patients in all, not n per arm).
CROSSOVER_SIZE = "patients (crossover: each in every period)"


def curve_label(row) -> str:
    """A curve's name in figures: 'ketamine vs midazolam: change 24 h (Welch t)' (with a margin: ', margin +2 pts';
    a rate's in percentage points, 'pp')."""
    label = (f"{row['arm']} vs {row['versus']}: {_endpoint_words(row['measure'], row['time_h'])} "
             f"({TEST_NAMES[row['test']]})")
    m = row.get("margin")
    unit = "pts" if row.get("measure") == "mean_change" else "pp"
    return label if not m or not math.isfinite(m) else f"{label[:-1]}, margin {m:+g} {unit})"


def level_words(provenance: dict) -> str:
    """The figures' words for the test the curves count: 'a two-sided test at alpha 0.05'; with margins on every
    endpoint 'a one-sided test at alpha 0.025 (margin)', on some '... (with a margin: one-sided at 0.025)'; with a
    multiplicity adjustment the curves are the unadjusted power (said)."""
    p = provenance
    a = float(p["alpha"])
    margins = p.get("margins") or {}
    if margins and len(margins) == len(p.get("endpoints", ())):
        words = f"a one-sided test at alpha {a / 2:g} (margin)"
    elif margins:
        words = f"a two-sided test at alpha {a:g} (with a margin: one-sided at {a / 2:g})"
    else:
        words = f"a two-sided test at alpha {a:g}"
    return words + (", unadjusted for multiplicity" if p.get("multiplicity") else "")


def power_curves_figure(result: PowerResult):
    """A matplotlib figure: power (or assurance) against patients per arm, one curve per comparison x endpoint with
    its 95 % Monte Carlo interval (with posterior draws: the 5th-95th percentiles of the draws' power), and the
    target as a dashed line."""
    # a Figure of its own with an Agg canvas (no matplotlib.use("Agg"), which switched a notebook's backend)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    df = result.table()
    p = result.provenance
    draws = bool(p.get("uncertainty"))
    key, low, high = ("assurance", "power_p05", "power_p95") if draws else ("power", "power_ci95_low",
                                                                            "power_ci95_high")
    groups = list(df.groupby(["arm", "versus", "time_h", "measure"], sort=False, dropna=False))
    # one line style per measure and a colour per curve (beyond ten, per comparison x time), the legend beside the
    # axes when there are many curves: the colour cycle repeated after ten (the design example's 18 default
    # endpoints drew 'change 24 h' and 'remission 40 min' alike) and the legend covered the curves
    many = len(groups) > 6
    fig = Figure(figsize=(7.5 + (3.4 if many else 0.0), 4.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    colours: dict = {}
    for _, g in groups:
        g = g.sort_values("n_per_arm")
        n = g["n_per_arm"].to_numpy(float)
        r = g.iloc[0]
        # up to ten curves each its own colour; more: one per comparison x time (the style tells the measure)
        ck = len(colours) if len(groups) <= 10 else (r["arm"], r["versus"], _time_key(r["time_h"]))
        colour = colours.setdefault(ck, f"C{len(colours) % 10}")
        ax.plot(n, g[key].to_numpy(float), marker="o", ms=3.5, lw=1.4, color=colour,
                ls=_MEASURE_STYLES.get(r["measure"], "-"), label=curve_label(r))
        ax.fill_between(n, g[low].to_numpy(float), g[high].to_numpy(float), color=colour, alpha=0.15, lw=0)
    ax.axhline(p["target_power"], color="#6b7280", ls="--", lw=0.9)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(size_axis_label(p.get("allocation", "1:1"), p.get("design", "parallel")))
    ax.set_ylabel("assurance" if draws else "power")
    if many:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    band = "5th-95th percentile over posterior draws" if draws else "95 % Monte Carlo interval"
    ax.set_title(f"{p['scenario']}: {'assurance' if draws else 'power'} of {level_words(p)}\n"
                 f"{p['replicates']:,} replicate trials per size; band: {band}", fontsize=9)
    from .io import figure_provenance_line

    fig.text(0.01, 0.005, f"{p['notice']}  {figure_provenance_line(p)}", fontsize=6, color="#6b7280")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def write_power_curves(result: PowerResult, path):
    """The power curves to ``path`` (PNG, SVG or PDF by its suffix; atomic; a PNG carries the provenance)."""
    from .io import atomic_path, figure_format, save_figure

    fmt = figure_format(path, argument("path", "--plot"))     # from Python: path (said --plot)
    fig = power_curves_figure(result)       # a Figure without pyplot: nothing to close
    with atomic_path(path) as tmp:
        save_figure(fig, tmp, fmt, 130, result.provenance)
    return path


__all__ = ["PowerResult", "run_power", "pool_run_estimate", "power_curves_figure", "write_power_curves",
           "size_axis_label", "welch_test", "ancova_test", "paired_t_test", "proportion_z_test", "mcnemar_test",
           "DEFAULT_SIZES", "DEFAULT_REPLICATES"]
