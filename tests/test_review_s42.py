"""Review findings of the forty-second session (H3, /work/coord/s42/H3_review.md) not covered by the feature tests:
R7-1 (a covariate age typed '70 y'), R7-2 (a comedication contrast in ketasim's words, durations included), R7-3
(`ketasim params` reads sensitivity's patterns with sensitivity's one matcher)."""

from __future__ import annotations

import pytest

from _support import run_cli
from ketasim.covariates import parse_contrast
from ketasim.parameters import load_parameters
from ketasim.scenario import load_scenario
from ketasim.sensitivity import factors, parameter_matches

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def design():
    return load_scenario(EXAMPLES / "design_example.yaml")


@pytest.mark.parametrize("text", ["age=70 y:45", "age=70yr:45", "age=70 years:45", "age=840 months:45"])
def test_an_age_level_typed_with_years_is_read(design, text):
    c = parse_contrast(text, design.population, load_parameters(), arm=design.arms[0])
    assert c.test == pytest.approx(70.0) and c.reference == pytest.approx(45.0)


def test_one_comedication_contrast_whatever_its_durations_are_written_as(design):
    p = load_parameters()
    labels = {parse_contrast(f"comedication={t}", design.population, p, arm=design.arms[0]).label
              for t in ("rifampin for 5 days", "rifampicin for 120 h", "Rifampicin for 5 d")}
    assert labels == {"+ rifampicin for 5 d"}


def test_params_and_sensitivity_select_the_same_names(capsys):
    p = load_parameters()
    pats = ["pd.nmda", "@free"]          # a name without a wildcard is that name exactly, in both
    chosen = {f.name for f in factors(p, pats)}
    assert chosen and all(parameter_matches(n, pats, p.free) for n in chosen)
    code, out, _ = run_cli(capsys, "params", "pd.nmda,@free")
    assert code == 0
    listed = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
    assert not any(n.startswith("pd.nmda.") for n in listed)      # substring matching listed them
    assert set(p.free) <= listed
