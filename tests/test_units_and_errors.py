"""Units at the boundary and loud, one-line user errors that name the field."""

from __future__ import annotations

import pickle

import pytest

import ketasim
from ketasim import errors as E
from ketasim.cli import main
from ketasim.units import parse_dose, parse_quantity, parse_time_h

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}


def scenario_dict(line=None, population=None, **top):
    d = {"name": "e", "population": {"size": 1, **(population or {})}, "arms": {"k": [line if line is not None else KET]}}
    d.update(top)
    return d


def with_line(**changes):
    line = {**KET, **changes}
    return scenario_dict({k: v for k, v in line.items() if v is not None})


def assert_one_line_naming(err: BaseException, *fragments: str):
    msg = str(err)
    assert "\n" not in msg, f"message is not one line: {msg!r}"
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"


# (id, scenario mapping, expected exception class, fragments the one-line message must contain)
USER_ERRORS = [
    ("missing unit", with_line(dose="0.5"), E.UnitError, ["arms.k[0].dose", "unit is missing"]),
    ("bare number", with_line(dose=0.5), E.UnitError, ["arms.k[0].dose", "unit is missing"]),
    ("wrong unit", with_line(dose="0.5 mL"), E.UnitError, ["arms.k[0].dose", "'mL'"]),
    ("unknown unit", with_line(dose="0.5 zorks"), E.UnitError, ["arms.k[0].dose", "zorks"]),
    ("unknown time unit", with_line(duration="40 zorks"), E.UnitError, ["arms.k[0].duration", "zorks"]),
    ("time given as mass", with_line(duration="40 mg"), E.UnitError, ["arms.k[0].duration"]),
    ("negative dose", with_line(dose="-0.5 mg/kg"), E.InvalidRegimenError, ["arms.k[0].dose", "positive"]),
    ("zero dose", with_line(dose="0 mg"), E.InvalidRegimenError, ["arms.k[0].dose", "> 0"]),
    ("unknown drug", with_line(drug="ketamin"), E.InvalidRegimenError, ["arms.k[0].drug", "ketamin"]),
    ("unknown route", with_line(route="rectal"), E.InvalidRegimenError, ["arms.k[0].route", "rectal"]),
    ("midazolam route", with_line(drug="midazolam", route="intranasal", dose="2 mg", duration=None),
     E.InvalidRegimenError, ["arms.k[0].route", "midazolam", "intranasal"]),
    ("infusion without duration", with_line(duration=None), E.InvalidRegimenError, ["arms.k[0].duration"]),
    ("duration on a bolus", with_line(route="iv-bolus"), E.InvalidRegimenError, ["arms.k[0].duration", "iv-bolus"]),
    ("duration on IM", with_line(route="im"), E.InvalidRegimenError, ["arms.k[0].duration", "im"]),
    ("overlapping schedule", with_line(every="30 min", count=3), E.InvalidRegimenError, ["arms.k[0].every", "overlaps"]),
    ("repeat without interval", with_line(count=3), E.InvalidRegimenError, ["arms.k[0].every"]),
    ("count 0", with_line(count=0), E.InvalidRegimenError, ["arms.k[0].count"]),
    ("count not whole", with_line(count=2.5, every="1 d"), E.InvalidRegimenError, ["arms.k[0].count"]),
    ("negative start", with_line(at="-1 h"), E.InvalidRegimenError, ["arms.k[0].at"]),
    ("absurd mg/kg", with_line(dose="20 mg/kg"), E.InvalidRegimenError, ["arms.k[0].dose", "refused"]),
    ("absurd grams", with_line(dose="2 g", route="iv-bolus", duration=None), E.InvalidRegimenError,
     ["arms.k[0].dose", "refused"]),
    ("unknown dose key", with_line(rate="1 mg/h"), E.InvalidRegimenError, ["arms.k[0]", "rate"]),
    ("unknown top-level key", scenario_dict(populaton={}), E.ScenarioFileError, ["populaton", "unknown field"]),
    ("unknown population key", scenario_dict(population={"wieght_kg": {"mean": 70}}), E.ScenarioFileError,
     ["population.wieght_kg", "unknown field"]),
    ("missing name", {"arms": {"k": [KET]}}, E.ScenarioFileError, ["name", "missing"]),
    ("no arms", {"name": "e", "arms": {}}, E.InputError, ["arms"]),
    ("size 0", scenario_dict(population={"size": 0}), E.InputError, ["population.size"]),
    ("unknown condition", scenario_dict(population={"condition": "flu"}), E.InputError, ["population.condition", "flu"]),
    ("unknown comedication", scenario_dict(population={"comedications": ["aspirin"]}), E.InputError,
     ["population.comedications", "aspirin"]),
    ("unknown genotype", scenario_dict(population={"genotype": "val/xyz"}), E.InputError, ["population.genotype"]),
    ("female fraction > 1", scenario_dict(population={"female_fraction": 1.5}), E.InputError,
     ["population.female_fraction"]),
    ("bad experiment", scenario_dict(experiments={"ampa_block": 2.0}), E.InputError, ["ampa_block"]),
    ("output every 0", scenario_dict(output={"every": "0 min"}), E.InputError, ["output.every"]),
]


