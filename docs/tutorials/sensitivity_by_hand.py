"""How-to: change one literature parameter by hand and compare an outcome (the command: ketasim sensitivity).

Run:  .venv/bin/python docs/tutorials/sensitivity_by_hand.py
"""

from ketasim import load_parameters, quick_scenario, simulate

base = load_parameters()
scenario = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg")
name = "pd.nmda.m_interneuron"          # interneuron IC50 multiplier: larger = less block at the same level
for factor in (0.5, 1.0, 2.0):
    params = base.with_literature({name: base.get(name) * factor})
    traj = simulate(scenario, params, typical=True, output_times_h=[0.0, 24.0]).trajectories()
    change = traj.score.iloc[-1] - traj.score.iloc[0]
    print(f"{name} x{factor}: MADRS change at 24 h {change:+.2f} (parameter set {params.version})")
