"""The model id covers the source that turns parameters, patients and doses into the kernel's inputs (codegen's
template, pk.py's set-up, the definition's derivations, engine.py's routing and tables) but not its layout: line
endings, blank lines and whole-line comments do not change it (review R7-1, R7-2; s39 R1-1)."""

import re
import shutil
from pathlib import Path

import pytest

import ketasim
from ketasim.model import DEFAULT_MODEL, core

PKG = Path(ketasim.__file__).resolve().parent
FILES = [rel for rel, _ in core._PK_SOURCES]


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PKG / rel, root / rel)
    return root


def _edit(path: Path, fn) -> None:
    path.write_bytes(fn(path.read_bytes().decode("utf-8")).encode("utf-8"))


def _relaid(text: str) -> str:
    """A Windows checkout with a new comment line, blank lines, trailing blanks (none after a line continuation's
    backslash: a syntax error in any checkout) and comments inside functions."""
    text = re.sub(r"(?<!\\)\n", "   \n", text).replace("\n    return ", "\n    # why\n\n    return ")
    return ("# a new comment\n\n" + text).replace("\n", "\r\n")


def test_layout_does_not_change_the_digest(tmp_path):
    root = _copy(tmp_path)
    before = core.pk_sources_digest(root)
    assert before == core.pk_sources_digest(PKG)
    for rel in FILES:
        _edit(root / rel, _relaid)
    assert core.pk_sources_digest(root) == before


@pytest.mark.parametrize("rel, edit", [
    ("pk.py", lambda t: t + "\nSOMETHING_NEW = 1\n"),                       # review R7-1: pk.py's set-up
    ("model/codegen.py", lambda t: t + "\nSOMETHING_NEW = 1\n"),
    # a derivation in the definition (Model.digest hashes only the names of patient parameters and constants)
    ("model/definition.py", lambda t: t.replace('"iiv.sedation_ec50_cv"', '"iiv.ke0_cv"', 1)),
    # a dose routed differently (s39 R1-1)
    ("engine.py", lambda t: t.replace("def _route_inputs(params: ParameterSet, adm: Administration):",
                                      "def _route_inputs(params: ParameterSet, adm: Administration):\n    x = 1", 1)),
])
def test_a_code_change_changes_the_digest(tmp_path, rel, edit):
    root = _copy(tmp_path)
    before = core.pk_sources_digest(root)
    text = (root / rel).read_text(encoding="utf-8")
    assert edit(text) != text                                 # the edit applies (the source still has that line)
    _edit(root / rel, edit)
    assert core.pk_sources_digest(root) != before, rel


def test_a_module_constant_the_named_functions_read_counts(tmp_path):
    """Review s39 R4-1: engine.N_SWALLOW (the parts of a nasal dose's swallowed input) is read by _route_inputs."""
    root = _copy(tmp_path)
    before = core.pk_sources_digest(root)
    text = (root / "engine.py").read_text(encoding="utf-8")
    assert "\nN_SWALLOW = 3" in text
    _edit(root / "engine.py", lambda t: t.replace("\nN_SWALLOW = 3", "\nN_SWALLOW = 12", 1))
    assert core.pk_sources_digest(root) != before


def test_engine_code_outside_the_named_functions_does_not_count(tmp_path):
    root = _copy(tmp_path)
    before = core.pk_sources_digest(root)
    _edit(root / "engine.py", lambda t: t + "\n\ndef something_for_the_report():\n    return 1\n")
    assert core.pk_sources_digest(root) == before


def test_a_renamed_function_is_an_error_not_a_silent_gap(tmp_path):
    root = _copy(tmp_path)
    _edit(root / "engine.py", lambda t: t.replace("def _arm_events(", "def _arm_events_renamed(", 1))
    with pytest.raises(RuntimeError, match="_arm_events"):
        core.pk_sources_digest(root)


def test_the_model_id_uses_the_package_sources():
    assert all((PKG / rel).is_file() for rel in FILES)
    assert core._codegen_template_digest() == core.pk_sources_digest(PKG)


def test_rate_owner_is_the_first_state_of_each_rate():
    owner = DEFAULT_MODEL.rate_owner()
    assert set(owner) == {s.rate for s in DEFAULT_MODEL.states}
    for rate, j in owner.items():
        assert DEFAULT_MODEL.states[j].rate == rate
        assert all(s.rate != rate for s in DEFAULT_MODEL.states[:j])
    # every rising rate is some state's own rate (the kernel reads it from that state's row)
    for s in DEFAULT_MODEL.states:
        if s.rate_rising is not None:
            assert s.rate_rising in owner
