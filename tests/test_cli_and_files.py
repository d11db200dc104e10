"""The command line and the files it writes: DESIGN.md columns, provenance, Parquet metadata, figure,
determinism, fast --help, and a golden file for `ketasim params pk.ketamine`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketasim
from ketasim.cli import main

GOLDEN = Path(__file__).parent / "golden"

#: DESIGN.md "Trajectories" contract: at least these columns ("more columns are welcome"; order is not part of it).
DESIGN_COLUMNS = [
    "arm", "subject", "time_h",
    "cp_s_ketamine_ng_ml", "cp_r_ketamine_ng_ml", "cp_ketamine_ng_ml", "cp_norketamine_ng_ml", "cp_hnk_ng_ml",
    "ce_ketamine_ng_ml", "nmda_block_interneuron", "nmda_block_pyramidal", "glutamate", "ampa", "bdnf", "mtorc1",
    "synaptic_proteins", "spine_density", "il6", "score", "cadss", "sbp_change_mmhg", "hr_change_bpm", "sedation",
]
PROVENANCE_KEYS = {"scenario", "ketasim_version", "parameter_set", "seed"}

#: DESIGN.md's example scenario, with 50 patients and only the ketamine and midazolam arms.
DESIGN_SCENARIO = """\
name: single-infusion-trd
seed: 7
population:
  size: 50
  condition: depression          # depression | anxiety | ptsd | suicidal_ideation
  treatment_resistant: true
  scale: madrs                   # madrs | hamd17 | hama | caps5 | ssi
  baseline: {mean: 33, sd: 5}
  weight_kg: {mean: 80, sd: 15}
  age_years: {mean: 45, sd: 12}
  female_fraction: 0.55
arms:
  ketamine:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, at: 0 h}
  midazolam:
    - {drug: midazolam, route: iv-infusion, dose: 0.045 mg/kg, duration: 40 min, at: 0 h}
endpoints:
  times: [40 min, 2 h, 24 h, 72 h, 7 d, 28 d]
  measures: [mean, mean_change, response_rate, remission_rate]
