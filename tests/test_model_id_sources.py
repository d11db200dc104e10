"""The model id covers the PK machinery's source (codegen's template and pk.py's set-up) but not its layout:
line endings, blank lines and whole-line comments do not change it (review R7-1, R7-2)."""

import shutil
from pathlib import Path

import ketasim
from ketasim.model import DEFAULT_MODEL, core

PKG = Path(ketasim.__file__).resolve().parent


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    for rel in core._PK_SOURCES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PKG / rel, root / rel)
    return root


def _edit(path: Path, fn) -> None:
    path.write_bytes(fn(path.read_bytes().decode("utf-8")).encode("utf-8"))


def test_layout_does_not_change_the_digest(tmp_path):
    root = _copy(tmp_path)
    before = core.pk_sources_digest(root)
    assert before == core.pk_sources_digest(PKG)
    for rel in core._PK_SOURCES:
        # a Windows checkout, a new comment line, blank lines and trailing blanks
        _edit(root / rel, lambda t: "# a new comment\n\n" + t.replace("\n", "   \r\n").replace("\ndef ", "\n\n# x\ndef "))
    assert core.pk_sources_digest(root) == before


def test_a_code_change_in_pk_or_codegen_changes_the_digest(tmp_path):
    for rel in core._PK_SOURCES:
        root = _copy(tmp_path / rel.replace("/", "_"))
        before = core.pk_sources_digest(root)
        # the kind of change review R7-1 found unsigned: a constant of the set-up (pk.py) or of the template
        _edit(root / rel, lambda t: t + "\nSOMETHING_NEW = 1\n")
        assert core.pk_sources_digest(root) != before, rel


def test_the_model_id_uses_the_package_sources():
    assert set(core._PK_SOURCES) == {"model/codegen.py", "pk.py"}
    assert all((PKG / rel).is_file() for rel in core._PK_SOURCES)
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
