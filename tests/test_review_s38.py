"""Review of the thirty-eighth session (H3, /work/coord/s38): one regression test per fix."""

from __future__ import annotations

import pytest


def _quick():
    from ketasim import quick_scenario

    return quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", output_every="1 h")


@pytest.mark.parametrize("kw, expected", [
    (dict(n="5", typical=True), "n: expected a whole number, got str '5'"),
    (dict(n=[5], typical=True), "n: expected a whole number, got list [5]"),
    (dict(n=0, typical=True), "n: must lie in 1-2,000,000, got 0"),
    (dict(n=-3, typical=True), "n: must lie in 1-2,000,000, got -3"),
    (dict(n=2, typical="yes"), "typical: expected True or False, got str 'yes'"),
    (dict(n=2, seed="x"), "seed: expected a whole number, got str 'x'"),
    (dict(n=2, chunk=0), "chunk: must lie in 1-2,000,000, got 0"),
])
def test_scenario_pk_checks_its_arguments_before_the_typical_size(kw, expected):
    """R1-2: `scenario_pk(sc, n="5", typical=True)` raised `ValueError: Cannot specify ',' with 's'` (n=[5] a
    TypeError; n=0 or -3 "... for 0 sampled patients"): n went into the typical-size message unchecked. The
    arguments are now checked as simulate() checks them, each in one line naming it."""
    from ketasim.errors import InputError
    from ketasim.nca import scenario_pk

    with pytest.raises(InputError) as e:
        scenario_pk(_quick(), **kw)
    assert str(e.value) == expected


@pytest.mark.parametrize("n", ["5", [5], 0, -3, 2.5])
def test_check_typical_size_does_not_format_an_unchecked_size(n):
    from ketasim.errors import InputError
    from ketasim.limits import check_typical_size

    with pytest.raises(InputError) as e:
        check_typical_size(True, n)
    assert str(e.value).startswith(f"n: typical=True simulates one typical patient per arm, not {n!r}")
    with pytest.raises(InputError, match=r"not 1,000; .* for 1,000 sampled patients$"):
        check_typical_size(True, 1000)


def test_scenario_pk_refuses_a_size_for_a_stated_patient_as_simulate_does():
    """A scenario with ``patient:`` is one patient: simulate(sc, n=5) is refused; scenario_pk(sc, n=5) analysed that
    one patient and dropped n without a word. Now the same line; n=1 still runs."""
    from ketasim import scenario_from_dict
    from ketasim.errors import InputError
    from ketasim.nca import scenario_pk

    sc = scenario_from_dict({"name": "one", "patient": {"weight_kg": 70, "age_years": 30, "sex": "male"},
                             "arms": {"a": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                             "duration": "40 min"}]}})
    with pytest.raises(InputError, match=r"^n: the scenario 'one' states one patient \(patient:\)"):
        scenario_pk(sc, n=5)
    assert scenario_pk(sc, n=1)["subject"].nunique() == 1


YAML_NOTE = "not true/false (YAML reads yes/no and on/off as true/false too)"


@pytest.mark.parametrize("patch, field", [
    ({"design": {"type": "parallel", "follow_up_from": "7 d", "follow_up_every": True}}, "design.follow_up_every"),
    ({"design": {"type": "parallel", "follow_up_from": True}}, "design.follow_up_from"),
    ({"design": {"type": "crossover", "period_interval": False}}, "design.period_interval"),
    ({"design": {"type": "randomized_withdrawal", "induction_until": True}}, "design.induction_until"),
    ({"output": {"every": True}}, "output.every"),
    ({"output": {"every": "1 h", "until": False}}, "output.until"),
])
def test_a_yaml_boolean_in_a_time_field_says_a_time_is_expected(patch, field):
    """R1-5: `design: {follow_up_every: yes}` said "expected text, got true/false" while `open_label_from: yes` said
    "must be a time with its unit, e.g. '24 h'"; every time field now says the latter."""
    from ketasim import scenario_from_dict
    from ketasim.errors import InputError

    with pytest.raises(InputError) as e:
        scenario_from_dict({"name": "x", "arms": {"a": [{"drug": "racemic-ketamine", "route": "iv-infusion",
                                                         "dose": "0.5 mg/kg", "duration": "40 min"}]}, **patch})
    assert str(e.value) == f"{field}: must be a time with its unit, e.g. '24 h', {YAML_NOTE}"


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_seed_or_size_says_not_true_false(value):
    """R1-5 / R2-2: `seed: yes` said "seed: expected a whole number >= 0, got True" (and simulate(n=True) "expected a
    whole number, got bool True"), the last whole-number fields without the one wording of the others."""
    from ketasim import scenario_from_dict, simulate
    from ketasim.errors import InputError
    from ketasim.limits import check_int, check_seed, check_size

    ket = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
    with pytest.raises(InputError) as e:
        scenario_from_dict({"name": "x", "seed": value, "arms": {"a": [ket]}})
    assert str(e.value) == f"seed: must be a whole number, {YAML_NOTE}"
    for check, field in ((check_seed, "seed"), (check_size, "size")):
        with pytest.raises(InputError) as e:
            check(value, field)
        assert str(e.value) == f"{field}: must be a whole number, {YAML_NOTE}"
    with pytest.raises(InputError, match=r"^chunk: must be a whole number, not true/false"):
        check_int(value, "chunk", lo=1, hi=10)
    with pytest.raises(InputError, match=r"^n: must be a whole number, not true/false"):
        simulate(_quick(), n=value)
    assert check_seed(0) == 0 and check_size(3.0) == 3


def test_the_changelogs_cost_of_spines_held_is_the_one_notes_states():
    """R4-1 / R5: the CHANGELOG said "~1-4 % kernel time (benchmarks by H4, NOTES)", measured on 29838d5, while NOTES
    states +1-6 % for the final model (ba0d61e). The CHANGELOG's range must be the one NOTES gives."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    log = " ".join((root / "CHANGELOG.md").read_text(encoding="utf-8").split("\n## [", 2)[1].split())
    notes = " ".join((root / "NOTES.md").read_text(encoding="utf-8").split())
    m = re.search(r"Cost with the hypothesis off: ~(\d+-\d+) % `simulate` time \(NOTES", log)
    assert m, "the CHANGELOG states the cost of spines_held as a `simulate` time from NOTES"
    assert f"(+{m.group(1)} %)" in notes


def test_the_im_and_sc_depots_without_a_random_effect_on_f_are_named_once(monkeypatch):
    """R5-2: `4 <= tg <= 7` (IM and SC: no random effect on F) was written in codegen's template, the reference solver
    and the SBML export; a reordered pk.DEPOTS would have made them disagree silently. All read pk.FIXED_F_DEPOTS
    (codegen writes its range into the kernel, so the kernel-equals-codegen test catches a stale kernel)."""
    from pathlib import Path

    import ketasim.pk as pk
    from ketasim.model import DEFAULT_MODEL
    from ketasim.model.codegen import generate

    assert [pk.DEPOTS[d] for d in pk.FIXED_F_DEPOTS] == ["im_s", "im_r", "sc_s", "sc_r"]
    assert "elif 4 <= tg <= 7:" in generate(DEFAULT_MODEL)
    monkeypatch.setattr(pk, "FIXED_F_DEPOTS", (4, 6))
    assert "elif tg == 4 or tg == 6:" in generate(DEFAULT_MODEL)
    src = Path(pk.__file__).parent
    for f in ("model/codegen.py", "solver/reference.py", "export.py"):
        assert "4 <= tg <= 7" not in (src / f).read_text(encoding="utf-8"), f