@pytest.mark.parametrize("data, cls, fragments", [c[1:] for c in USER_ERRORS], ids=[c[0] for c in USER_ERRORS])
def test_user_error_is_one_line_naming_the_field(data, cls, fragments):
    with pytest.raises(cls) as info:
        ketasim.scenario_from_dict(data)
    assert_one_line_naming(info.value, *fragments)
    # the hierarchy: every user error is a KetasimError and a ValueError
    assert isinstance(info.value, E.KetasimError) and isinstance(info.value, ValueError)


def test_errors_pickle():
    """Errors cross process pools: they survive a pickle round trip with their class and message."""
    err = E.InvalidRegimenError("arms.k[0].dose: must be positive")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is E.InvalidRegimenError and str(back) == str(err)


def test_anesthetic_range_dose_warns_but_runs():
    with pytest.warns(E.DoseWarning, match="anesthetic"):
        sc = ketasim.quick_scenario("racemic-ketamine", "iv-bolus", "2 mg/kg", until="6 h", output_every="1 h")
    res = ketasim.simulate(sc, typical=True)
    assert res.trajectories()["cp_ketamine_ng_ml"].max() > 0.0


def test_subanesthetic_dose_does_not_warn():
    # filterwarnings = error: any warning here would fail the test
    ketasim.quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg")
    ketasim.quick_scenario("esketamine", "intranasal", "84 mg")


def test_limit_doses_are_accepted():
    """The refusal limits are strict inequalities: 10 mg/kg (and 700 mg = 10 mg/kg at the 70 kg reference weight)
    are allowed, with the anesthetic warning; just above is refused."""
    with pytest.warns(E.DoseWarning):
        ketasim.scenario_from_dict(with_line(dose="10 mg/kg", route="iv-bolus", duration=None))
    with pytest.warns(E.DoseWarning):
        ketasim.scenario_from_dict(with_line(dose="700 mg", route="iv-bolus", duration=None))
    with pytest.raises(E.InvalidRegimenError):
        ketasim.scenario_from_dict(with_line(dose="10.1 mg/kg", route="iv-bolus", duration=None))


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, hours", [("40 min", 2 / 3), ("3.5 d", 84.0), ("2 h", 2.0), ("1 week", 168.0),
                                         ("90 s", 0.025), ("0.5 day", 12.0)])
def test_time_conversions(text, hours):
    assert parse_time_h(text, "t") == pytest.approx(hours, rel=1e-12)  # pint's exact factors: rounding only


@pytest.mark.parametrize("text, value, kind", [("1 g", 1000.0, "mg"), ("56mg", 56.0, "mg"), ("56 mg", 56.0, "mg"),
                                               ("500 ug/kg", 0.5, "mg/kg"), ("500 µg/kg", 0.5, "mg/kg"),
                                               ("0.5 mg/kg", 0.5, "mg/kg"), ("250 ug", 0.25, "mg")])
def test_dose_conversions(text, value, kind):
    v, k = parse_dose(text, "dose")
    assert k == kind
    assert v == pytest.approx(value, rel=1e-12)


