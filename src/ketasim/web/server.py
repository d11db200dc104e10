"""The local dashboard: a small Starlette app serving one static page and a JSON API.

``ketasim serve`` calls :func:`serve`. Everything the page needs (HTML, CSS, JS and plotly.js from the
installed ``plotly`` wheel) is served from the installed package: the dashboard works with no internet.
Handlers parse, delegate to :mod:`ketasim.web.api` and format; user errors come back as 422 with the
engine's one-line message at the offending field, and any other failure as a 500 JSON answer — the server
keeps running either way.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
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

from ..errors import InputError, KetasimError
from . import api
from .figures import plotly_js_path

STATIC = Path(__file__).with_name("static")
log = logging.getLogger("ketasim.web")


# ---- helpers ------------------------------------------------------------------------------------------------------
def _error(message: str, status: int, field: str = "general") -> JSONResponse:
    return JSONResponse({"ok": False, "errors": [{"field": field, "message": message}], "warnings": []},
                        status_code=status)


async def _body(request: Request):
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("request: the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InputError("request: expected a JSON object")
    return data


async def _guard(fn, *args, **kw):
    """Run ``fn`` in a worker thread; map user errors to 422 and anything else to 500 (logged)."""
    try:
        return await run_in_threadpool(fn, *args, **kw)
    except api.FormErrors as e:
        return JSONResponse({"ok": False, "errors": e.errors, "warnings": e.warnings}, status_code=422)
    except KetasimError as e:
        return _error(str(e), 422)
    except Exception as e:  # a bug: keep serving, tell the page, log the traceback
        log.error("internal error\n%s", traceback.format_exc())
        return _error(f"internal error ({type(e).__name__}: {e}); this is a bug, please report it", 500)


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
        threading.Thread(target=self._run, args=(job,), name=f"ketasim-trial-{job.id}", daemon=True).start()
        return job

    def _run(self, job: TrialJob) -> None:
        def progress(frac: float) -> None:
            job.progress = max(job.progress, min(float(frac), 1.0))

        try:
            out = api.run_trial_job(job.built, progress)
            job.trial = out["trial"]
            job.view = api.trial_view(job.built, job.trial)
            job.progress = 1.0
            job.status = "done"
        except KetasimError as e:
            job.error, job.status = str(e), "error"
        except Exception as e:  # a bug: report it on the page, keep serving
            log.error("trial failed\n%s", traceback.format_exc())
            job.error, job.status = f"internal error ({type(e).__name__}: {e}); this is a bug, please report it", "error"
        finally:
            job.finished = time.monotonic()

    def get(self, job_id: str) -> TrialJob | None:
        return self._jobs.get(job_id)


# ---- the app -------------------------------------------------------------------------------------------------------
def create_app() -> Starlette:
    """The ASGI app (routes below). Use :func:`serve` to run it."""
    jobs = TrialJobs()
    plotly_js = plotly_js_path()

    async def index(request: Request):
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def vendor_plotly(request: Request):
        return FileResponse(plotly_js, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    async def meta(request: Request):
        return _as_json(await _guard(lambda: {"meta": api.meta(), "default_form": api.default_form()}))

    async def simulate(request: Request):
        try:
            form = await _body(request)
        except KetasimError as e:
            return _error(str(e), 400)
        return _as_json(await _guard(api.simulate_form, form))

    async def scenario_yaml(request: Request):
        try:
            form = await _body(request)
        except KetasimError as e:
            return _error(str(e), 400)
        trial = request.query_params.get("trial") in ("1", "true", "yes")
        out = await _guard(api.scenario_yaml, form, trial=trial)
        if isinstance(out, Response):
            return out
        return _download(out, "application/yaml", "ketasim-trial.yaml" if trial else "ketasim-scenario.yaml")

    def _download_route(build, media_type: str, filename: str):
        """A POST handler: form -> ``build(form)`` -> a file download (errors as JSON, like every route)."""

        async def handler(request: Request):
            try:
                form = await _body(request)
            except KetasimError as e:
                return _error(str(e), 400)
            out = await _guard(build, form)
            return out if isinstance(out, Response) else _download(out, media_type, filename)

        return handler

    results_csv = _download_route(api.results_csv, "text/csv", "ketasim-results.csv")
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
        end = job.finished or time.monotonic()
        body = {"ok": job.status != "error", "job": job.id, "status": job.status, "progress": job.progress,
                "elapsed_s": round(end - job.started, 2)}
        if job.status == "done":
            body["view"] = job.view
        if job.status == "error":
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
        text = json.dumps(api.json_safe(job.trial.to_dict()), indent=1, allow_nan=False)
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
                write(job.trial, p)
                return p.read_text(encoding="utf-8")

        out = await _guard(make)
        if isinstance(out, Response):
            return out
        if request.query_params.get("download") in ("1", "true"):
            return _download(out, "text/html", "ketasim-trial-report.html")
        return HTMLResponse(out)

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
        return _as_json(await _guard(api.plan_form, form))

    plan_report_html = _download_route(api.plan_report_html, "text/html", "ketasim-plan-report.html")

    async def not_found(request: Request, exc):
        return _error(f"not found: {request.url.path}", 404)

    async def server_error(request: Request, exc):  # pragma: no cover - _guard catches first
        return _error(f"internal error ({type(exc).__name__})", 500)

    routes = [
        Route("/", index),
        Route("/vendor/plotly.min.js", vendor_plotly),
        Route("/api/meta", meta),
        Route("/api/simulate", simulate, methods=["POST"]),
        Route("/api/scenario.yaml", scenario_yaml, methods=["POST"]),
        Route("/api/results.csv", results_csv, methods=["POST"]),
        Route("/api/report.html", report_html, methods=["POST"]),
        Route("/api/trial", trial_start, methods=["POST"]),
        Route("/api/trial/{job}", trial_status),
        Route("/api/trial/{job}/result.json", trial_json),
        Route("/api/trial/{job}/report.html", trial_report),
        Route("/plan", plan_page),
        Route("/api/plan/example", plan_example),
        Route("/api/plan", plan_run, methods=["POST"]),
        Route("/api/plan/report.html", plan_report_html, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 500: server_error})


def _bind(host: str, port: int) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise InputError(f"--port: cannot listen on {host}:{port} ({e.strerror or e})") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(host: str = "127.0.0.1", port: int = 8050, *, warm: bool = True, log_level: str = "warning") -> None:
    """Run the dashboard until interrupted. Binds to 127.0.0.1 unless asked otherwise; ``port=0`` picks a
    free port. Prints the address once the engine is warm and the socket is listening."""
    from ..result import NOTICE

    app = create_app()
    sock = _bind(host, port)
    if warm:
        print("ketasim: warming up the engine (the first start compiles it; later starts use the disk cache) ...",
              flush=True)
        secs = api.warm_up()
        print(f"ketasim: engine ready in {secs:.1f} s", flush=True)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    print(f"ketasim dashboard: {url_of(sock)}  (Ctrl+C to stop)", flush=True)
    print(NOTICE, flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}: other machines can reach the dashboard", file=sys.stderr, flush=True)
    server.run(sockets=[sock])


class ServerThread:
    """The dashboard in a background thread (for tests and benchmarks): ``with ServerThread() as s: s.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, warm: bool = True):
        self._sock = _bind(host, port)
        self.url = url_of(self._sock)
        if warm:
            api.warm_up()
        config = uvicorn.Config(create_app(), log_level="warning", access_log=False, lifespan="off")
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
