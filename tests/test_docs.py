"""The documentation site builds offline with warnings as errors, its generated pages follow the code and data,
and every tutorial script runs (at a small size), so the docs cannot rot."""

from __future__ import annotations

import html
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = sorted(p for p in (DOCS / "tutorials").glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Build the site once (sphinx-build -W: any warning fails), small populations for the figures."""
    pytest.importorskip("sphinx", reason="install the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "KETASIM_DOCS_N": "30"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def _text(page: Path) -> str:
    """Visible text, whitespace collapsed (code is split into spans)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    return re.sub(r"\s+", " ", text)


def test_site_has_every_page_and_figure(site):
    for page in ("index", "getting-started", "contracts", "model", "validation", "teachers", "api", "changelog",
                 "howto/one-patient", "howto/dose-response", "howto/placebo-trial", "howto/observed-trial", "howto/external-qualification", "howto/crossover",
                 "howto/withdrawal", "howto/flexible-dosing", "howto/ddi", "howto/pk-endpoints", "howto/covariates", "howto/power", "howto/sensitivity", "howto/personalised-plan", "howto/scale-out"):
        assert (site / f"{page}.html").is_file(), page
    for fig in ("cascade", "dose_response", "hours_vs_weeks", "experiments", "monitoring", "qualification"):
        png = site / "_images" / f"{fig}.png"
        assert png.is_file() and png.stat().st_size > 10_000, fig
    # offline: no page loads a script or stylesheet from the network
    for page in site.rglob("*.html"):
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', page.read_text(encoding="utf-8")), page


def test_model_page_lists_every_parameter_with_its_source(site):
    from ketasim import load_parameters

    text = _text(site / "model.html")
    ps = load_parameters()
    assert ps.version in text                        # generated from the installed parameter set
    assert text.count("https://") >= 10               # and the sources' links are there
    for p in [*ps.literature.values(), *ps.free.values()]:
        assert p.name in text, p.name
    alnum = re.sub(r"[^0-9A-Za-z]", "", text)       # smart quotes and dashes aside
    for p in ps.literature.values():
        for words in re.split(r"https?://\S+", p.source):     # links are shown as links (escapes may be decoded)
            assert re.sub(r"[^0-9A-Za-z]", "", words) in alnum, (p.name, p.source)
    # the equations come from the code: the link modules' docstrings, and the declared model where there is one
    try:
        from ketasim.model import DEFAULT_MODEL
    except ImportError:
        for eq in ("G* = (1 + g_dis * B_I) * (1 - B_E)", "D* = (1 - R_drug)(1 - R_placebo)(1 - R_AD)"):
            assert eq in text, eq
    else:
        for st in DEFAULT_MODEL.states:
            assert f"d{st.name}/dt" in text and (st.target or st.drive) in text, st.name


def test_contract_page_lists_what_the_reader_accepts(site):
    from ketasim.population import KNOWN_COMEDICATIONS
    from ketasim.regimen import Drug, Route
    from ketasim.scenario import KNOWN_MEASURES
    from ketasim.solver.kernel import OUT_NAMES

    text = _text(site / "contracts.html")
    for value in [*(d.value for d in Drug), *(r.value for r in Route), *KNOWN_MEASURES, *KNOWN_COMEDICATIONS,
                  *OUT_NAMES]:
        assert value in text, value


def test_validation_page_reports_its_own_run(site):
    text = _text(site / "validation.html")
    m = re.search(r"(\d+) calibration rows modelled", text)
    assert m and int(m.group(1)) > 100
    assert re.search(r"mean absolute error \d+\.\d\d score points", text)
    assert "30 virtual patients per arm" in text or "50 virtual patients per arm" in text


def test_parameters_are_placed_on_their_links(monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS / "_ext"))
    import ketasim_docs as kd
    from ketasim import load_parameters

    title = {i: link[0] for i, link in enumerate(kd.LINKS)}

    def place(name: str, free: bool = False) -> str:
        return title.get(kd.link_of(name, free=free), "other")

    assert "NMDA" in place("pd.ki.s_ketamine") and "effect site" in place("pk.fu")
    assert "Pharmacokinetics" in place("pk.hepatic_blood_flow") and "Regimen" in place("route.oral.ka")
    assert "Symptoms" in place("emax_drug", True) and "Side effects" in place("cadss_max", True)
    assert "Synaptic" in place("spine_gain", True) and "BDNF" in place("pd.anesthesia.threshold")
    # whole families fall back to their link; an unknown one lands in "Other parameters" (still listed)
    assert "Pharmacokinetics" in place("pk.some_new_set.v1") and place("pd.brand_new.parameter") == "other"
    ps = load_parameters()
    others = [p for p in ps.literature if place(p) == "other"] + [p for p in ps.free if place(p, True) == "other"]
    assert len(others) < 0.1 * (len(ps.literature) + len(ps.free)), others      # most sit on their link