def test_converted_doses_give_identical_regimens():
    """'500 ug/kg' and '0.5 mg/kg', '1 g' and '1000 mg' build the same regimen."""
    a = ketasim.scenario_from_dict(with_line(dose="500 ug/kg")).arms[0].doses[0]
    b = ketasim.scenario_from_dict(with_line(dose="0.5 mg/kg")).arms[0].doses[0]
    assert a.amount == pytest.approx(b.amount, rel=1e-12) and a.per_kg and b.per_kg
    d40 = ketasim.scenario_from_dict(with_line(duration="40 min")).arms[0].doses[0]
    assert d40.duration_h == pytest.approx(2 / 3, rel=1e-12)
    sched = ketasim.scenario_from_dict(with_line(every="3.5 d", count=3)).arms[0].administrations()
    assert [x.start_h for x in sched] == pytest.approx([0.0, 84.0, 168.0], rel=1e-12)


def test_quantity_with_incompatible_target_names_the_field():
    with pytest.raises(E.UnitError) as info:
        parse_quantity("3 kg", "hour", "output.until")
    assert_one_line_naming(info.value, "output.until")


# ---------------------------------------------------------------------------------------------------------------
def test_missing_scenario_file(tmp_path):
    with pytest.raises(E.ScenarioFileError) as info:
        ketasim.load_scenario(tmp_path / "nope.yaml")
    assert_one_line_naming(info.value, "nope.yaml")


