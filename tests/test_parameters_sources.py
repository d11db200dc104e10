"""Every parameter has a unit and a source that names where its value comes from (the project's standard: a paper
by DOI or PubMed id, not an IP address or a mirror site; a calibrated value names the calibration run).

``data/parameters.csv``: each non-comment row has a unit that pint reads and a source in one of these forms
(:func:`source_form`; identifiers count in the source or the note column):

1. ``identifier``: a paper identifier: ``doi:10.x``/``DOI 10.x``/``https://doi.org/10.x``, ``PMID n``, a PubMed URL
   (``pubmed.ncbi.nlm.nih.gov/n``, ``ncbi.nlm.nih.gov/pubmed/n``) or a PubMed Central id (``PMCn``, PMC URL);
2. ``fit``: a named fit, ``fitted by benchmarks/<script>.py``, the script existing in this repository (the value is
   that script's output; free parameters fitted by ``ketasim calibrate`` live in free_parameters.json instead);
3. ``reference``: a row of the project's shared reference tables, ``pk_parameters.csv '<quantity>'`` or
   ``clinical_calibration.csv <trial_id>`` (reference/ of the steering repository);
4. ``same as``: ``same as <row>`` naming another row of this file that itself has an accepted source;
5. ``choice``: a labelled modelling choice, the source starting with ``assumption``, ``definition`` or ``numerical``
   followed by its reason (at least :data:`MIN_REASON_WORDS` words: a bare "assumption" fails);
6. ``label``: a drug label with its identifier, ``DailyMed setid <uuid>``;
7. ``database``: a chemical database record, ``PubChem`` (molecular weights);
8. ``publisher page``: a journal article on its publisher's site (a host in :data:`PUBLISHER_HOSTS`) when no DOI or
   PMID was retrieved, with the journal's volume and first page.

Rejected in every row (source and note): URLs on a bare IP address and on mirror or aggregator sites
(:data:`MIRRORS`), except the rows in :data:`PENDING` (row name -> what is still wrong), a place for rows of a group
that other work is editing (:data:`PENDING_PREFIXES`); it is empty: every row's source is in an accepted form.
No row has the confidence "from memory, unverified" (that label is for notes in research files, not for values
the model uses).

``data/free_parameters.json``: names the calibration run that produced it; every free parameter has a unit and a
note; every fitted one has bounds and a prior centre in ``ketasim.calibration`` (FITTED or AE_FITTED).
"""

from __future__ import annotations

import csv
import json
import re
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = resources.files("ketasim") / "data"

MIN_REASON_WORDS = 4
IDENTIFIER = re.compile(r"\bdoi[:\s]\s*10\.\d{4,9}/\S+|doi\.org/10\.\d{4,9}/|\bDOI\s+10\.\d{4,9}/|\bPMID:?\s*\d{5,9}\b"
                        r"|pubmed\.ncbi\.nlm\.nih\.gov/\d{5,9}|ncbi\.nlm\.nih\.gov/pubmed/\d{5,9}|\bPMC\d{6,8}\b", re.I)
