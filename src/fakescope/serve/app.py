"""`fakescope serve`: the REST API and the web page, a thin layer over the CLI's scan.

Jobs live in the SQLite store; runner threads scan them in worker processes (`runner`); the
result of a job is exactly the CLI's JSON record. Uploads stream to disk (`uploads`). Files on
the server are scanned only under an `--allow-root`: resolved once, opened below the root
without following links, and copied into the job's folder as they are hashed (`paths`), so
the scan reads the bytes that were checked. Other websites are kept out by `guard`; request
values are typed (`models`); the queue bound holds before a body is read (`admission`).
See docs/security.md.
"""

from __future__ import annotations

import hmac
import logging
import re
import shutil
import sqlite3
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from fakescope import __version__
from fakescope.scan import Limits, ScanSettings
from fakescope.serve.admission import Admission, QueueFull
from fakescope.serve.guard import LOOPBACK_HOSTS, Guard
from fakescope.serve.models import ArtefactName, JobId, PathScan, ScanOptions, invalid, options_from
from fakescope.serve.paths import PathRefused, artefact_file, open_under, snapshot
from fakescope.serve.runner import Runners, settings_for
from fakescope.serve.store import JobStore, dedup_key
from fakescope.serve.uploads import UploadError, receive_upload

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")


@dataclass
class ServeConfig:
    data_dir: Path
    settings: ScanSettings = field(default_factory=ScanSettings)
    max_upload_mb: float = 512.0
    workers: int = 1
    allow_roots: tuple[Path, ...] = ()
    token: str | None = None
    max_queue: int = 100
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # Host names answered (guard.allowed_hosts)
    docs: bool = False  # /docs and /redoc load Swagger UI / ReDoc from a CDN: off unless asked


# Artefacts are the scan's own PNG overlays and plots (and JSON); anything else is a download.
_MAX_JSON_BYTES = 64 * 1024
_ARTEFACT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json"}


