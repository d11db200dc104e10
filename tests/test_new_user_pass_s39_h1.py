"""New-user pass of the thirty-ninth session (helper H1): one regression test per fix."""

from __future__ import annotations

import pytest

from _support import one_error_line, run_cli


def test_qualify_states_the_virtual_population_size_and_seed(capsys, monkeypatch, tmp_path):
    """`ketasim qualify --size 100` printed and wrote a report that did not say 100 (nor the seed): a quick run's
    wider Monte Carlo error could not be told from the default 2000 patients per arm (`--external` said it)."""
    import ketasim.calibration as cal

    original = cal.qualify
    monkeypatch.setattr(cal, "qualify", lambda params, **kw: original(params, trials=["berman2000"], **kw))
    html = tmp_path / "q.html"
    code, out, _ = run_cli(capsys, "qualify", "--size", "23", "--seed", "5", "--html", str(html))
    assert code == 0
    assert "23 virtual patients per arm, seed 5" in out
    assert "23 virtual patients per arm, seed 5" in html.read_text()
