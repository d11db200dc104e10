"""Forty-sixth session, H1: found-not-fixed review items (T3, T4 of review s45 round 3; the Python API's plan
alternative without the cumulative anesthetic check)."""

from __future__ import annotations

import dataclasses

import pytest

from _support import RECORD_HEAD, dose_warning_messages, read_record_quietly


def _push(dose, at="0 h"):
    return {"drug": "racemic-ketamine", "route": "iv-bolus", "dose": dose, "at": at}


def _heavy_patient(arms):
    from ketasim.scenario import scenario_from_dict

    sc, said = dose_warning_messages(scenario_from_dict, {"name": "heavy", "patient": {"weight_kg": 120}, "arms": arms})
    assert said == []
    return sc


# ---- T3: Scenario.replace(population=) gives the warnings a dose earns at the new weight --------------------------
def test_t3_replace_population_warns_of_a_dose_anesthetic_at_the_new_weight():
    sc = _heavy_patient({"a": [_push("90 mg")]})        # 0.75 mg/kg at 120 kg: no warning
    big, said = dose_warning_messages(sc.replace, population=dataclasses.replace(sc.population, size=100))
    # was []: the rebuild silenced every DoseWarning, and 90 mg IV is 1.29 mg/kg at the 70-kg reference weight
    assert len(said) == 1 and said[0].startswith("arms.a[0].dose: 90 mg iv-bolus is in the anesthetic range (1.29 mg/kg "
                                                 "at the 70 kg reference weight"), said
    assert big.dose_weight_kg is None and big.arms[0].doses[0].in_anesthetic_range()


def test_t3_replace_population_does_not_repeat_a_warning_given_at_the_old_weight():
    from ketasim.scenario import scenario_from_dict

    with pytest.warns(Warning, match="anesthetic range"):
        sc = scenario_from_dict({"name": "heavy", "patient": {"weight_kg": 120},
                                 "arms": {"a": [_push("130 mg")]}})       # 1.08 mg/kg at 120 kg: warned when read
    big, said = dose_warning_messages(sc.replace, population=dataclasses.replace(sc.population, size=100))
    assert said == [] and big.arms[0].doses[0].in_anesthetic_range()
    back, said = dose_warning_messages(big.replace, population=sc.population)  # and back: no new warning either
    assert said == [] and back.dose_weight_kg == 120