"""


def cli(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    return out


def assert_design_columns(df: pd.DataFrame):
    missing = [c for c in DESIGN_COLUMNS if c not in df.columns]
    assert not missing, missing
    assert list(df.columns[:3]) == ["arm", "subject", "time_h"]   # the row keys come first


# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick_csv(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick") / "OUT.csv"
    code = main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", "--csv", str(out)])
    assert code == 0
    return out


def test_quick_simulate_writes_design_columns(quick_csv):
    df = pd.read_csv(quick_csv)
    assert_design_columns(df)
    assert set(df["arm"]) == {"esketamine"} and set(df["subject"]) == {0}
    # quick form: output every 5 min over the default horizon (28 days after a single dose)
    t = df["time_h"].to_numpy()
    assert t[0] == 0.0 and t[-1] == pytest.approx(28 * 24.0)
    # the CSV keeps 6 significant digits: times up to 672 h are rounded to 1e-3 h, so steps to within 1e-3 h
    assert np.diff(t) == pytest.approx(np.full(t.size - 1, 5 / 60), abs=1e-3)
    # it is the esketamine regimen that was simulated: S only, a plausible intranasal peak
    assert (df["cp_r_ketamine_ng_ml"] == 0).all()
    assert 20.0 < df["cp_s_ketamine_ng_ml"].max() < 200.0        # ng/mL; label Cmax at 56 mg is 72.5 ng/mL
    assert (df["cp_ketamine_ng_ml"] == df["cp_s_ketamine_ng_ml"]).all()


def test_quick_simulate_writes_provenance_beside_the_csv(quick_csv):
    prov_path = Path(str(quick_csv) + ".provenance.json")
    assert prov_path.exists()
    prov = json.loads(prov_path.read_text(encoding="utf-8"))
    assert PROVENANCE_KEYS <= set(prov)
    assert prov["ketasim_version"] == ketasim.__version__
    assert prov["parameter_set"] == ketasim.load_parameters().version
    assert "not medical advice" in prov["notice"]
    assert prov["units"]["cp_s_ketamine_ng_ml"] == "ng/mL"


# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def design_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("design")
    scen = d / "scenario.yaml"
    scen.write_text(DESIGN_SCENARIO, encoding="utf-8")
    csv, parquet = d / "traj.csv", d / "traj.parquet"
    assert main(["simulate", str(scen), "--csv", str(csv), "--parquet", str(parquet)]) == 0
    return scen, csv, parquet


def test_scenario_file_round_trips_through_csv_and_parquet(design_files):
    scen, csv, parquet = design_files
    expected = ketasim.simulate(ketasim.load_scenario(scen)).trajectories()
    from_csv = pd.read_csv(csv)
    from_parquet = pd.read_parquet(parquet)
    for df in (from_csv, from_parquet):
        assert_design_columns(df)
        assert list(df["arm"].unique()) == ["ketamine", "midazolam"]
        assert df.groupby("arm")["subject"].nunique().tolist() == [50, 50]
    n_times = len(ketasim.load_scenario(scen).output_times_h())
    assert len(from_parquet) == 2 * 50 * n_times
    # Parquet is lossless; the CSV keeps 6 significant digits (float_format %.6g): rtol 1e-5, and atol 1e-12
    # for values printed as tiny exponents
    pd.testing.assert_frame_equal(from_parquet, expected, check_exact=True)
    num = [c for c in expected.columns if c != "arm"]
    np.testing.assert_allclose(from_csv[num].to_numpy(float), expected[num].to_numpy(float), rtol=1e-5, atol=1e-12)


def test_parquet_metadata_holds_provenance(design_files):
    import pyarrow.parquet as pq

    _, csv, parquet = design_files
    meta = pq.read_schema(parquet).metadata
    assert b"ketasim" in meta
    prov = json.loads(meta[b"ketasim"].decode())
    assert PROVENANCE_KEYS <= set(prov)
    assert prov["scenario"] == "single-infusion-trd" and prov["seed"] == 7
    assert prov["parameter_set"] == ketasim.load_parameters().version
    # the CSV's sidecar carries the same provenance
    side = json.loads(Path(str(csv) + ".provenance.json").read_text(encoding="utf-8"))
    assert side == prov


def test_plot_writes_a_png(tmp_path, capsys):
    png = tmp_path / "cascade.png"
    cli(capsys, "simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5 mg/kg",
        "--plot", png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000          # a 10-panel figure, not an empty canvas


def test_simulate_prints_the_cascade_summary_and_the_notice(capsys):
    out = cli(capsys, "simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5 mg/kg")
    assert "plasma ketamine" in out and "MADRS" in out
    assert out.strip().splitlines()[-1] == ketasim.NOTICE


# ---------------------------------------------------------------------------------------------------------------
def test_same_seed_gives_identical_trajectories_and_different_seeds_differ():
    sc = ketasim.scenario_from_dict({
        "name": "det", "seed": 5, "population": {"size": 20},
        "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}]},
        "output": {"every": "1 h", "until": "7 d"}})
    a = ketasim.simulate(sc).trajectories()
    b = ketasim.simulate(sc).trajectories()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = ketasim.simulate(sc, seed=6).trajectories()
    assert not np.array_equal(a["cp_ketamine_ng_ml"].to_numpy(), c["cp_ketamine_ng_ml"].to_numpy())
    assert not np.array_equal(a["score"].to_numpy(), c["score"].to_numpy())
    # the seed is recorded
    assert ketasim.simulate(sc, seed=6).provenance["seed"] == 6


def test_cli_seed_is_deterministic(tmp_path, capsys):
    files = []
    for k, seed in enumerate((3, 3, 4)):
        out = tmp_path / f"s{k}.csv"
        cli(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg", "--size", 5,
            "--seed", seed, "--csv", out)
        files.append(out.read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]


# ---------------------------------------------------------------------------------------------------------------
def _ketasim_command():
    exe = Path(sys.executable).parent / "ketasim"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("ketasim")
    if found:
        return [found]
    return [sys.executable, "-c", "from ketasim.cli import entry; entry()"]


def test_help_lists_the_commands():
    proc = subprocess.run([*_ketasim_command(), "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    for command in ("simulate", "trial", "params", "demo"):
        assert command in proc.stdout
    assert "not medical advice" in proc.stdout


# ---------------------------------------------------------------------------------------------------------------
def _normalise_params_output(text: str) -> str:
    """The header names the parameter-set version (a content hash of ALL parameters, free ones included) and the
    calibration run; both change whenever any parameter is recalibrated, so they are replaced by placeholders.
    Every other byte must match the golden file."""
    p = ketasim.load_parameters()
    return text.replace(p.version, "<version>").replace(p.calibration_run, "<calibration_run>")


def test_params_output_matches_golden(capsys):
    # issue 7 renamed the product-specific pk.racemic.* set to the one-molecule pk.ketamine.* set
    out = cli(capsys, "params", "pk.ketamine")
    got = _normalise_params_output(out)
    golden = GOLDEN / "params_pk_ketamine.txt"
    if os.environ.get("KETASIM_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8")
    assert got.splitlines()[0] == "parameter set <version>; calibration run: <calibration_run>"