def create_app(config: ServeConfig) -> FastAPI:
    data = Path(config.data_dir)
    uploads, artefacts = data / "uploads", data / "artefacts"
    store = JobStore(data / "jobs.sqlite", version=__version__)
    runners = Runners(store, artefacts, uploads, n=config.workers, limits=config.limits)
    admission = Admission(config.max_queue, lambda: store.count("queued"))
    max_bytes = int(config.max_upload_mb * 2**20)
    expected = config.token.encode("utf-8") if config.token is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runners.start()
        try:
            yield
        finally:
            runners.stop()

    app = FastAPI(title="fakescope", version=__version__, lifespan=lifespan,
                  description="Scan images and videos for manipulated faces.",
                  docs_url="/docs" if config.docs else None,
                  redoc_url="/redoc" if config.docs else None)
    app.add_middleware(Guard, hosts=config.allowed_hosts)
    app.state.store, app.state.runners, app.state.config = store, runners, config

    @app.exception_handler(sqlite3.Error)
    async def store_failed(request: Request, exc: sqlite3.Error) -> JSONResponse:
        """The job store cannot be used now (disk full, locked): say so, not a 500."""
        log.warning("job store: %s", exc)
        full = "full" in str(exc).lower()
        return JSONResponse({"detail": "the job store is out of disk space" if full else
                             f"the job store is unavailable: {exc}"},
                            status_code=507 if full else 503, headers={"Retry-After": "30"})

    def check_token(given: bytes | None) -> None:
        if expected is None:
            return
        if given is None or not hmac.compare_digest(given, expected):
            raise HTTPException(401, "a valid token is required", headers={"WWW-Authenticate": "Bearer"})

    def bearer(request: Request) -> bytes | None:
        """The token of an ``Authorization: Bearer TOKEN`` header, as the bytes sent (Starlette
        decodes headers as Latin-1): a header without the scheme is no token."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        value = value.strip()
        return value.encode("latin-1") if scheme.lower() == "bearer" and value else None

    def authorised(request: Request) -> None:
        """Every /api call, when the server has a token: the bearer header, nothing else."""
        check_token(bearer(request))

    def authorised_image(request: Request,
                         token: str | None = Query(None, include_in_schema=False)) -> None:
        """Artefact GETs also take ?token=, for the <img> tags of the page (no headers there)."""
        given = bearer(request)
        check_token(given if given is not None or token is None else token.encode("utf-8"))

    def job_view(job) -> dict[str, Any]:
        out = job.public()
        folder = artefacts / job.id
        out["artefacts"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                                  if p.is_file()) if folder.is_dir() else []
        return out

    @app.get("/api/health", dependencies=[Depends(authorised)])
    def health() -> dict[str, Any]:
        from fakescope.detectors.registry import DEFAULT_DETECTOR

        return {"status": "ok", "version": __version__,
                "default_detector": config.settings.detector or DEFAULT_DETECTOR,
                "queued": store.count("queued"), "running": store.count("running"),
                "auth": config.token is not None}

    @app.post("/api/scans", status_code=202, dependencies=[Depends(authorised)])
    async def submit(request: Request, detector: str | None = None, sampling: str | None = None,
                     threshold: float | None = None) -> JSONResponse:
        """A multipart upload (field `file`, options as query or form fields), or JSON
        `{"path": ...}` for a file under an --allow-root."""
        query = {"detector": detector, "sampling": sampling, "threshold": threshold}
        try:
            with admission.place():  # held while the body arrives, until the job is queued
                job_id = await receive(request, query)
        except QueueFull as exc:
            raise HTTPException(429, "the scan queue is full; try again shortly",
                                headers={"Retry-After": "5"}) from exc
        return JSONResponse({"id": job_id, "status": store.get(job_id).status}, status_code=202)

    async def receive(request: Request, query: dict[str, Any]) -> str:
        """Store the input in the job's own folder, queue the job (or answer it from an
        identical finished one); its id. The folder goes again if anything fails."""
        job_id = uuid.uuid4().hex
        folder = uploads / job_id
        queued = False
        try:
            if request.headers.get("content-type", "").startswith("application/json"):
                opts, source, stored, filename, origin, sha = await from_path(request, query, folder)
            else:
                opts, source, stored, filename, origin, sha = await from_upload(request, query, folder)
            settings = settings_for(config.settings, opts.detector, opts.sampling, opts.threshold)
            key = dedup_key(sha, asdict(settings), __version__)
            job = store.add(source, str(stored), filename, asdict(settings), sha, key,
                            job_id=job_id, origin=origin)
            queued = True
        finally:
            if not queued:
                shutil.rmtree(folder, ignore_errors=True)
        twin = store.finished_twin(key)
        if twin is not None and twin.id != job.id and twin.result is not None:
            twin.result = {**twin.result, "path": origin or str(stored)}
            store.finish_from_twin(job.id, twin)
            _copy_artefacts(artefacts / twin.id, artefacts / job.id)
        else:
            runners.wake()
        return job_id

    async def from_path(request: Request, query: dict[str, Any], folder: Path):
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > _MAX_JSON_BYTES:
                raise HTTPException(413, "the JSON body is too long")
        try:
            body = PathScan.model_validate_json(raw)
        except ValidationError as exc:
            raise invalid(exc) from exc
        opts = options_from({**query, **body.model_dump(exclude_unset=True, exclude={"path"})})
        if not config.allow_roots:
            raise HTTPException(403, "this server scans no server-side paths (no --allow-root)")
        try:
            fd, real = open_under(body.path, config.allow_roots)
        except PathRefused as exc:
            raise HTTPException(exc.status, exc.message) from exc
        stored = folder / ("input" + _scan_suffix(real))
        try:
            sha, _ = await run_in_threadpool(snapshot, fd, stored)
        except OSError as exc:
            raise HTTPException(507, f"the file could not be copied for scanning: {exc.strerror or exc}") from exc
        return opts, "path", stored, Path(real).name, real, sha

    async def from_upload(request: Request, query: dict[str, Any], folder: Path):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:
            raise HTTPException(413, f"the upload is over the {config.max_upload_mb:g} MiB limit")
        try:
            up = await receive_upload(request.stream(), request.headers.get("content-type", ""),
                                      folder, max_bytes)
        except UploadError as exc:
            raise HTTPException(exc.status, exc.message) from exc
        form = {k: up.fields.get(k) for k in ScanOptions.model_fields if up.fields.get(k)}
        opts = options_from({**query, **form})
        return opts, "upload", up.path, up.filename, None, up.sha256

    @app.get("/api/scans", dependencies=[Depends(authorised)])
    def list_scans(limit: int = Query(20, ge=1, le=200),
                   offset: int = Query(0, ge=0, le=10**9)) -> dict:
        jobs, total = store.list(limit, offset)
        return {"total": total, "limit": limit, "offset": offset,
                "items": [job_view(j) for j in jobs]}

    @app.get("/api/scans/{job_id}", dependencies=[Depends(authorised)])
    def get_scan(job_id: JobId) -> dict:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, "no such scan")
        return job_view(job)

    @app.delete("/api/scans/{job_id}", status_code=204, dependencies=[Depends(authorised)])
    def delete_scan(job_id: JobId) -> None:
        """The job, its input copy and its artefacts; a running scan's artefacts are removed
        by its runner when it ends (`Runners`)."""
        if not store.delete(job_id):
            raise HTTPException(404, "no such scan")
        shutil.rmtree(artefacts / job_id, ignore_errors=True)
        shutil.rmtree(uploads / job_id, ignore_errors=True)

    @app.get("/api/scans/{job_id}/artefacts/{name:path}", dependencies=[Depends(authorised_image)])
    def artefact(job_id: JobId, name: ArtefactName) -> FileResponse:
        real = artefact_file(artefacts / job_id, name) if store.get(job_id) else None
        if real is None:
            raise HTTPException(404, "no such artefact")
        media_type = _ARTEFACT_TYPES.get(real.suffix.lower())
        if media_type is None:  # never rendered by the browser from this origin
            return FileResponse(real, media_type="application/octet-stream", filename=real.name,
                                content_disposition_type="attachment")
        return FileResponse(real, media_type=media_type)

    @app.get("/api/scans/{job_id}/input", dependencies=[Depends(authorised_image)])
    def scanned_input(job_id: JobId) -> FileResponse:
        """The scanned bytes, for the page's <video> / <img> (seek needs ranges: served by
        `FileResponse`). Only kinds a browser plays, typed by the stored suffix (never HTML);
        anything else is a download."""
        job = store.get(job_id)
        path = Path(job.input_path) if job is not None else None
        if path is None or not path.is_file():
            raise HTTPException(404, "no such scan, or its input is gone")
        media_type = _PLAYABLE.get(path.suffix.lower())
        if media_type is None:
            return FileResponse(path, media_type="application/octet-stream",
                                filename="input" + path.suffix, content_disposition_type="attachment")
        return FileResponse(path, media_type=media_type)

    @app.get("/api/scans/{job_id}/report", dependencies=[Depends(authorised)])
    def report(job_id: JobId) -> Response:
        """The job as `fakescope report` writes it: one self-contained HTML file, sent as a
        download (never rendered from this origin)."""
        job = store.get(job_id)
        if job is None or job.result is None:
            raise HTTPException(404, "no such scan, or it has no result yet")
        html = _report_html(job, artefacts / job.id)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(job.filename).stem)[:60] or "scan"
        return Response(html, media_type="text/html; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="fakescope-report-{stem}.html"'})

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


# What the page's <video> / <img> may be given, by the stored input's suffix.
_PLAYABLE = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
             ".webm": "video/webm", ".ogv": "video/ogg", ".mkv": "video/x-matroska",
             ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg",
             ".jfif": "image/jpeg", ".png": "image/png", ".apng": "image/apng",
             ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp"}


def _report_html(job, artefacts: Path) -> str:
    """`output.report` for one job: its input copy for the frame, its --explain folder."""
    from fakescope.output.evidence import gather
    from fakescope.output.report import Item, render

    sha8 = (job.result.get("sha256") or "")[:8]
    folders = sorted(artefacts.glob(f"*_{sha8}")) if sha8 and artefacts.is_dir() else []
    evidence = gather(job.result, Path(job.input_path), folders[0] if folders else None)
    return render([Item(job.result, evidence, settings=job.settings, title=job.filename)])


def _scan_suffix(path: str) -> str:
    """The copy's suffix: the original's if it names a media kind (the scan reads by kind),
    else ``.bin``."""
    from fakescope.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    suffix = Path(path).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES | VIDEO_SUFFIXES else ".bin"


def _copy_artefacts(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
