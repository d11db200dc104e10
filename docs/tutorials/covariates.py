"""How-to: covariate effects — what sex, age, weight, the BDNF genotype, CRP or a comedication does to exposure,
side effects and relief of intranasal esketamine 56 mg, on the same virtual patients with one covariate changed.
Run:  .venv/bin/python docs/tutorials/covariates.py
(CLI: ketasim covariates --drug esketamine --route intranasal --dose 56mg --csv out/covariates.csv --plot out/forest.png)
"""

from _common import out_dir, size
from ketasim import quick_scenario
from ketasim.covariates import run_covariates, write_forest

n = size(300)
scenario = quick_scenario("esketamine", "intranasal", "56 mg", size=n)
result = run_covariates(scenario, n=n, contrasts=["weight=55:80", "age=70:45", "comedication=clarithromycin",
                                                  "comedication=rifampicin", "crp=10:1"],
                        endpoints=["cmax", "auc_0_inf", "cadss_peak", "response_rate@24h"])
print(result.format_table())

# the tidy table: one row per contrast x endpoint (x analyte for PK)
table = result.table()
auc = table[(table["endpoint"] == "auc_0_inf") & (table["analyte"] == "s-ketamine")]
outside = auc[(auc["ci90_low"] < 0.80) | (auc["ci90_high"] > 1.25)]
print("S-ketamine AUC outside the 0.80-1.25 no-effect bounds:", ", ".join(outside["contrast"]) or "none")

result.to_csv(out_dir() / "covariates.csv")          # with covariates.csv.provenance.json beside it
write_forest(result, out_dir() / "forest.png")
