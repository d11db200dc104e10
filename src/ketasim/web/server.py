"""The local dashboard: a small Starlette app serving one static page and a JSON API.

``ketasim serve`` calls :func:`serve`. Everything the page needs (HTML, CSS, JS and plotly.js from the
installed ``plotly`` wheel) is served from the installed package: the dashboard works with no internet.
Handlers parse, delegate to :mod:`ketasim.web.api` and format; user errors come back as 422 with the
engine's one-line message at the offending field, and any other failure as a 500 JSON answer — the server
keeps running either way.

It is a local app, and any web page the user opens can send requests to it, so :class:`LocalGuard` lets in only
requests whose ``Host`` is the served address (DNS rebinding), whose ``Origin`` (if any) is the dashboard itself,
and whose POST body is JSON (``Content-Type: application/json``, which a cross-site form or ``text/plain`` POST
cannot send without a CORS preflight that is never granted) of at most ``MAX_BODY`` bytes; every answer carries
security headers (CSP allowing only the dashboard's own scripts, ``frame-ancestors 'none'``, nosniff ...).
Requests time out after ``REQUEST_TIMEOUT_S``; a client that disconnects gets its request abandoned, and a trial
whose page stops polling for ``TRIAL_ABANDON_S`` (or that is cancelled with DELETE) stops at its next chunk.
Serving beyond loopback needs ``--allow-remote``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import itertools
import json
import logging
import re
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(f"the ketasim dashboard needs the 'web' extra: pip install 'ketasim[web]' ({e})") from None

from ..errors import InputError, KetasimError, argument, command_line
from . import api

#: Largest request body (bytes): a full form is ~2 KB.
MAX_BODY = 64 * 1024
#: Seconds a simulate/download request may compute before it is answered with 503.
REQUEST_TIMEOUT_S = 60.0
#: What a plan that timed out on the page says to do (a long record: many ratings, months of sessions).
PLAN_TIMEOUT_HINT = ("; the plan was stopped (a long record takes longer: plan it on the command line, `ketasim plan "
                     "RECORD.csv --report plan.html`, which has no time limit)")
#: A running trial whose page has not polled for this long is cancelled; any trial stops after TRIAL_TIMEOUT_S.
TRIAL_ABANDON_S = 30.0
TRIAL_TIMEOUT_S = 900.0
#: Seconds a power analysis (/api/power) may compute: its pools are bounded by ``api.MAX_POWER_SECONDS`` (estimated)
#: and its replicates by ``api.MAX_POWER_DRAWS``; it yields the engine between chunks and stops at the next one when
#: the client goes away or this passes.
POWER_TIMEOUT_S = 180.0
#: The page's own scripts and styles only (plotly.js is served from /vendor); plotly draws inline styles and
#: data: images (its toolbar icons and PNG export).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
#: Reports are self-contained pages with inline scripts (plotly and the figures): no network at all.
REPORT_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
              "font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"), (b"cross-origin-opener-policy", b"same-origin"),
                    (b"cross-origin-resource-policy", b"same-origin"), (b"cache-control", b"no-store")]


Cancelled = api.Cancelled
#: Seconds a running trial yields the engine between its chunks, so that interactive requests get through.
TRIAL_YIELD_S = 0.02


def release_memory() -> None:
    """After a trial: collect garbage and ask glibc to hand freed heap pages back to the OS (without this the
    server's resident memory stays at its peak after a large trial; measured in benchmarks/load_server.py)."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def is_loopback(host: str) -> bool:
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


class LocalGuard:
    """Pure ASGI middleware: Host and Origin checks, JSON-only bounded POST bodies, security headers."""

    def __init__(self, app, *, allowed_hosts=None, max_body: int = MAX_BODY):
        self.app = app
        # "host:port" entries, or "*"; None: any loopback address on any port
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.max_body = max_body

    async def _reject(self, send, status: int, message: str, field: str = "request") -> None:
        body = json.dumps({"ok": False, "errors": [{"field": field, "message": message}], "warnings": []}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"content-security-policy", CSP.encode()), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": body})

    def _host_ok(self, host: str) -> bool:
        if self.allowed is None:
            if host.startswith("[") and "]" in host:
                name = host[1:host.index("]")]
            else:
                name = host.split(":", 1)[0]
            return bool(name) and is_loopback(name)
        return "*" in self.allowed or host.lower() in self.allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not self._host_ok(host):
            return await self._reject(send, 421, f"request: host {host[:80]!r} is not this dashboard's address")
        origin = headers.get("origin")
        if origin is not None and origin != "null":
            o = origin.split("://", 1)
            if len(o) != 2 or o[0] not in ("http", "https") or not self._host_ok(o[1]):
                return await self._reject(send, 403, "request: cross-origin requests are refused")
        elif origin == "null":
            return await self._reject(send, 403, "request: cross-origin requests are refused")
        if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return await self._reject(send, 403, "request: cross-site requests are refused")
        method = scope["method"]
        if method in ("POST", "PUT", "PATCH"):
            ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if ctype != "application/json":
                return await self._reject(send, 415, "request: the body must be JSON (Content-Type: application/json)")
            try:
                declared = int(headers.get("content-length", "0") or 0)
            except ValueError:
                return await self._reject(send, 400, "request: bad Content-Length")
            if declared > self.max_body:
                return await self._reject(send, 413, f"request: the body is larger than {self.max_body} bytes")
            chunks, size = [], 0
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return None
                chunk = msg.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    return await self._reject(send, 413, f"request: the body is larger than {self.max_body} bytes")
                chunks.append(chunk)
                if not msg.get("more_body"):
                    break
            body = b"".join(chunks)
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            inner_receive = replay
        else:
            inner_receive = receive

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                hs = list(message.get("headers", []))
                names = {k.lower() for k, _ in hs}
                if b"content-security-policy" not in names:
                    hs.append((b"content-security-policy", CSP.encode()))
                hs += [h for h in SECURITY_HEADERS if h[0] not in names]
                message = {**message, "headers": hs}
            await send(message)

        return await self.app(scope, inner_receive, send_with_headers)

from .figures import plotly_js_path

STATIC = Path(__file__).with_name("static")
log = logging.getLogger("ketasim.web")


# ---- helpers ------------------------------------------------------------------------------------------------------
def _error(message: str, status: int, field: str = "general") -> JSONResponse:
    return JSONResponse({"ok": False, "errors": [{"field": field, "message": message}], "warnings": []},
                        status_code=status)


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


async def _body(request: Request):
    raw = await request.body()
    if len(raw) > MAX_BODY:       # LocalGuard refuses these first; kept for apps built without it
        raise InputError(f"request: the body is larger than {MAX_BODY} bytes")
    try:
        data = json.loads(raw or b"{}", parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise InputError("request: the body is not valid JSON") from None
    except RecursionError:
        raise InputError("request: the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise InputError("request: expected a JSON object")
    return data


async def _guard(fn, *args, request: Request | None = None, timeout: float | None = None, hint: str = "", **kw):
    """Run ``fn`` in a worker thread; map user errors to 422 and anything else to 500 (logged). With
    ``request``: give up when the client disconnects; after ``timeout`` s (default REQUEST_TIMEOUT_S): 503, its
    message followed by ``hint`` (what to do instead).
    (The engine call itself runs to its end in the worker thread: runs are bounded by ketasim.limits.)"""
    timeout = REQUEST_TIMEOUT_S if timeout is None else timeout
    cancel = threading.Event()
    token = api.CANCEL.set(cancel)
    try:     # the task copies the context now: the worker thread sees this request's cancel event
        task = asyncio.ensure_future(run_in_threadpool(fn, *args, **kw))
    finally:
        api.CANCEL.reset(token)
    try:
        t0 = time.monotonic()
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.2)
            if done:
                break
            if request is not None and await _disconnected(request):
                cancel.set()
                task.add_done_callback(_swallow)
                return Response(status_code=499)
            if time.monotonic() - t0 > timeout:
                cancel.set()
                task.add_done_callback(_swallow)
                return _error(f"request: timed out after {timeout:g} s{hint}", 503)
        return task.result()
    except api.FormErrors as e:
        return JSONResponse({"ok": False, "errors": e.errors, "warnings": e.warnings}, status_code=422)
    except KetasimError as e:
        return _error(str(e), 422)
    except Exception as e:  # a bug: keep serving, tell the page, log the traceback
        log.error("internal error\n%s", traceback.format_exc())
        return _error(f"internal error ({type(e).__name__}: {e}); this is a bug, please report it", 500)


def _swallow(task) -> None:
    if not task.cancelled():
        task.exception()


async def _disconnected(request: Request) -> bool:
    try:
        return await asyncio.wait_for(request.is_disconnected(), timeout=0.01)
    except asyncio.TimeoutError:
        return False


def _as_json(obj) -> Response:
    if isinstance(obj, Response):
        return obj
    return JSONResponse(obj)


def _download(text: str, media: str, filename: str) -> Response:
    return Response(text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ---- trials run in the background; the page polls their progress ---------------------------------------------------
@dataclasses.dataclass
class TrialJob:
    id: str
    built: object
    status: str = "running"           # running | done | error
    progress: float = 0.0
    started: float = dataclasses.field(default_factory=time.monotonic)
    finished: float | None = None
    trial: object = None
    view: dict | None = None
    error: str | None = None
    last_seen: float = dataclasses.field(default_factory=time.monotonic)
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)

    def check(self) -> None:
        """Called between chunks of the trial: stop if cancelled, abandoned or too long."""
        now = time.monotonic()
        if self.cancel.is_set():
            raise Cancelled("trial: cancelled")
        if now - self.last_seen > TRIAL_ABANDON_S:
            raise Cancelled(f"trial: cancelled (the page stopped asking for {TRIAL_ABANDON_S:g} s)")
        if now - self.started > TRIAL_TIMEOUT_S:
            raise Cancelled(f"trial: timed out after {TRIAL_TIMEOUT_S:g} s")


class TrialJobs:
    """At most one running trial at a time; the last few finished ones are kept for their reports."""

    KEEP = 4

    def __init__(self):
        self._jobs: dict[str, TrialJob] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, built) -> TrialJob:
        with self._lock:
            if any(j.status == "running" for j in self._jobs.values()):
                raise InputError("trial: a trial is already running; wait for it to finish")
            job = TrialJob(id=f"t{next(self._ids)}", built=built)
            self._jobs[job.id] = job
            done = [k for k, j in self._jobs.items() if j.status != "running"]
            for k in done[:-self.KEEP]:
                del self._jobs[k]
        if len(done) > self.KEEP:
            release_memory()
        threading.Thread(target=self._run, args=(job,), name=f"ketasim-trial-{job.id}", daemon=True).start()
        return job

    def _run(self, job: TrialJob) -> None:
        def progress(frac: float) -> None:
            job.progress = max(job.progress, min(float(frac), 1.0))
            job.check()
            # between chunks: let waiting interactive requests use the engine (the trial holds ENGINE_LOCK)
            if frac < 1.0:
                api.ENGINE_LOCK.release()
                try:
                    time.sleep(TRIAL_YIELD_S)
                finally:
                    api.ENGINE_LOCK.acquire()

        try:
            out = api.run_trial_job(job.built, progress)
            job.trial = out["trial"]
            job.view = api.trial_view(job.built, job.trial)
            job.progress = 1.0
            job.status = "done"
        except Cancelled as e:
            job.error, job.status = str(e), "cancelled"
            log.info("%s: %s", job.id, e)
        except KetasimError as e:
            job.error, job.status = str(e), "error"
        except Exception as e:  # a bug: report it on the page, keep serving
            log.error("trial failed\n%s", traceback.format_exc())
            job.error, job.status = f"internal error ({type(e).__name__}: {e}); this is a bug, please report it", "error"
        finally:
            job.finished = time.monotonic()
            job.built = job.built if job.status == "done" else None
            release_memory()

    def get(self, job_id: str) -> TrialJob | None:
        return self._jobs.get(job_id)


# ---- the app -------------------------------------------------------------------------------------------------------
def allowed_hosts_for(host: str, port: int, allow_remote: bool = False) -> list[str]:
    """Host headers the dashboard answers: loopback names with the port, and the bound host if remote."""
    names = [f"{n}:{port}" for n in ("127.0.0.1", "localhost", "[::1]")]
    if allow_remote:
        if host in ("0.0.0.0", "::", ""):
            return ["*"]      # every interface: the machine's names are not known; the user opted in
        names.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    elif not is_loopback(host):
        names.append(f"{host}:{port}")
    return names


def create_app(allowed_hosts=None) -> Starlette:
    """The ASGI app (routes below) behind :class:`LocalGuard`. ``allowed_hosts``: "host:port" values of the
    ``Host`` header to answer (default: loopback names on any port, for in-process test clients)."""
    jobs = TrialJobs()
    plotly_js = plotly_js_path()

    async def index(request: Request):
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def vendor_plotly(request: Request):
        return FileResponse(plotly_js, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    async def meta(request: Request):
        return _as_json(await _guard(lambda: {"meta": api.meta(), "default_form": api.default_form()}))

    def _form_route(answer: str, timeout: float | None = None):
        """A POST handler: form -> ``api.<answer>(form)`` (looked up per request) -> its JSON (errors as JSON, like
        every route); ``timeout``: seconds before a 503 (default REQUEST_TIMEOUT_S)."""

        async def handler(request: Request):
            try:
                form = await _body(request)
            except KetasimError as e:
                return _error(str(e), 400)
            return _as_json(await _guard(getattr(api, answer), form, request=request, timeout=timeout))

        return handler

    simulate = _form_route("simulate_form")
    covariates = _form_route("covariates_form")      # this patient with one covariate changed at a time
    power = _form_route("power_form", POWER_TIMEOUT_S)  # the virtual trial's power by replicate trials
    dose_unit = _form_route("dose_unit_change")       # a dose line's unit after its drug or route changed

    async def scenario_yaml(request: Request):
        try:
            form = await _body(request)
        except KetasimError as e:
            return _error(str(e), 400)
        trial = request.query_params.get("trial") in ("1", "true", "yes")
        out = await _guard(api.scenario_yaml, form, trial=trial, request=request)
        if isinstance(out, Response):
            return out
        return _download(out, "application/yaml", "ketasim-trial.yaml" if trial else "ketasim-scenario.yaml")

    def _download_route(build, media_type: str, filename: str, hint: str = ""):
        """A POST handler: form -> ``build(form)`` -> a file download (errors as JSON, like every route); ``hint``:
        what a timed-out request says to do instead."""

        async def handler(request: Request):
            try:
                form = await _body(request)
            except KetasimError as e:
                return _error(str(e), 400)
            out = await _guard(build, form, request=request, hint=hint)
            return out if isinstance(out, Response) else _download(out, media_type, filename)

        return handler

    results_csv = _download_route(api.results_csv, "text/csv", "ketasim-results.csv")
    # the CSV's provenance beside it, named as the CLI names its sidecar (OUT.csv.provenance.json)
    results_provenance = _download_route(api.results_provenance, "application/json",
                                         "ketasim-results.csv.provenance.json")
    report_html = _download_route(api.simulation_report_html, "text/html", "ketasim-report.html")

    async def trial_start(request: Request):
        try:
            form = await _body(request)
        except KetasimError as e:
            return _error(str(e), 400)
        built = await _guard(api.build_trial, form)
        if isinstance(built, Response):
            return built
        try:
            job = jobs.start(built)
        except KetasimError as e:
            return _error(str(e), 409, "trial.run")
        return JSONResponse({"ok": True, "job": job.id, "warnings": built.warnings})

    def _job(request: Request):
        return jobs.get(request.path_params["job"])

    async def trial_status(request: Request):
        job = _job(request)
        if job is None:
            return _error("trial: no such trial (the server keeps only the last few)", 404)
        job.last_seen = time.monotonic()
        if request.method == "DELETE":
            job.cancel.set()
        end = job.finished or time.monotonic()
        body = {"ok": job.status not in ("error", "cancelled"), "job": job.id, "status": job.status, "progress": job.progress,
                "elapsed_s": round(end - job.started, 2)}
        if job.status == "done":
            body["view"] = job.view
        if job.status in ("error", "cancelled"):
            body["errors"] = [{"field": "trial.run", "message": job.error}]
        return JSONResponse(body)

    def _finished(request: Request):
        job = _job(request)
        if job is None:
            return None, _error("trial: no such trial (the server keeps only the last few)", 404)
        if job.status != "done":
            return None, _error(f"trial: not finished ({job.status})", 409)
        return job, None

    async def trial_json(request: Request):
        job, err = _finished(request)
        if err:
            return err
        text = json.dumps(api.trial_document(job.built, job.trial), indent=1, allow_nan=False)
        return _download(text, "application/json", "ketasim-trial.json")

    async def trial_report(request: Request):
        job, err = _finished(request)
        if err:
            return err

        def make():
            import tempfile

            from ..report import trial_report as write

            with tempfile.TemporaryDirectory() as d:
                p = Path(d) / "trial.html"
                write(job.trial, p, parameter_edits=api.parameter_edits(job.built.overrides))
                return p.read_text(encoding="utf-8")

        out = await _guard(make)
        if isinstance(out, Response):
            return out
        if request.query_params.get("download") in ("1", "true"):
            resp = _download(out, "text/html", "ketasim-trial-report.html")
        else:
            resp = HTMLResponse(out)
        resp.headers["content-security-policy"] = REPORT_CSP
        return resp

    # personal plans (issue 9): a second page and its API
    async def plan_page(request: Request):
        return FileResponse(STATIC / "plan.html", media_type="text/html")

    async def plan_example(request: Request):
        return _as_json(await _guard(api.plan_example))

    async def plan_run(request: Request):
        try:
            form = await _body(request)
        except KetasimError as e:
            return _error(str(e), 400)
        # request: a closed page stops the plan too (at its next engine run, as a timed-out one)
        return _as_json(await _guard(api.plan_form, form, request=request, hint=PLAN_TIMEOUT_HINT))

    plan_report_html = _download_route(api.plan_report_html, "text/html", "ketasim-plan-report.html",
                                       PLAN_TIMEOUT_HINT)

    async def not_found(request: Request, exc):
        return _error(f"not found: {request.url.path}", 404)

    async def server_error(request: Request, exc):  # pragma: no cover - _guard catches first
        return _error(f"internal error ({type(exc).__name__})", 500)

    routes = [
        Route("/", index),
        Route("/vendor/plotly.min.js", vendor_plotly),
        Route("/api/meta", meta),
        Route("/api/simulate", simulate, methods=["POST"]),
        Route("/api/covariates", covariates, methods=["POST"]),
        Route("/api/power", power, methods=["POST"]),
        Route("/api/dose-unit", dose_unit, methods=["POST"]),
        Route("/api/scenario.yaml", scenario_yaml, methods=["POST"]),
        Route("/api/results.csv", results_csv, methods=["POST"]),
        Route("/api/provenance.json", results_provenance, methods=["POST"]),
        Route("/api/report.html", report_html, methods=["POST"]),
        Route("/api/trial", trial_start, methods=["POST"]),
        Route("/api/trial/{job}", trial_status, methods=["GET", "DELETE"]),
        Route("/api/trial/{job}/result.json", trial_json),
        Route("/api/trial/{job}/report.html", trial_report),
        Route("/plan", plan_page),
        Route("/api/plan/example", plan_example),
        Route("/api/plan", plan_run, methods=["POST"]),
        Route("/api/plan/report.html", plan_report_html, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        docs_mount(),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 500: server_error})
    return LocalGuard(app, allowed_hosts=allowed_hosts)


def docs_dir() -> Path | None:
    """The built documentation site: ``$KETASIM_DOCS_DIR``, else ``site/`` at the root of a source checkout
    (``sphinx-build -b html docs site``); None when it has not been built."""
    import os

    env = os.environ.get("KETASIM_DOCS_DIR")
    d = Path(env) if env else Path(__file__).resolve().parents[3] / "site"
    return d if (d / "index.html").is_file() else None


def docs_mount() -> Mount:
    """``/docs/``: the built documentation (the dashboard links to its teachers' page), or how to build it.
    Looked up per request, so a site built while the server runs is served at once."""
    missing = ("<!doctype html><meta charset='utf-8'><title>ketasim docs</title><p>The documentation is not built. "
               "From the repository: <code>.venv/bin/sphinx-build -W -b html docs site</code>, then reload "
               "(or set KETASIM_DOCS_DIR to a built site).</p>")

    async def app(scope, receive, send):
        d = docs_dir()
        if d is None:
            await HTMLResponse(missing, status_code=404)(scope, receive, send)
        else:
            await StaticFiles(directory=d, html=True)(scope, receive, send)

    return Mount("/docs", app=app, name="docs")


def _check_host(host) -> None:
    """One line for a host that is no address: written like an IP address ('999.1.1.1', '127.0.0', 'fe80::zz')
    but not one was told it 'would let other machines reach the dashboard' (not loopback) or failed at bind time.
    Host names are left to the bind (no lookup here)."""
    if not isinstance(host, str) or not host or len(host) > 255:
        raise InputError(f"{argument('host', '--host')}: expected an address such as 127.0.0.1")
    h = host.strip("[]")
    if re.fullmatch(r"[\d.]+", h) or ":" in h:
        try:
            ipaddress.ip_address(h)
        except ValueError:
            raise InputError(f"{argument('host', '--host')}: {host!r} is not an IP address; e.g. 127.0.0.1 (this "
                             "machine only)") from None


def _bind(host: str, port: int) -> socket.socket:
    from ..limits import check_int

    port = check_int(port, argument("port", "--port"), lo=0, hi=65535)
    if not isinstance(host, str) or not host or len(host) > 255:
        raise InputError(f"{argument('host', '--host')}: expected an address such as 127.0.0.1")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as e:
        sock.close()
        raise InputError(f"{argument('port', '--port')}: cannot listen on {host}:{port} "
                         f"({getattr(e, 'strerror', None) or e})") from None
    # listening from here on: a browser that opens the printed address before uvicorn has started (a loaded
    # machine) waits in the backlog instead of being refused; uvicorn's own listen() only sets the backlog again
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(host: str = "127.0.0.1", port: int = 8050, *, warm: bool = True, log_level: str = "warning",
          allow_remote: bool = False) -> None:
    """Run the dashboard until interrupted. Binds to 127.0.0.1 unless asked otherwise; a non-loopback
    ``host`` needs ``allow_remote=True`` (``--allow-remote``). ``port=0`` picks a free port. Prints the
    address once the engine is warm and the socket is listening."""
    from ..result import NOTICE

    _check_host(host)
    if not is_loopback(host) and not allow_remote:
        raise InputError(f"{argument('host', '--host')}: {host} would let other machines reach the dashboard; add "
                         f"{argument('allow_remote=True', '--allow-remote')} to confirm (the dashboard has no login)")
    sock = _bind(host, port)
    app = create_app(allowed_hosts_for(host, sock.getsockname()[1], allow_remote))
    if warm:
        print("ketasim: warming up the engine (the first start compiles it; later starts use the disk cache) ...",
              flush=True)
        secs = api.warm_up()
        print(f"ketasim: engine ready in {secs:.1f} s", flush=True)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    print(f"ketasim dashboard: {url_of(sock)}  (Ctrl+C to stop)", flush=True)
    print(NOTICE, flush=True)
    if not is_loopback(host):
        print(f"warning: listening on {host} (--allow-remote): other machines can reach the dashboard, which has "
              "no login", file=sys.stderr, flush=True)
    from ..io import output_fields

    # the page's messages name its fields ('target: ...'), not the command's options; no output option is remembered
    with command_line(False), output_fields(False):
        server.run(sockets=[sock])


class ServerThread:
    """The dashboard in a background thread (for tests and benchmarks): ``with ServerThread() as s: s.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, warm: bool = True, allow_remote: bool = False):
        if not is_loopback(host) and not allow_remote:
            raise InputError(f"host: {host} is not a loopback address; pass allow_remote=True to confirm")
        self._sock = _bind(host, port)
        self.url = url_of(self._sock)
        if warm:
            api.warm_up()
        app = create_app(allowed_hosts_for(host, self._sock.getsockname()[1], allow_remote))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="ketasim-dashboard")

    def start(self) -> "ServerThread":
        self._thread.start()
        t0 = time.monotonic()
        while not self._server.started and time.monotonic() - t0 < 20:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