@pytest.mark.parametrize("script", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KETASIM_TUTORIAL_N", "20")
    monkeypatch.setenv("KETASIM_TUTORIAL_OUT", str(tmp_path))
    monkeypatch.syspath_prepend(str(script.parent))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip(), "a tutorial shows its results"
    expected = {"one_patient": "plasma ketamine peaks at", "dose_response": "inverted U",
                "placebo_trial": "ketamine vs saline", "crossover": "ketamine vs midazolam",
                "withdrawal": "re-randomized", "ddi": "Cmax", "sensitivity_by_hand": "MADRS change at 24 h",
                "personal_plan": "plan #1: p_target", "flexible_dosing": "final dose 84 mg",
                "observed_trial": "observed vs predicted", "external_qualification": "per domain",
                "covariates": "no-effect bounds", "power": "n for 80%"}
    assert expected[script.stem] in out
    # a value the CLI prints as "not reached" (a Kaplan-Meier median of fewer than half relapsing) printed as "nan"
    # in withdrawal.py (thirty-ninth session, new-user pass)
    import re

    assert not re.search(r"(?<![A-Za-z_])nan(?![A-Za-z_])", out, re.I), out


def test_every_tutorial_is_on_a_page():
    pages = "".join(p.read_text(encoding="utf-8") for p in (DOCS / "howto").glob("*.md"))
    for script in TUTORIALS:
        assert f"tutorials/{script.name}" in pages, script.name
    for yaml_file in (DOCS / "tutorials").glob("*.yaml"):
        assert f"tutorials/{yaml_file.name}" in pages, yaml_file.name


# ---- the dashboard serves the built site at /docs/ and links to the teachers' page --------------------------------
def _asgi_get(app, path: str) -> tuple[int, bytes]:
    import asyncio

    messages = []
    sent_request = False
    done = None

    async def receive():
        # the request once; then (as a client that hung up after the response) a disconnect, so that the
        # responses' disconnect listeners end instead of polling forever
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    async def run():
        nonlocal done
        done = asyncio.Event()
        await app(scope, receive, send)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "server": ("127.0.0.1", 8050), "client": ("127.0.0.1", 1)}
    asyncio.run(asyncio.wait_for(run(), timeout=60))
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def test_dashboard_serves_the_docs(site, monkeypatch, tmp_path):
    pytest.importorskip("starlette")
    from ketasim.web import server

    index = (server.STATIC / "index.html").read_text(encoding="utf-8")
    assert 'href="/docs/teachers.html"' in index
    monkeypatch.setenv("KETASIM_DOCS_DIR", str(site))
    status, body = _asgi_get(server.create_app(), "/docs/teachers.html")
    assert status == 200 and b"inverted U" in body
    monkeypatch.setenv("KETASIM_DOCS_DIR", str(tmp_path))          # not built there
    status, body = _asgi_get(server.create_app(), "/docs/teachers.html")
    assert status == 404 and b"not built" in body