FIT = re.compile(r"fitted by (benchmarks/[\w./-]+\.py)")
REFERENCE = re.compile(r"pk_parameters\.csv '[^']+'|clinical_calibration\.csv\s+[a-z][a-z0-9_]+")
SAME_AS = re.compile(r"^same as ([A-Za-z0-9_.\-]*[A-Za-z0-9_])")
CHOICE = re.compile(r"^(assumption|definition|numerical)\b[\s:(,]*(.*)$", re.I | re.S)
LABEL = re.compile(r"DailyMed setid [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DATABASE = re.compile(r"^PubChem\b")
PUBLISHER_HOSTS = ("pubs.asahq.org",)
PUBLISHER = re.compile(r"\d{2,4}\(\d+\):\d+.*https://(" + "|".join(re.escape(h) for h in PUBLISHER_HOSTS) + r")/\S+")
MIRRORS = ("suppr.wilddata.cn", "discovery.researcher.life", "mdedge", "primidi.com", "oddb.org", "scilit.net",
           "scilit.com", "medluna.com", "pure.elsevier.com", "scholars.duke.edu", "gpsych.bmj.com/lookup", "zendy.io",
           "vufind", "togows", "chigaco", "semanticscholar", "researchgate", "scribd", "docslib", "grokipedia")
IP_URL = re.compile(r"https?://\d+\.\d+\.\d+\.\d+")
#: rows whose source still cites a mirror or has no accepted form, in groups other work is editing (see docstring)
PENDING: dict[str, str] = {}
PENDING_PREFIXES = ("ddi.", "pk.demethylation", "pk.midazolam")


def _rows():
    with open(DATA / "parameters.csv", newline="", encoding="utf-8") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    return {r["name"].strip(): r for r in csv.DictReader(lines)}


ROWS = _rows()


def source_form(name: str, rows=ROWS, _depth: int = 0) -> str | None:
    """The accepted form of a row's source (see the module docstring), or None."""
    r = rows[name]
    src, note = r["source"].strip(), (r.get("note") or "").strip()
    if IDENTIFIER.search(src) or IDENTIFIER.search(note):
        return "identifier"
    m = FIT.search(src)
    if m and (ROOT / m.group(1)).is_file():
        return "fit"
    if REFERENCE.search(src):
        return "reference"
    m = SAME_AS.match(src)
    if m:
        other = m.group(1)
        if other in rows and other != name and _depth < 5 and source_form(other, rows, _depth + 1):
            return "same as"
        return None
    m = CHOICE.match(src)
    if m:
        return "choice" if len(re.findall(r"\w+", m.group(2))) >= MIN_REASON_WORDS else None
    if LABEL.search(src):
        return "label"
    if DATABASE.match(src):
        return "database"
    if PUBLISHER.search(src):
        return "publisher page"
    return None


def _mirrors(text: str) -> list[str]:
    found = [m for m in MIRRORS if m in text]
    if IP_URL.search(text):
        found.append("IP-address URL")
    return found


def test_the_file_has_rows():
    assert len(ROWS) > 100
    assert "pk.s_ketamine.cl" in ROWS and "pop.crp_median" in ROWS


def test_every_row_has_a_unit_pint_reads():
    from ketasim.units import registry

    ureg = registry()
    for name, r in ROWS.items():
        unit = r["unit"].strip()
        assert unit, f"{name}: no unit"
        ureg.Unit(unit)         # raises on a typo


@pytest.mark.parametrize("name", sorted(n for n in ROWS if n not in PENDING))
def test_every_source_has_an_accepted_form(name):
    r = ROWS[name]
    assert r["source"].strip(), f"{name}: no source"
    assert source_form(name), f"{name}: source in no accepted form (see this module's docstring): {r['source'][:200]}"


def test_no_mirror_or_ip_address_urls():
    bad = {n: _mirrors(r["source"] + " " + (r.get("note") or "")) for n, r in ROWS.items() if n not in PENDING}
    assert not {n: m for n, m in bad.items() if m}


def test_pending_rows_are_only_in_the_groups_being_edited_and_still_exist():
    for name in PENDING:
        assert name in ROWS, f"{name}: not a row any more; remove it from PENDING"
        assert name.startswith(PENDING_PREFIXES), name


def test_no_value_is_marked_from_memory():
    assert not [n for n, r in ROWS.items() if "from memory" in r["confidence"].lower()]


def test_the_checker_rejects_what_it_should():
    """The forms are strict enough to fail: a bare assumption, an unresolved 'same as', a mirror, a missing script."""
    base = {"unit": "L", "confidence": "as stated", "note": ""}
    rows = {
        "a": {**base, "name": "a", "source": "assumption"},
        "b": {**base, "name": "b", "source": "same as no.such_row"},
        "c": {**base, "name": "c", "source": "Ebert 1997 Eur J Pharmacol 333:99-104"},
        "d": {**base, "name": "d", "source": "fitted by benchmarks/no_such_script.py"},
        "e": {**base, "name": "e", "source": "same as a"},
        "f": {**base, "name": "f", "source": "Ebert 1997 PMID 9311667"},
        "g": {**base, "name": "g", "source": "assumption: half-activation at 1.5x baseline BDNF"},
        "h": {**base, "name": "h", "source": "same as g (the Hill slope)"},
        "i": {**base, "name": "i", "source": "x", "note": "Olofsen 2012 doi:10.1097/x"},
    }
    assert [k for k in rows if source_form(k, rows)] == ["f", "g", "h", "i"]
    assert _mirrors("https://suppr.wilddata.cn/browses/detail/pubmed/22286159") == ["suppr.wilddata.cn"]
    assert _mirrors("http://47.251.13.51:8081/22516044") == ["IP-address URL"]


def test_free_parameters_name_their_calibration_run_and_have_bounds_and_priors():
    from ketasim import calibration
    from ketasim.units import registry

    data = json.loads((DATA / "free_parameters.json").read_text(encoding="utf-8"))
    assert data["calibration_run"].strip().startswith("ketasim-calibrate")
    known = {**calibration.FITTED, **calibration.AE_FITTED}
    for name, p in data["parameters"].items():
        registry().Unit(p["unit"])
        assert p.get("note", "").strip(), f"free parameter {name}: no note"
        if p.get("fitted"):
            assert name in known, f"free parameter {name} is fitted but has no bounds or prior centre"
            _, lo, hi, centre = known[name]
            assert lo <= centre <= hi and lo <= p["value"] <= hi, name


def test_a_parameter_file_edited_in_place_is_read_again(tmp_path):
    """load_parameters caches per file version (path, modification time, size): an API user who edits or replaces a
    set at the same path in one process gets the new values (it was cached by path alone)."""
    import json
    import os

    from ketasim.calibration import default_free_parameters_path
    from ketasim.parameters import load_parameters

    data = json.loads(default_free_parameters_path().read_text(encoding="utf-8"))
    path = tmp_path / "set.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    first = load_parameters(str(path))
    assert load_parameters(str(path)) is first                 # unchanged file: the cached set
    name = next(iter(data["parameters"]))
    data["parameters"][name]["value"] = 1.5 * first.free_value(name)
    path.write_text(json.dumps(data), encoding="utf-8")
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 1_000_000))   # coarse file clocks
    assert load_parameters(str(path)).free_value(name) == pytest.approx(1.5 * first.free_value(name))
