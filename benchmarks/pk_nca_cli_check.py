"""PK after IV, IM, oral, sublingual and intranasal dosing, with interactions, computed THROUGH THE CLI as a user
would (`ketasim simulate ... --pk-json`, `ketasim trial ... --json`), printed beside the published values of
../shared/reference/pk_parameters.csv (read from the file by row, not typed in here).

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/pk_nca_cli_check.py [--size 200]

The typical 70-kg, 40-year-old man (--typical) and a population (--size) on the default sampling schedule
(5 min ... 24 h, venous). Published rows are typical values (popPK) or study means: compare with the typical
patient's NCA and the population's geometric mean. A report, not a fit: nothing here changes a parameter.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT.parent / "shared" / "reference" / "pk_parameters.csv"
KETASIM = [sys.executable, "-m", "ketasim"]
MAN = ["--weight", "70", "--age", "40", "--sex", "male"]


def published(quantity_start: str) -> str:
    if not REF.exists():
        return "(reference file absent)"
    with open(REF, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["quantity"].startswith(quantity_start):
                return f"{row['value']} {row['unit']}"
    return "(row not found)"


def pk(args: list[str], tmp: Path, name: str) -> dict:
    out = tmp / f"{name}.json"
    subprocess.run([*KETASIM, "simulate", *args, "--pk-json", str(out)], check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def row(doc: dict, analyte: str, measure: str) -> float:
    return next(r["value"] for r in doc["summary"] if r["analyte"] == analyte and r["measure"] == measure)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("esketamine intranasal (typical man; AUC0-24 = AUC0-t on the default schedule to 24 h)")
        for mg in (28, 56, 84):
            doc = pk(["--drug", "esketamine", "--route", "intranasal", "--dose", f"{mg}mg", "--typical", *MAN], tmp,
                     f"in{mg}")
            print(f"  {mg} mg: S-ketamine Cmax {row(doc, 's-ketamine', 'cmax'):6.1f} ng/mL, AUC0-24 "
                  f"{row(doc, 's-ketamine', 'auc_0_t'):6.1f}, Tmax {60 * row(doc, 's-ketamine', 'tmax'):3.0f} min; "
                  f"norketamine Cmax {row(doc, 'norketamine', 'cmax'):6.1f}, AUC0-24 {row(doc, 'norketamine', 'auc_0_t'):6.1f}")
            print(f"     published: {published(f'Esketamine Cmax / AUC0-24 at {mg} mg')}")
        print(f"     noresketamine published: {published('Noresketamine Cmax / AUC0-24')}")
        print(f"     Tmax published: {published('Esketamine nasal Tmax')}")
        for route, dose, label in (("im", "0.5mg/kg", "Tmax IM"), ("oral", "25mg", "Bioavailability oral"),
                                   ("sublingual", "25mg", "Bioavailability sublingual wafer"),
                                   ("iv-bolus", "0.5mg/kg", None)):
            doc = pk(["--drug", "racemic-ketamine", "--route", route, "--dose", dose, "--size", str(args.size)], tmp, route)
            typ = pk(["--drug", "racemic-ketamine", "--route", route, "--dose", dose, "--typical", *MAN], tmp, route + "t")
            tm = next(r for r in doc["summary"] if r["analyte"] == "ketamine" and r["measure"] == "tmax")
            print(f"racemic {route} {dose}: ketamine Cmax typical {row(typ, 'ketamine', 'cmax'):.1f} ng/mL, population "
                  f"GM {row(doc, 'ketamine', 'cmax'):.1f}; Tmax median {60 * tm['value']:.0f} min "
                  f"[{60 * tm['range'][0]:.0f}-{60 * tm['range'][1]:.0f}]; t1/2 GM {row(doc, 'ketamine', 't_half'):.2f} h"
                  + (f"   published ({label}): {published(label)}" if label else ""))
        # interactions: one scenario, two arms, crossover (paired ratios), through `ketasim trial`
        for comed, route, dose, label in (("clarithromycin", "oral", "0.2 mg/kg", "Clarithromycin on oral S-ketamine"),
                                          ("rifampicin for 5 d", "iv-infusion", "0.2 mg/kg", "Rifampicin on IV S-ket")):
            line = {"drug": "esketamine", "route": route, "dose": dose}
            if route == "iv-infusion":
                line["duration"] = "2 h"
            sc = {"name": f"ddi-{comed.split()[0]}", "seed": 5, "population": {"size": args.size},
                  "arms": {"alone": [line], "with": {"doses": [line], "comedications": [comed]}},
                  "design": {"type": "crossover", "control": "alone"},
                  "endpoints": {"measures": ["cmax", "auc_0_inf"], "analytes": ["s-ketamine", "norketamine"]}}
            import yaml

            (tmp / "s.yaml").write_text(yaml.safe_dump(sc))
            subprocess.run([*KETASIM, "trial", str(tmp / "s.yaml"), "--json", str(tmp / "t.json"), "--no-progress"],
                           check=True, capture_output=True, text=True)
            comps = json.loads((tmp / "t.json").read_text())["comparisons"]
            txt = ", ".join(f"{c['analyte']} {c['measure']} {c['value']:.2f} [{c['ci90'][0]:.2f}, {c['ci90'][1]:.2f}]"
                            for c in comps)
            print(f"{comed} + {route} esketamine {dose}: GMR (90% CI) {txt}\n     published: {published(label)}")


if __name__ == "__main__":
    main()
