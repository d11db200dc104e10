"""Application layer: what the commands do (run, print, write files), between the library and the CLI.

``ketasim.cli`` parses arguments and calls these; the library modules (``trial``, ``calibration``) hold no
printing or file-writing glue. Progress bars and printed tables live here.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

from .display import json_safe


class _Bar:
    """A text progress bar on stderr (only for an interactive terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = bool(enabled) and sys.stderr.isatty()
        self.last = -1

    def __call__(self, frac: float):
        if not self.enabled:
            return
        pct = int(frac * 100)
        if pct != self.last:
            self.last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\rsimulating [{bar:<25s}] {pct:3d}%")
            if pct >= 100:
                sys.stderr.write("\n")
            sys.stderr.flush()


def run_trial_cli(path, *, json_out=None, report=None, size=None, seed=None, progress=True, dask=None,
                  chunk=10000):
    from .scenario import load_scenario
    from .trial import run_trial

    sc = load_scenario(path)
    total = (size or sc.population.size) * len(sc.arms)
    if dask:
        from .distributed import TextProgress, executor_from_option

        with executor_from_option(dask) as ex:
            tr = run_trial(sc, n=size, seed=seed, progress=TextProgress("trial (dask)", progress), chunk=chunk,
                           executor=ex)
    else:
        bar = _Bar(progress and total >= 2000)
        tr = run_trial(sc, n=size, seed=seed, progress=bar, chunk=chunk)
    print(tr.format_table())
    if json_out:
        from .io import atomic_write_text

        atomic_write_text(json_out, json.dumps(json_safe(tr.to_dict()), indent=1, allow_nan=False))
        print(f"wrote {json_out}")
    if report:
        from .report import trial_report

        trial_report(tr, report)
        print(f"wrote {report}")
    return tr


def calibrate_cli(*, out=None, size=300, seed=20261121, max_evaluations=400, dask=None):
    from .calibration import calibrate, write_parameter_set
    from .distributed import executor_from_option

    ex = executor_from_option(dask)
    try:
        new, report = calibrate(size=size, seed=seed, max_evaluations=max_evaluations, executor=ex)
    finally:
        if ex is not None:
            ex.close()
    path = out or (resources.files("ketasim") / "data" / "free_parameters.json")
    write_parameter_set(new, report, path)
    print(f"objective {report['objective_start']:.1f} -> {report['objective']:.1f} in {report['evaluations']} "
          f"evaluations ({report['seconds']:.0f} s); wrote {path}")
    print(f"calibration run: {report['calibration_run']}")


def qualify_cli(*, html=None, size=2000, seed=11):
    from .calibration import qualification_html, qualification_summary, qualify
    from .parameters import load_parameters

    params = load_parameters()
    rows, skipped = qualify(params, size=size, seed=seed)
    s = qualification_summary(rows)
    print(f"parameter set {params.version} ({params.calibration_run})")
    print(f"{'row':>4s}  {'observed':>9s} {'predicted':>9s}  {'95% interval':>19s}  in  label")
    for r in rows:
        print(f"{r['row']:4d}  {r['observed']:9.2f} {r['predicted']:9.2f}  [{r['lo']:7.2f}, {r['hi']:7.2f}]  "
              f"{'y' if r['inside'] else 'n'}   {r['label']}")
    print(f"\n{s['rows']} rows modelled, {len(skipped)} not modelled. Mean absolute error: "
          f"{s['mae_points']:.2f} score points (means/changes), {s['mae_percentage_points']:.1f} percentage points "
          f"(rates), {s['mae_mmhg']:.1f} mmHg; {100 * s['inside_interval']:.0f}% of observations inside the model's "
          f"95% interval for a trial of that size.")
    if html:
        Path(html).parent.mkdir(parents=True, exist_ok=True)
        qualification_html(rows, skipped, s, params, html)
        print(f"wrote {html}")
    return rows, skipped, s
