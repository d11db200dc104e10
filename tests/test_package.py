"""Package conventions: version from the metadata, licence, typing marker, changelog, short result displays,
parameter sources that cite papers."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib import resources
from importlib.metadata import version
from pathlib import Path

import ketasim

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_version_comes_from_the_package_metadata():
    assert ketasim.__version__ == version("ketasim") == PYPROJECT["version"]


def test_licence_file_matches_pyproject():
    assert PYPROJECT["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_package_is_typed_and_exports_are_visible_to_type_checkers():
    assert resources.files("ketasim").joinpath("py.typed").is_file()
    tree = ast.parse((ROOT / "src/ketasim/__init__.py").read_text(encoding="utf-8"))
    typed = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.If)
             and getattr(node.test, "id", "") == "TYPE_CHECKING"
             for imp in node.body if isinstance(imp, ast.ImportFrom) for a in imp.names}
    assert set(ketasim._EXPORTS) == typed
    for name, module in ketasim._EXPORTS.items():       # each lazy export resolves to what the checker sees
        assert getattr(ketasim, name) is getattr(__import__(f"ketasim.{module}", fromlist=[name]), name)


def test_changelog_names_this_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text
    assert f"## [{PYPROJECT['version']}]" in text


def test_result_displays_are_short():
    from ketasim import load_scenario, run_trial, simulate

    sc = load_scenario(ROOT / "examples/design_example.yaml")
    res = simulate(sc, n=30)
    for text in (repr(res), res._repr_html_()):
        assert len(text) < 2000
        for arm in ("ketamine", "midazolam", "esketamine-twice-weekly"):
            assert arm in text
        assert "n=30" in text or "<td>30</td>" in text
    assert "score" in repr(res) and "time_h" in res._repr_html_()
    tr = run_trial(sc, n=30)
    for text in (repr(tr), tr._repr_html_()):
        assert len(text) < 2000
        assert "parallel" in text and "esketamine-twice-weekly" in text and "28 d" in text


def test_parameter_sources_cite_papers_not_addresses():
    from ketasim import load_parameters

    ps = load_parameters()
    for p in ps.literature.values():
        assert not re.search(r"https?://\d+\.\d+\.\d+\.\d+", p.source), (p.name, p.source)
    if "pk.esketamine.cl" in ps.literature:                 # the parameter issue 12 named (Perez-Ruixo 2021)
        assert "doi:10.1007/s40262-020-00953-4" in ps.literature["pk.esketamine.cl"].source
    # every source that names one of the PK papers carries its DOI
    dois = {"Perez-Ruixo 2021": "10.1007/s40262-020-00953-4", "Clements & Nimmo 1981": "10.1093/bja/53.1.27",
            "Otto 2021": "10.1007/s00228-021-03104-1", "Simons 2022": "10.3389/fpain.2022.946486",
            "Fanta 2015": "10.1007/s00228-015-1826-y", "Sigtermans 2009": "10.1097/ALN.0b013e3181b437b1"}
    for p in ps.literature.values():
        for paper, doi in dois.items():
            if paper in p.source:
                assert doi in p.source, (p.name, p.source)
