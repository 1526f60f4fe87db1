"""The Starlette application of ``ibl-video serve`` (see :mod:`populate.web`).

The tables must be activated (``schemas.activate``) before :func:`create_app`. Every database
access of a request runs in a worker thread under one lock (a DataJoint connection serves one
query at a time); the camera stream never holds it, so pages answer while it streams and while
populate workers run elsewhere.

Security
--------
- ``ibl-video serve`` binds to 127.0.0.1 unless told otherwise.
- POST actions (retry, review) need the token: in the form field ``token``, the header
  ``X-IBL-Video-Token``, or the cookie set by opening ``/?token=<token>`` (HttpOnly,
  SameSite=Strict); without it the answer is 403. No page ever contains the token or any
  database credential.
- ``/files/<path>`` serves only the videos the tables store (``CompressedVideo`` and
  ``CameraRecording`` paths, 404 otherwise), and refuses a path that leaves the data root (403).
- The page answers only requests whose ``Host`` is the bound address, ``127.0.0.1`` or
  ``localhost`` (Starlette's ``TrustedHostMiddleware``, 400 otherwise): a DNS-rebinding
  page cannot read it.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from pipeline.report import format_cell

HERE = Path(__file__).resolve().parent
TOKEN_COOKIE = "ibl_video_token"
TOKEN_HEADER = "X-IBL-Video-Token"
#: Seconds between refreshes of the pipeline page's tables.
REFRESH_S = 3.0
#: Seconds of pose one request of the video overlay returns.
POSE_WINDOW_S = 60.0
#: Host names the page always answers to (besides the address it is bound to).
LOCAL_HOSTS = ("127.0.0.1", "localhost")
#: Most frames ``/camera/<label>/frame.jpg?skip=`` skips and ``/camera/<label>/stream?frames=`` sends.
MAX_SKIP, MAX_STREAM_FRAMES = 100, 100_000
#: Overview figures (PNG) kept in memory, the latest drawn.
OVERVIEW_CACHE = 32
#: (table, attribute) of the video paths ``/files/`` serves.
SERVED_PATHS = (("schemas.compression.CompressedVideo", "compressed_video_path"),
                ("schemas.session.CameraRecording", "raw_video_path"))  # fmt: skip

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["cell"] = format_cell  # a QC table's cells as the report shows them


def new_token() -> str:
    """A fresh random token for the actions (``secrets.token_urlsafe``)."""
    return secrets.token_urlsafe(18)


# ---------------------------------------------------------------- queries (read the tables)
def pipeline_state(stale_after: float = 7200.0) -> dict:
    """What the pipeline page shows: status per table, errors, workers (reservations)."""
    from populate.tables import computed_tables
    from populate.worker import format_key, list_errors, reservations, table_status

    computed = computed_tables()
    status = table_status()
    errors = list_errors(computed)
    held = reservations(computed, stale_after)
    workers: dict[tuple, dict] = {}
    for r in held:
        w = workers.setdefault((r.host, r.pid), dict(host=r.host, pid=r.pid, keys=0, heartbeat_s=r.age_s,
                                                      alive=r.alive, reason=r.reason, tables=set()))  # fmt: skip
        w["keys"] += 1
        w["heartbeat_s"] = min(w["heartbeat_s"], r.age_s)
        w["tables"].add(r.table)
    return dict(
        status=[dict(table=name, computed=name in computed, **entry) for name, entry in status.items()],
        errors=[dict(table=e.table, key=e.key, key_text=format_key(e.key), key_json=json.dumps(e.key),
                     message=e.message, host=e.host, pid=e.pid, time=e.time) for e in errors],  # fmt: skip
        workers=[dict(w, tables=sorted(w["tables"])) for w in workers.values()],
        reservations=[dict(table=r.table, key_text=format_key(r.key), host=r.host, pid=r.pid,
                           heartbeat_s=r.age_s, alive=r.alive, reason=r.reason) for r in held],  # fmt: skip
    )


def retry_error(table: str, key: dict) -> int:
    """Clear the error of one key of one table (``ibl-video retry TABLE --key JSON``); the count.

    Raises
    ------
    ValueError
        For an unknown table, or a key that does not name the table's whole primary key.
    """
    from populate.tables import resolve_names
    from populate.worker import clear_errors

    try:
        tables = resolve_names([table])
    except KeyError as e:
        raise ValueError(str(e.args[0])) from None
    primary = tables[table].primary_key
    missing = [k for k in primary if k not in key]
    if missing:
        raise ValueError(f"the key must name the whole primary key of {table} ({', '.join(primary)}); missing {', '.join(missing)}")
    return sum(clear_errors(tables, key).values())


def session_key_of(subject: str, date: str, number: str) -> dict:
    """The Session key of a URL (:func:`schemas.session.session_key_from_text`); 404 with its message."""
    from schemas.session import session_key_from_text

    try:
        return session_key_from_text(subject, date, number)
    except ValueError as e:
        raise HTTPException(404, str(e)) from None


def stored_video(relative: str) -> bool:
    """Whether ``relative`` is a video path the tables store (:data:`SERVED_PATHS`)."""
    import importlib

    for name, attribute in SERVED_PATHS:
        module, table = name.rsplit(".", 1)
        if getattr(importlib.import_module(module), table) & {attribute: relative}:
            return True
    return False


def overview_signature(key: dict) -> tuple:
    """What the overview figure of a session depends on: its rows per table (a cache key)."""
    from schemas.compression import CompressedVideo
    from schemas.features import LickEvents, PoseQC, PupilDiameter
    from schemas.pose import DLCPose
    from schemas.qc import CameraQC
    from schemas.sync import SyncPulses

    return tuple(len(t & key) for t in (DLCPose, PupilDiameter, LickEvents, CompressedVideo, CameraQC.Check,
                                        PoseQC.Check, SyncPulses))  # fmt: skip


def _best(rows: list[dict], key: str) -> list[dict]:
    return sorted(rows, key=lambda r: r[key])


def session_view(key: dict) -> dict:
    """What the session page shows: recordings, QC grid, videos with pose, reviews."""
    from pipeline.qc import overall_outcome
    from schemas.compression import CompressedVideo
    from schemas.features import PoseQC
    from schemas.pose import DLCPose
    from schemas.qc import VERDICTS, CameraQC, QCReview, latest_reviews
    from schemas.report import qc_table
    from schemas.session import CameraRecording, RigCamera, Session, session_name

    session = (Session & key).fetch1()
    labels = sorted((RigCamera & {"rig_type": session["rig_type"]}).to_arrays("camera_label"))
    recordings = {r["camera_label"]: r for r in (CameraRecording & key).proj("n_frames", "fps", "width", "height", "duration_s").to_dicts()}
    overall = {}
    for label in labels:
        for title, table in ((f"{label} camera", CameraQC), (f"{label} pose", PoseQC)):
            rows = (table & key & {"camera_label": label}).to_arrays("overall_outcome")
            if len(rows):
                overall[title] = overall_outcome(rows)
    videos = []
    for pose_key in _best((DLCPose & key).proj().to_dicts(), "camera_label"):
        label = pose_key["camera_label"]
        if any(v["label"] == label for v in videos):
            continue
        encode = CompressedVideo & pose_key
        if not encode:
            continue
        path = encode.fetch1("compressed_video_path")
        videos.append(dict(label=label, path=path, fps=float(recordings[label]["fps"]), pose_key=json.dumps(_plain(pose_key))))
    for label in labels:  # videos without pose: shown without points
        if any(v["label"] == label for v in videos):
            continue
        encodes = (CompressedVideo & key & {"camera_label": label}).proj("compressed_video_path").to_dicts()
        if encodes:
            videos.append(dict(label=label, path=encodes[0]["compressed_video_path"], fps=float(recordings[label]["fps"]), pose_key=""))
    history = (QCReview & key).to_dicts(order_by="review_time DESC")
    return dict(
        name=session_name(key), key=key, session=session, labels=labels, recordings=recordings,
        qc=qc_table(key), overall=overall, videos=videos,
        latest=latest_reviews(key), history=history, verdicts=VERDICTS,
        has_pose=bool(DLCPose & key),
    )  # fmt: skip


def _plain(key: dict) -> dict:
    from populate.worker import plain_key

    return plain_key(key)


def pose_window(session: dict, label: str, pose_key: dict, start_s: float, stop_s: float) -> dict:
    """Tracked points of frames whose video time is in [start_s, stop_s): for the overlay."""
    import numpy as np

    from schemas.pose import DLCPose, pose_arrays
    from schemas.session import CameraRecording

    key = dict(session, camera_label=label, **{k: v for k, v in pose_key.items() if k not in session and k != "camera_label"})
    if not DLCPose & key:
        raise HTTPException(404, f"no DLCPose row of the {label} camera for {json.dumps(_plain(key))}")
    fps = float((CameraRecording & session & {"camera_label": label}).fetch1("fps"))
    points = pose_arrays((DLCPose & key).fetch1("KEY"))
    n = len(next(iter(points.values())))
    first = int(np.clip(np.floor(start_s * fps), 0, max(n - 1, 0)))  # past the end: the last frame
    last = int(np.clip(np.ceil(stop_s * fps), first, n))
    out = {}
    for name, a in points.items():
        part = np.round(a[first:last], 2)
        out[name] = [None if not np.isfinite(row).all() else row.tolist() for row in part]
    return dict(fps=fps, first_frame=first, n_frames=n, points=out)


# ---------------------------------------------------------------- the application
def create_app(data_root: Path | str | None = None, token: str | None = None, *, stale_after: float = 7200.0,
               camera_scale: float = 0.5, camera_fps: float = 5.0, hosts: Sequence[str] = ()) -> Starlette:
    """The web application over the activated tables.

    Parameters
    ----------
    data_root : path, optional
        Folder whose files ``/files/`` serves (default: the active settings' data root).
    token : str, optional
        Token of the actions (default: a new random one, in ``app.state.token``).
    stale_after : float
        Seconds without heartbeat after which another machine's worker is shown as gone.
    camera_scale, camera_fps : float
        Size factor and frame rate of the simulated camera's live stream.
    hosts : sequence of str
        Host names the page answers to besides :data:`LOCAL_HOSTS` (the address it is bound to).

    Notes
    -----
    ``app.state.open_cameras`` counts the live cameras open now (``/api/status`` shows it);
    ``app.state.overviews`` holds the overview figures drawn (by session and its rows'
    counts, :func:`overview_signature`), ``app.state.overview_draws`` counts the drawings.
    """
    from schemas import config

    root = Path(data_root or config.current().data_root).resolve()
    lock = threading.RLock()
    overviews: dict[tuple, bytes] = {}  # (session, overview_signature) -> PNG
    camera_lock = threading.Lock()

    def db(fn, *args, **kwargs):
        def locked():
            with lock:
                return fn(*args, **kwargs)

        return run_in_threadpool(locked)

    def authorised(request: Request, form=None) -> bool:
        given = (form or {}).get("token") or request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or ""
        return secrets.compare_digest(str(given).encode(), app.state.token.encode())

    def unlocked(request: Request) -> bool:
        return authorised(request)

    def page(request: Request, name: str, context: dict, status_code: int = 200):
        context = dict(context, unlocked=unlocked(request), refresh_ms=int(REFRESH_S * 1000),
                       now=dt.datetime.now().strftime("%H:%M:%S"))
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    async def index(request: Request):
        if "token" in request.query_params:  # the URL printed at start: keep the token in a cookie
            given = request.query_params["token"]
            response = RedirectResponse("/", status_code=303)
            if secrets.compare_digest(given.encode(), app.state.token.encode()):
                response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
            return response
        state = await db(pipeline_state, stale_after)
        return page(request, "pipeline.html", dict(state=state))

    async def pipeline_fragment(request: Request):
        state = await db(pipeline_state, stale_after)
        return page(request, "_pipeline.html", dict(state=state))

    async def api_status(request: Request):
        state = await db(pipeline_state, stale_after)
        return JSONResponse(dict(state, open_cameras=app.state.open_cameras))

    async def unlock(request: Request):
        form = await request.form()
        if not authorised(request, form):
            raise HTTPException(403, "wrong token: use the token `ibl-video serve` printed at start")
        response = RedirectResponse(local_path(str(form.get("next") or "/")), status_code=303)
        response.set_cookie(TOKEN_COOKIE, app.state.token, httponly=True, samesite="strict")
        return response

    async def retry(request: Request):
        form = await request.form()
        if not authorised(request, form):
            raise HTTPException(403, "retry needs the token printed by `ibl-video serve` (form field token, header X-IBL-Video-Token or the cookie)")
        table = str(form.get("table") or "")
        try:
            key = json.loads(str(form.get("key") or "{}"))
        except json.JSONDecodeError as e:
            raise HTTPException(400, f"key is not valid JSON: {e}") from None
        if not table or not isinstance(key, dict) or not key:
            raise HTTPException(400, "retry needs a table name and a JSON object key naming the key's whole primary key")
        try:
            cleared = await db(retry_error, table, key)
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"table": table, "key": key, "cleared": cleared})
        return RedirectResponse("/", status_code=303)

    async def session_page(request: Request):
        p = request.path_params
        key = await db(session_key_of, p["subject"], p["date"], p["number"])
        view = await db(session_view, key)
        return page(request, "session.html", dict(view=view, base=_session_url(key)))

    def overview_png(key: dict) -> bytes:
        import tempfile

        from pipeline.plots_session import plot_session_overview
        from schemas.analysis import session_overview_data

        with lock:  # read the tables under the lock, draw outside it
            signature = (tuple(_plain(key).items()), overview_signature(key))
            if signature in overviews:
                return overviews[signature]
            data = session_overview_data(key)
        with tempfile.TemporaryDirectory() as tmp:
            png = plot_session_overview(Path(tmp) / "session.png", **data).read_bytes()
        app.state.overview_draws += 1
        while len(overviews) >= OVERVIEW_CACHE:  # forget the oldest figures
            overviews.pop(next(iter(overviews)), None)
        overviews[signature] = png
        return png

    async def session_overview(request: Request):
        p = request.path_params
        key = await db(session_key_of, p["subject"], p["date"], p["number"])
        png = await run_in_threadpool(overview_png, key)
        return Response(png, media_type="image/png")

    async def session_pose(request: Request):
        p = request.path_params
        key = await db(session_key_of, p["subject"], p["date"], p["number"])
        try:
            pose_key = json.loads(request.query_params.get("key", "{}"))
            start = float(request.query_params.get("start", 0.0))
        except ValueError as e:
            raise HTTPException(400, f"bad pose request: {e}") from None
        if not isinstance(pose_key, dict) or start != start:
            raise HTTPException(400, "bad pose request: key must be a JSON object and start a number of seconds")
        data = await db(pose_window, key, p["label"], pose_key, start, start + POSE_WINDOW_S)
        return JSONResponse(data)

    async def review(request: Request):
        from schemas.qc import add_review

        form = await request.form()
        if not authorised(request, form):
            raise HTTPException(403, "a review needs the token printed by `ibl-video serve`")
        p = request.path_params
        key = await db(session_key_of, p["subject"], p["date"], p["number"])
        try:
            row = await db(add_review, key, str(form.get("reviewer") or ""), str(form.get("verdict") or ""),
                           str(form.get("note") or ""), target=str(form.get("target") or "session"))  # fmt: skip
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(_plain(row))
        return RedirectResponse(_session_url(key) + "#reviews", status_code=303)

    async def files(request: Request):
        relative = request.path_params["path"]
        target = (root / relative).resolve()
        if not target.is_relative_to(root) or ".." in Path(relative).parts:
            raise HTTPException(403, f"{relative!r} is outside the data root")
        if not await db(stored_video, relative):
            raise HTTPException(404, f"{relative!r} is not a video of the tables (CompressedVideo, CameraRecording)")
        if not target.is_file():
            raise HTTPException(404, f"no file {relative!r} under the data root")
        return FileResponse(target)

    def query_int(request: Request, name: str, most: int, default: int | None) -> int | None:
        value = request.query_params.get(name)
        if value is None:
            return default
        try:
            n = int(value)
        except ValueError:
            raise HTTPException(400, f"{name} must be an integer from 0 to {most}, not {value!r}") from None
        if not 0 <= n <= most:
            raise HTTPException(400, f"{name} must be an integer from 0 to {most}, not {n}")
        return n

    def camera_args(request: Request) -> tuple[str, str, str]:
        return (request.query_params.get("backend", "simulated"), request.query_params.get("rig", "ephys"),
                request.path_params["label"])  # fmt: skip

    def open_live(request: Request):
        from populate.web.camera import LiveCamera

        backend, rig, label = camera_args(request)
        try:
            camera = LiveCamera(backend, rig, label, scale=camera_scale, fps=camera_fps)
        except (ValueError, KeyError) as e:
            raise HTTPException(404, str(e.args[0]) if e.args else str(e)) from None
        except ImportError as e:
            raise HTTPException(503, f"camera backend {backend!r} is not available: {e}") from None
        with camera_lock:
            app.state.open_cameras += 1
        return camera

    def close_camera(camera) -> None:
        try:
            camera.close()
        finally:
            with camera_lock:
                app.state.open_cameras -= 1

    async def release(camera) -> None:
        """Close a camera even when the request is cancelled (the browser left): shielded."""
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(close_camera, camera)

    async def camera_page(request: Request):
        backend, rig, label = camera_args(request)
        camera = await run_in_threadpool(open_live, request)  # refuses an unknown camera with 404
        try:
            _, passed, message = await run_in_threadpool(camera.panel_jpeg)
        finally:
            await release(camera)
        query = f"?backend={backend}&rig={rig}"
        return page(request, "camera.html", dict(label=label, backend=backend, rig=rig, query=query, passed=passed, message=message))

    async def camera_frame(request: Request):
        skip = query_int(request, "skip", MAX_SKIP, 0)
        camera = await run_in_threadpool(open_live, request)
        try:
            for _ in range(skip):
                await run_in_threadpool(camera._grab)
            jpeg, passed, message = await run_in_threadpool(camera.panel_jpeg)
        finally:
            await release(camera)
        return Response(jpeg, media_type="image/jpeg", headers={"X-Verdict": ("PASS: " if passed else "FAIL: ") + message,
                                                                "Cache-Control": "no-store"})  # fmt: skip

    async def camera_stream(request: Request):
        from populate.web.camera import mjpeg_parts

        limit = query_int(request, "frames", MAX_STREAM_FRAMES, None)
        camera = await run_in_threadpool(open_live, request)
        boundary = "frame" + uuid.uuid4().hex[:8]

        async def parts():
            try:
                async for part in iterate_in_threadpool(mjpeg_parts(camera, boundary, max_frames=limit)):
                    yield part
            finally:
                await release(camera)

        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={boundary}",
                                 headers={"Cache-Control": "no-store"})  # fmt: skip

    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith(("/files/", "/api/")) or "text/html" not in request.headers.get("accept", ""):
            return PlainTextResponse(f"{exc.status_code}: {exc.detail}\n", status_code=exc.status_code)
        return page(request, "error.html", dict(status=exc.status_code, message=exc.detail), status_code=exc.status_code)

    session_path = "/session/{subject}/{date}/{number}"
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/fragment/pipeline", pipeline_fragment),
            Route("/api/status", api_status),
            Route("/unlock", unlock, methods=["POST"]),
            Route("/retry", retry, methods=["POST"]),
            Route(session_path, session_page),
            Route(session_path + "/overview.png", session_overview),
            Route(session_path + "/pose/{label}.json", session_pose),
            Route(session_path + "/review", review, methods=["POST"]),
            Route("/files/{path:path}", files),
            Route("/camera/{label}", camera_page),
            Route("/camera/{label}/frame.jpg", camera_frame),
            Route("/camera/{label}/stream", camera_stream),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        exception_handlers={HTTPException: http_error},
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=[*LOCAL_HOSTS, *hosts])],
    )
    app.state.token = token or new_token()
    app.state.data_root = root
    app.state.open_cameras = 0
    app.state.overview_draws = 0
    app.state.overviews = overviews
    return app


def local_path(target: str) -> str:
    """``target`` if it is a path of this site (one leading ``/``, no scheme or host), else ``/``."""
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme or parts.netloc:
        return "/"
    return target


def _session_url(key: dict) -> str:
    return f"/session/{key['subject']}/{key['session_date']}/{int(key['session_number'])}"
