"""Forty-third session, H10: the reviewer's round-3 findings R3-3 .. R3-10 (/work/coord/s43/H3_review.md) that are
not tested in tests/test_power.py or tests/test_cv_per_trial.py."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP_JS = ROOT / "src" / "ketasim" / "web" / "static" / "app.js"


def test_r3_3_the_power_notice_words_a_negative_margin_as_superiority_by_a_margin():
    # the notice's words come from the API's margin_hypothesis (power.margin_words, H9), not from app.js
    from ketasim.power import margin_words

    assert margin_words(2, "MADRS points").startswith("H0: the arm is worse than the comparator by 2 MADRS points or more")
    neg = margin_words(-2, "MADRS points")
    assert neg.startswith("H0: the arm is better than the comparator by 2 MADRS points or less") and "-2" not in neg
    assert margin_words(0, "MADRS points") == ""
    js = APP_JS.read_text(encoding="utf-8")
    assert "body.margin_hypothesis" in js and "powerMarginH0" not in js


def test_r3_6_cross_validate_refuses_an_unknown_fold_with_an_input_error(monkeypatch):
    from ketasim import calibration as cal
    from ketasim.errors import InputError

    monkeypatch.setattr(cal, "calibrate", lambda *a, **k: pytest.fail("ran a fit"))
    with pytest.raises(InputError, match=r"^groups: unknown fold 'nosuch' \(known: ") as e:
        cal.cross_validate(groups=["nosuch"], in_sample=False, log=lambda *a: None)
    assert "\n" not in str(e.value) and isinstance(e.value, ValueError)     # callers catching ValueError still do


def test_r3_7_the_trajectory_writer_words_a_write_error_by_io_write_error(monkeypatch, tmp_path):
    import errno

    from ketasim import io
    from ketasim.errors import OutputError
    from ketasim.scale import TrajectoryWriter

    calls = []
    real = io.write_error
    monkeypatch.setattr(io, "write_error", lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    full = OSError(errno.ENOSPC, "No space left on device")
    for field, head in (("--csv", "--csv: "), (None, "")):
        w = TrajectoryWriter(tmp_path / "t.csv", "csv", {}, field=field)
        monkeypatch.setattr(w, "_write", lambda df: (_ for _ in ()).throw(full))
        with pytest.raises(OutputError) as e:
            w.write(None)
        assert str(e.value) == f"{head}{tmp_path / 't.csv'}: cannot write (No space left on device)"
    assert len(calls) == 2 and calls[0][1] == {"field": "--csv"}
    assert str(real(tmp_path / "u.csv", full, field="path")) == f"path: {tmp_path / 'u.csv'}: cannot write (No space " \
        "left on device)"


def test_r3_8_qualification_summary_breaks_the_points_headline_down_by_scale():
    """The headline mae_points is unchanged (the mean over every row in points, whatever its scale); beside it
    score_by_scale gives each rating scale's MAE, rows and floors (the shape of external_summary's)."""
    from ketasim import calibration as cal

    def row(scale, kind, error, unit="points", sd=2.0):
        return {"label": f"t | a | {scale} | 24 h | {kind}", "kind": kind, "unit": unit, "error": error,
                "predicted": 30.0, "sampling_sd": sd, "inside": True, "lo": 0.0, "hi": 1.0, "observed": 30.0 - error}

    rows = [row("MADRS", "mean_change", 2.0), row("MADRS", "diff_change", -4.0), row("HDRS-25", "mean_change", 6.0),
            row("CADSS", "cadss_session", 1.0), row("MADRS (response)", "response", 10.0, "percentage points"),
            row("MADRS", "sd_change", 3.0, "SD points")]
    s = cal.qualification_summary(rows)
    assert s["mae_points"] == pytest.approx((2 + 4 + 6 + 1) / 4)           # the headline as before: scales averaged
    by = s["score_by_scale"]
    assert list(by) == ["madrs", "hdrs-25", "cadss"]
    assert by["madrs"]["mae_points"] == pytest.approx(3.0) and by["madrs"]["score_rows"] == 2
    assert by["hdrs-25"]["mae_points"] == pytest.approx(6.0) and by["cadss"]["score_rows"] == 1
    assert by["madrs"]["sampling_floor_points"] == pytest.approx(2.0 * (2 / 3.141592653589793) ** 0.5)
    assert sum(v["mae_points"] * v["score_rows"] for v in by.values()) / 4 == pytest.approx(s["mae_points"])
    assert cal.qualification_summary([rows[4]])["score_by_scale"] == {}


@pytest.mark.parametrize("text", ["tmax@24h", "tmax", " tmax @ 2h"])
def test_r3_10_tmax_at_a_time_gets_the_tmax_message_directly(text):
    from ketasim.covariates import _split_endpoints
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=r"^endpoints: tmax is not compared as a ratio \(not log-normal\); use cmax"):
        _split_endpoints([text])


def test_r3_10_a_ratio_pk_measure_at_a_time_is_still_told_to_drop_the_time():
    from ketasim.covariates import _split_endpoints
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=r"^endpoints: cmax is a PK measure .* write 'cmax' without '@24h'"):
        _split_endpoints(["cmax@24h"])
    assert _split_endpoints(["cmax", "auc_0_t"])[0] == ["cmax", "auc_0_t"]