def test_t3_replace_population_warns_at_the_point_of_call():
    import warnings

    sc = _heavy_patient({"a": [_push("90 mg")]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sc.replace(population=dataclasses.replace(sc.population, size=100))
    assert [w.filename for w in caught] == [__file__]


def test_t3_replace_population_judges_a_titrations_levels_at_the_new_weight():
    arms = {"a": {"doses": [{**_push("50 mg"), "every": "7 d", "count": 4}],
                  "titration": {"doses": ["50 mg", "90 mg"], "sessions": [2, 3],
                                "increase_if": {"score_reduction_below": 0.5}}}}
    sc = _heavy_patient(arms)                          # 90 mg at 120 kg: not anesthetic
    big, said = dose_warning_messages(sc.replace, population=dataclasses.replace(sc.population, size=100))
    assert len(said) == 1 and said[0].startswith("arms.a.titration.doses[1].dose: 90 mg iv-bolus is in the anesthetic "
                                                 "range"), said
    # the rule keeps its levels; the doses a patient gets are cut from the line's Dose at the new weight
    assert big.arms[0].titration == sc.arms[0].titration
    path = big.arms[0].titration.path_arm(big.arms[0], (1, 1))
    assert all(d.weight_kg is None for d in path.doses)


def test_t3_replace_population_refuses_a_dose_refused_at_the_new_weight():
    from ketasim.errors import InvalidRegimenError
    from ketasim.scenario import scenario_from_dict

    with pytest.warns(Warning, match="anesthetic range"):
        sc = scenario_from_dict({"name": "h", "patient": {"weight_kg": 160},
                                 "arms": {"a": [{"drug": "racemic-ketamine", "route": "im", "dose": "1040 mg"}]}})
    with pytest.raises(InvalidRegimenError, match="refused"):
        sc.replace(population=dataclasses.replace(sc.population, size=100))


def test_t3_cumulative_check_after_replace_judges_at_the_new_weight():
    from ketasim.engine import cumulative_anesthetic_arms

    sc = _heavy_patient({"a": [_push("60 mg"), _push("60 mg", "2 min")]})   # 1.0 mg/kg over 2 min at 120 kg
    assert cumulative_anesthetic_arms(sc) == []
    big, said = dose_warning_messages(sc.replace, population=dataclasses.replace(sc.population, size=100))
    assert said == []                                   # neither push alone is anesthetic at 70 kg (0.86 mg/kg)
    found = cumulative_anesthetic_arms(big)
    assert len(found) == 1 and "1.71 mg/kg over 2 min, mg doses at the 70-kg reference weight" in found[0][1], found
    # pushes each anesthetic at the new weight: they warn alone, and the arm is not warned of again together
    sc = _heavy_patient({"a": [_push("90 mg"), _push("90 mg", "2 min")]})
    big, said = dose_warning_messages(sc.replace, population=dataclasses.replace(sc.population, size=100))
    assert len(said) == 2 and cumulative_anesthetic_arms(big) == []


# ---- T4: a record's dose anesthetic alone days earlier does not silence its later back-to-back pushes ------------
def _pushes_record(tmp_path, name="pushes", early=True):
    """WT 70: a rating at 0 h; 1.5 mg/kg IV at 1 h (alone anesthetic: warned when read); 0.9 mg/kg IV at 100 h and
    100.1 h (together anesthetic); a rating at 101 h."""
    path = tmp_path / f"{name}.csv"
    path.write_text(RECORD_HEAD + "1,0,0,,,,,,30,madrs,70,41,F\n"
                    + ("1,1,1,1.5,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n" if early else "")
                    + "1,100,1,0.9,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n"
                      "1,100.1,1,0.9,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n1,101,0,,,,,,20,madrs,,,\n")
    return path


def test_t4_record_pushes_warn_after_an_earlier_anesthetic_dose(tmp_path):
    from ketasim.summary import record_anesthetic_warnings

    for early in (False, True):
        said = record_anesthetic_warnings(read_record_quietly(_pushes_record(tmp_path, f"p{early}", early)))
        # was [] with the 1.5 mg/kg dose four days earlier
        assert len(said) == 1 and said[0].startswith(
            f"p{early}.csv: together the record's doses are in the anesthetic range"), (early, said)
        assert "after the dose at 4.2 d" in said[0]


def test_t4_record_of_anesthetic_doses_alone_says_nothing_more(tmp_path):
    from ketasim.summary import record_anesthetic_warnings

    path = tmp_path / "alone.csv"
    path.write_text(RECORD_HEAD + "1,0,0,,,,,,30,madrs,70,41,F\n1,1,1,1.5,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n"
                    "1,1.1,1,1.2,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n1,24,0,,,,,,20,madrs,,,\n")
    assert record_anesthetic_warnings(read_record_quietly(path)) == []      # each warned when read


def test_t4_simulate_events_warns_of_the_later_pushes(tmp_path):
    from ketasim.app import warn_cumulative_anesthetic
    from ketasim.errors import DoseWarning

    path = _pushes_record(tmp_path)
    rec = read_record_quietly(path)
    with pytest.warns(DoseWarning, match="pushes.csv: together the record's doses are in the anesthetic range"):
        warn_cumulative_anesthetic(rec.to_scenario(), record_source=str(path), record_weight_kg=rec.weight_kg)


# ---- item 3: personal_plan(alternative=) from Python warns of an alternative adding up to the anesthetic range -----
class _Stop(Exception):
    """Raised instead of the fit: these tests judge what comes before it."""


def _stop(*a, **k):
    raise _Stop


def _alt_record(tmp_path):
    path = tmp_path / "alt.csv"
    path.write_text(RECORD_HEAD + "1,0,0,,,,,,30,madrs,70,41,F\n1,0.5,1,0.5,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n"
                    "1,24,0,,,,,,20,madrs,,,\n")
    return read_record_quietly(path)


_PUSHES = [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.9 mg/kg", "at": at} for at in ("48 h", "48.1 h")]


def test_personal_plan_warns_of_an_alternative_adding_up(tmp_path, monkeypatch):
    import ketasim.personal as personal
    from ketasim.errors import DoseWarning

    monkeypatch.setattr(personal, "fit_patient", _stop)
    rec = _alt_record(tmp_path)
    # was silent from Python: only `ketasim plan --alternative` and the plan page ran the check
    with pytest.warns(DoseWarning, match="alternative: together the alternative's doses are in the anesthetic") as got, \
            pytest.raises(_Stop):
        personal.personal_plan(rec, alternative=_PUSHES)
    assert sum("anesthetic range" in str(w.message) for w in got) == 1
    assert got[0].filename == __file__                      # points at the caller's line
    with pytest.raises(_Stop):                              # -W error: any warning here would fail the test
        personal.personal_plan(rec, alternative=_PUSHES, anesthetic_check=False)
    with pytest.raises(_Stop):                              # one push alone: nothing to say
        personal.personal_plan(rec, alternative=_PUSHES[:1])


def test_plan_page_checks_the_alternative_once(tmp_path, monkeypatch):
    """The page runs the check itself (its warning among the record's, under the engine lock) and asks
    personal_plan not to: no second warning, none in the server's log."""
    import ketasim.personal as personal
    from ketasim.web import api

    seen = {}

    def spy(rec, **kw):
        seen.update(kw)
        raise _Stop

    monkeypatch.setattr(personal, "personal_plan", spy)
    record = (RECORD_HEAD + "1,0,0,,,,,,30,madrs,70,41,F\n1,0.5,1,0.5,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n"
              "1,24,0,,,,,,20,madrs,,,\n")
    with pytest.raises(_Stop):
        api._plan_result({"record": record, "alternative": _PUSHES})
    assert seen["anesthetic_check"] is False and len(seen["alternative"]) == 2


# ---- review of the above (s46): Dose.at_weight's default stacklevel; arms passed with a new population ------------
def test_dose_at_weight_warns_at_its_caller():
    import warnings

    sc = _heavy_patient({"a": [_push("90 mg")]})
    dose = sc.arms[0].doses[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        light = dose.at_weight(None)
    assert [w.filename for w in caught] == [__file__] and light.in_anesthetic_range()
    with pytest.raises(TypeError):
        dose.at_weight(None, amount=140)            # other changes would be judged against the old dose


def test_t3_arms_passed_with_a_new_population_are_judged_at_its_weight():
    sc = _heavy_patient({"a": [_push("90 mg")]})
    other = _heavy_patient({"b": [_push("95 mg")]})               # 0.79 mg/kg at 120 kg
    big, said = dose_warning_messages(sc.replace, population=dataclasses.replace(sc.population, size=100),
                                      arms=other.arms)
    assert big.dose_weight_kg is None and big.arms[0].doses[0].weight_kg is None
    assert len(said) == 1 and said[0].startswith("arms.b[0].dose: 95 mg iv-bolus is in the anesthetic range"), said
