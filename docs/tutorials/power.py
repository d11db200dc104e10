"""How-to: power and sample size — how many patients per arm does a trial of one 0.5 mg/kg ketamine infusion vs
midazolam need to show a difference in MADRS change and in response at 24 h, and what does dropout cost?
Run:  .venv/bin/python docs/tutorials/power.py
(CLI: ketasim power examples/design_example.yaml --arm ketamine --endpoint mean_change@24h,response_rate@24h
      --sizes 10,15,20,30,40,60 --plot out/power.png)
"""

from _common import out_dir, size
from ketasim.power import run_power, write_power_curves
from ketasim.scenario import scenario_from_dict

pool = size(2000)            # virtual patients simulated per arm, from which every replicate trial draws
sizes = [n for n in (10, 15, 20, 30, 40, 60) if n <= pool] or [pool]
scenario = scenario_from_dict({
    "name": "ketamine vs midazolam", "seed": 3,
    "population": {"size": 100, "treatment_resistant": True, "baseline": {"mean": 33, "sd": 5}},
    "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                           "duration": "40 min"}],
             "midazolam": [{"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg",
                            "duration": "40 min"}]},
    "endpoints": {"times": ["24 h"], "measures": ["mean_change", "response_rate"]}})

result = run_power(scenario, sizes=sizes, pool=pool, replicates=1000)
print(result.format_table())

# the same trial analysed by ANCOVA on the baseline rating, and with 20 % of patients missing at random
ancova = run_power(scenario, sizes=sizes, pool=pool, replicates=1000, endpoints=["mean_change@24h"], test="ancova")
lossy = run_power(scenario, sizes=sizes, pool=pool, replicates=1000, endpoints=["mean_change@24h"], dropout=0.2)
table = result.table()
welch = table[table["measure"] == "mean_change"].set_index("n_per_arm")["power"]
for n in sizes:
    a = ancova.table().set_index("n_per_arm").loc[n, "power"]
    d = lossy.table().set_index("n_per_arm").loc[n, "power"]
    print(f"n {n} per arm: power of the change at 24 h {welch[n]:.2f} (Welch), {a:.2f} (ANCOVA), {d:.2f} (Welch, "
          "20 % dropout)")

# non-inferiority: is the arm's fall at most 2 MADRS points smaller than midazolam's? (one-sided at alpha/2)
ni = run_power(scenario, sizes=sizes, pool=pool, replicates=1000, endpoints=["mean_change@24h"], margin=2)
# harm: power to detect more dissociation after ketamine; the smallest size reaching 80 %, searched
harm = run_power(scenario, sizes="auto", max_size=min(pool, 200), pool=pool, replicates=1000,
                 endpoints=["dissociation_rate"])
# both endpoints as one family (Holm): the power that both (all) or either (any) is significant after adjustment,
# and as co-primary endpoints (both must succeed, no adjustment needed): power_all_unadjusted
both = run_power(scenario, sizes=sizes, pool=pool, replicates=1000, multiplicity="holm")
print(ni.format_table())
print(harm.format_table())
print(both.format_table().splitlines()[-2])

result.to_csv(out_dir() / "power.csv")             # with power.csv.provenance.json beside it
write_power_curves(result, out_dir() / "power.png")