def test_malformed_yaml_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\narms: {k: [ {drug: esketamine, route: intranasal\n", encoding="utf-8")
    with pytest.raises(E.ScenarioFileError) as info:
        ketasim.load_scenario(p)
    assert_one_line_naming(info.value, "bad.yaml", "YAML")


def test_yaml_that_is_not_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(E.ScenarioFileError) as info:
        ketasim.load_scenario(p)
    assert_one_line_naming(info.value, "list.yaml")      # the file (was 'scenario', naming no file)


# ---------------------------------------------------------------------------------------------------------------
# CLI: user errors print exactly one line 'error: ...' on stderr and return 2; never a traceback.
CLI_USER_ERRORS = [
    ("missing unit", ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56"], "dose"),
    ("unknown drug", ["simulate", "--drug", "ketamin", "--route", "iv-infusion", "--dose", "0.5 mg/kg"],
     "error: --drug: unknown drug"),
    ("unknown route", ["simulate", "--drug", "esketamine", "--route", "rectal", "--dose", "56 mg"],
     "error: --route: unknown route"),
    ("absurd dose", ["simulate", "--drug", "racemic-ketamine", "--route", "iv-bolus", "--dose", "2 g"], "dose"),
    ("missing file", ["simulate", "/nonexistent/scenario.yaml"], "scenario.yaml"),
    ("no regimen", ["simulate"], "simulate"),
    ("bad experiment", ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg",
                        "--experiment", "nmda_block=1"], "experiment"),
]


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CLI_USER_ERRORS], ids=[c[0] for c in CLI_USER_ERRORS])
def test_cli_user_error_is_one_line(capsys, argv, fragment):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and fragment in lines[0]
    assert "Traceback" not in out + err


def test_cli_malformed_yaml(capsys, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n", encoding="utf-8")
    code = main(["simulate", str(p)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error:") and "bad.yaml" in err


@pytest.mark.parametrize("argv, fragment", [
    (["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg", "--count", "abc"], "--count"),
    (["simulate", "--no-such-option"], "--no-such-option"),
    (["no-such-command"], "no-such-command"),
], ids=["bad option value", "unknown option", "unknown command"])
def test_cli_usage_errors_do_not_traceback(capsys, argv, fragment):
    """Regression (fixed in 7b200e2): main() caught usage errors with the external click's ClickException, but
    typer 0.29 raises its vendored typer._click classes, so a mistyped option escaped as a traceback.
    Usage errors keep the framework's usage message (several lines); they must exit 2 and name the culprit."""
    try:
        code = main(argv)
    except Exception as e:  # noqa: BLE001 - the point is that nothing escapes
        raise AssertionError(f"main() raised {type(e).__name__}: {e}") from None
    _, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err
    assert fragment in err


def test_parameter_file_row_with_an_unquoted_comma_is_refused(tmp_path):
    """An unquoted comma in a source or note adds a field that csv.DictReader would drop silently (issue 7 PK)."""
    from ketasim.errors import ParameterSetError
    from ketasim.parameters import _read_literature

    path = tmp_path / "parameters.csv"
    path.write_text("name,value,unit,source,confidence,note\n"
                    "pk.x,1.0,L,a source,as stated,a note\n"
                    "pk.y,1.0,L,a source,as stated,a note, with a comma\n", encoding="utf-8")
    with pytest.raises(ParameterSetError, match="pk.y"):
        _read_literature(path)


@pytest.mark.parametrize("line, field, hint", [
    ({"duration": "40"}, "arms.k[0].duration", "'40 min' or '40 h'"),
    ({"duration": 40}, "arms.k[0].duration", "'40 min' or '40 h'"),
    ({"at": "2"}, "arms.k[0].at", "'2 min' or '2 h'"),
    ({"dose": "0.5"}, "arms.k[0].dose", "'0.5 mg/kg' or '0.5 mg'"),
], ids=["duration text", "duration number", "start time", "dose"])
def test_missing_unit_hint_names_a_unit_of_the_right_kind(line, field, hint):
    """Qualification finding: a time without its unit was told to write e.g. '40 mg'; a bare dose of 0.5 was
    offered only '0.5 mg' (80-fold below the 0.5 mg/kg the user most likely meant)."""
    with pytest.raises(E.UnitError) as info:
        ketasim.scenario_from_dict(with_line(**line))
    assert_one_line_naming(info.value, field, "unit is missing", hint)
    assert " mg'" not in str(info.value) or field.endswith("dose")


def test_cli_pk_times_without_unit_suggest_time_units(capsys):
    code = main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg", "--pk-times", "5,10"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "--pk-times" in err and "'5 min' or '5 h'" in err and "mg" not in err


def test_every_without_count_is_refused_not_ignored(capsys):
    """Qualification finding: 'every: 3.5 d' without count gave one dose in silence (count defaults to 1)."""
    with pytest.raises(E.InvalidRegimenError) as info:
        ketasim.scenario_from_dict(with_line(every="3.5 d"))
    assert_one_line_naming(info.value, "arms.k[0].count", "every", "count is missing")
    sc = ketasim.scenario_from_dict(with_line(every="3.5 d", count=1))       # an explicit single dose is fine
    assert len(sc.arms[0].doses[0].administrations()) == 1
    code = main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg", "--every", "3.5 d"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "--count" in err and "Traceback" not in err


@pytest.mark.parametrize("extra, named", [
    (["--every", "3.5 d", "--count", "4"], "--every, --count"),
    (["--duration", "20 min"], "--duration"),
    (["--weight", "60"], "--weight"),
], ids=["every and count", "duration", "weight"])
def test_cli_quick_options_beside_a_scenario_file_are_refused(capsys, tmp_path, extra, named):
    """Qualification finding: with a scenario file, --every/--count/--duration/--weight were ignored in silence."""
    p = tmp_path / "s.yaml"
    p.write_text("name: s\narms:\n  k: [{drug: esketamine, route: intranasal, dose: 56 mg}]\n", encoding="utf-8")
    code = main(["simulate", str(p), *extra])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "not both" in err and named in err


def test_a_scale_without_a_condition_simulates_the_condition_it_reads(capsys):
    """New-user finding: `--scale caps5` (or population.scale: caps5 without a condition) simulated a depression
    patient rated on the PTSD scale; the scale now names the condition unless the condition is given."""
    from ketasim.scenario import quick_scenario

    for scale, condition in (("caps5", "ptsd"), ("hama", "anxiety"), ("ssi", "suicidal_ideation"), ("madrs", "depression")):
        sc = ketasim.scenario_from_dict({"name": "s", "population": {"scale": scale},
                                         "arms": {"k": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]}})
        assert sc.population.condition == condition, scale
        assert quick_scenario("esketamine", "intranasal", "56 mg", scale=scale).population.condition == condition
    # a stated condition the scale cannot rate is refused, as the quick form's --condition/--scale pair is (it won
    # before, silently: depression's drug effect scored in CAPS-5 points; thirty-seventh session)
    with pytest.raises(ketasim.errors.InputError, match="population.condition: depression contradicts"):
        ketasim.scenario_from_dict({"name": "s", "population": {"scale": "caps5", "condition": "depression"},
                                    "arms": {"k": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]}})
    assert ketasim.scenario_from_dict({"name": "s", "arms": {"k": [{"drug": "esketamine", "route": "intranasal",
                                                                    "dose": "56 mg"}]}}).population.condition == "depression"
