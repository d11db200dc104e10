"""The personal-plan page and its API: the record goes in as text, the plan contract and figures come back,
bad records come back as the CLI's one-line message, and the page is offline."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("plotly")

from ketasim.web import api  # noqa: E402

STATIC = Path(api.__file__).with_name("static")
NOTICE = "ketasim is a research and teaching tool, not medical advice."


@pytest.fixture(scope="module")
def server():
    from ketasim.web.server import ServerThread

    with ServerThread(warm=False) as s:
        yield s


def _request(url, data=None):
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def test_plan_page_is_offline_and_served(server):
    for name in ("plan.html", "plan.js"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), name
        assert "http://" not in text and "https://" not in text
    status, body = _request(server.url + "plan")
    assert status == 200 and b"personal plan" in body and body.count(NOTICE.encode()) == 1
    status, body = _request(server.url + "static/plan.js")
    assert status == 200


def test_plan_api_round_trip_and_errors(server):
    status, body = _request(server.url + "api/plan/example")
    csv = json.loads(body)["csv"]
    assert status == 200 and csv.startswith("ID,TIME,EVID")
    status, body = _request(server.url + "api/plan", {"record": csv, "target": "score<=15",
                                                   "limits": "cadss=25,drugs=esketamine,routes=intranasal"})
    assert status == 200, body[:300]
    out = json.loads(body)
    res = out["result"]
    assert res["notice"] == NOTICE and res["limits"]["cadss"] == 25
    assert len([e for e in res["forecast"] if e["variable"] == "score"]) == 4
    assert res["plans"] and out["figures"]["forecast"]["data"] and out["plan_table"]
    # observed ratings are drawn with the forecast
    obs_trace = [t for t in out["figures"]["forecast"]["data"] if t["name"] == "observed ratings"][0]
    assert len(obs_trace["y"]) == 6
    bad = csv.replace("101,24.5,0", "101,-24.5,0")
    status, body = _request(server.url + "api/plan", {"record": bad})
    err = json.loads(body)
    assert status == 422 and err["errors"][0]["message"].startswith("record row 5, column TIME")
    status, body = _request(server.url + "api/plan", {"record": csv, "probability": "often"})
    assert status == 422 and "probability" in json.loads(body)["errors"][0]["message"]
    status, body = _request(server.url + "api/plan/report.html",
                            {"record": csv, "limits": "drugs=esketamine,routes=intranasal"})
    assert status == 200 and body.count(NOTICE.encode()) == 1
