"""Session 41 new-user pass, helper H1 (plan records, qualify, sensitivity, export, trial designs, tutorials)."""

from __future__ import annotations

import warnings

import pytest

from ketasim.errors import RecordWarning

_HEADER = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"


@pytest.mark.parametrize("drug,route,why", [("oral-antidepressant", "oral", "an oral antidepressant's dose is not"),
                                            ("placebo", "intranasal", "a placebo has no drug amount")])
def test_record_amount_of_an_unmodelled_dose_warns_that_it_is_ignored(drug, route, why):
    # a record's 'oral-antidepressant, 20 mg' (or a placebo spray's 56 mg) was read and ignored without a word, while
    # the same dose in a scenario line warns
    from ketasim.record import record_from_csv_text

    text = (_HEADER + "7,0,0,,,,,,34,madrs,70,50,M\n"
            f"7,0.5,1,20,mg,,{drug},{route},,,,,\n"
            "7,24,0,,,,,,24,madrs,,,\n")
    with pytest.warns(RecordWarning, match=rf"^r\.csv row 2, column AMT: {why}.*; 20 mg is ignored \(leave AMT"):
        rec = record_from_csv_text(text, source="r.csv")
    assert rec.doses[0].drug.value == drug
    # without an amount: silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record_from_csv_text(text.replace(f"20,mg,,{drug}", f",,,{drug}"), source="r.csv")
