"""How-to: a personalised plan — fit one patient's record, forecast weeks 3-6, and search regimens.

Run:  .venv/bin/python docs/tutorials/personal_plan.py
"""

from _common import HERE, out_dir, size
from ketasim.personal import fit_patient, forecast, parse_limits, parse_target, plan
from ketasim.plan_report import plan_report
from ketasim.personal import personal_plan
from ketasim.record import read_record

# A NONMEM-style record: one row per dose (EVID 1) or observation (EVID 0); empty DV = a forecast point.
record = read_record(HERE.parent.parent / "examples" / "patient" / "patient_101.csv")
print(f"patient {record.id}: {len(record.observations)} observed values, last at {record.last_observation_h:g} h")

# Fit: MAP of the patient's random effects with the population as prior, Laplace covariance, importance resampling.
fit = fit_patient(record, n_samples=size(400), seed=0)
for row in fit.parameter_table():
    flag = "" if row["informed"] else "  (not informed by these data)"
    print(f"  {row['name']:16s} {row['estimate']:7.2f}  90% [{row['interval90'][0]:.2f}, {row['interval90'][1]:.2f}]{flag}")

# Forecast of a future rating at the record's forecast points (median, 50 % and 90 % prediction intervals).
for e in forecast(fit).entries():
    print(f"  forecast {e['time_h']:6.0f} h: median {e['median']:.0f}, 90% [{e['pi90'][0]:.0f}, {e['pi90'][1]:.0f}]")

# Plan: regimens within the limits, ranked by the probability of MADRS <= 15 at every weekly visit in weeks 1-4.
res = plan(fit, target=parse_target("score<=15", record.scale),
           limits=parse_limits("drugs=racemic-ketamine,routes=iv-infusion"), n_samples=size(200), top=3)
for p in res["plans"]:
    print(f"  plan #{p['rank']}: p_target {p['p_target']:.2f}  {p['label']}")
print("  dose lines of #1:", res["plans"][0]["regimen"])

# The whole job as the command line does it (the plan JSON contract), and the self-contained HTML report.
job = personal_plan(record, target="score<=15", limits="drugs=racemic-ketamine,routes=iv-infusion",
                    n_samples=size(400))
path = plan_report(job, out_dir() / "personal_plan.html")
print(f"wrote {path}; {job['notice']}")
