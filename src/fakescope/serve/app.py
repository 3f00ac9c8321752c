"""`fakescope serve`: the REST API and the web page, a thin layer over the CLI's scan.

Jobs live in the SQLite store; runner threads scan them in worker processes (`runner`); the
result of a job is exactly the CLI's JSON record. Uploads stream to disk (`uploads`). Files on
the server are scanned only under an `--allow-root`, resolved with symlinks followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from fakescope import __version__
from fakescope.errors import FakescopeError
from fakescope.media import sha256_file
from fakescope.scan import Limits, ScanSettings
from fakescope.serve.runner import Runners, settings_for
from fakescope.serve.store import JobStore
from fakescope.serve.uploads import UploadError, receive_upload

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


def _check_options(detector: str | None, sampling: str | None, threshold: float | None) -> None:
    from fakescope.detectors.registry import list_detectors
    from fakescope.media import parse_sampling

    if detector is not None and detector not in list_detectors():
        raise HTTPException(422, f"unknown detector {detector!r}; one of {', '.join(list_detectors())}")
    if sampling is not None:
        try:
            parse_sampling(sampling)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise HTTPException(422, "threshold must be in [0, 1]")


def _inside(path: Path, roots: tuple[Path, ...]) -> Path | None:
    """`path` with links and `..` resolved, if that lies under one of `roots` (also resolved)."""
    real = Path(os.path.realpath(path))
    for root in roots:
        base = Path(os.path.realpath(root))
        if real == base or base in real.parents:
            return real
    return None


def _dedup_key(sha256: str, settings: ScanSettings) -> str:
    text = json.dumps([sha256, asdict(settings), __version__], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def create_app(config: ServeConfig) -> FastAPI:
    data = Path(config.data_dir)
    uploads, artefacts = data / "uploads", data / "artefacts"
    store = JobStore(data / "jobs.sqlite")
    runners = Runners(store, artefacts, n=config.workers, limits=config.limits)
    max_bytes = int(config.max_upload_mb * 2**20)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runners.start()
        try:
            yield
        finally:
            runners.stop()

    app = FastAPI(title="fakescope", version=__version__, lifespan=lifespan,
                  description="Scan images and videos for manipulated faces.")
    app.state.store, app.state.runners, app.state.config = store, runners, config

    def authorised(request: Request, token: str | None = Query(None, include_in_schema=False)) -> None:
        """Bearer token (or ?token= for images the page embeds) when the server has one."""
        if config.token is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or token
        if not given or not hmac.compare_digest(given, config.token):
            raise HTTPException(401, "a valid token is required", headers={"WWW-Authenticate": "Bearer"})

    def job_view(job) -> dict[str, Any]:
        out = job.public()
        folder = artefacts / job.id
        out["artefacts"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                                  if p.is_file()) if folder.is_dir() else []
        return out

    def queue_full() -> None:
        if store.count("queued") >= config.max_queue:
            raise HTTPException(429, "the scan queue is full; try again shortly",
                                headers={"Retry-After": "5"})

    @app.get("/api/health")
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
        queue_full()
        ctype = request.headers.get("content-type", "")
        job_id = uuid.uuid4().hex
        if ctype.startswith("application/json"):
            try:
                body = await request.json()
            except ValueError as exc:  # malformed JSON is the client's error, not a 500
                raise HTTPException(422, f"the body is not valid JSON: {exc}") from exc
            if not isinstance(body, dict) or not isinstance(body.get("path"), str):
                raise HTTPException(422, 'send {"path": "..."}')
            detector = body.get("detector", detector)
            sampling = body.get("sampling", sampling)
            threshold = body.get("threshold", threshold)
            _check_options(detector, sampling, threshold)
            if not config.allow_roots:
                raise HTTPException(403, "this server scans no server-side paths (no --allow-root)")
            real = _inside(Path(body["path"]), config.allow_roots)
            if real is None:
                raise HTTPException(403, "the path is outside every --allow-root")
            if not real.is_file():
                raise HTTPException(404, "no such file under the allowed roots")
            source, input_path, filename = "path", real, real.name
        else:
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:
                raise HTTPException(413, f"the upload is over the {config.max_upload_mb:g} MiB limit")
            try:
                up = await receive_upload(request.stream(), ctype, uploads / job_id, max_bytes)
            except UploadError as exc:
                shutil.rmtree(uploads / job_id, ignore_errors=True)
                raise HTTPException(exc.status, exc.message) from exc
            detector = up.fields.get("detector") or detector
            sampling = up.fields.get("sampling") or sampling
            if up.fields.get("threshold"):
                try:
                    threshold = float(up.fields["threshold"])
                except ValueError as exc:
                    raise HTTPException(422, "threshold must be a number") from exc
            try:
                _check_options(detector, sampling, threshold)
            except HTTPException:
                shutil.rmtree(uploads / job_id, ignore_errors=True)
                raise
            source, input_path, filename = "upload", up.path, up.filename
        settings = settings_for(config.settings, detector, sampling, threshold)
        try:
            sha = sha256_file(input_path)
        except FakescopeError:  # e.g. an empty upload: scanned all the same, it abstains with why
            sha = None
        key = _dedup_key(sha, settings) if sha else None
        job = store.add(source, str(input_path), filename, asdict(settings), sha, key, job_id=job_id)
        twin = store.finished_twin(key) if key else None
        if twin is not None and twin.id != job.id and twin.result is not None:
            twin.result = {**twin.result, "path": str(input_path)}
            store.finish_from_twin(job.id, twin)
            _copy_artefacts(artefacts / twin.id, artefacts / job.id)
        else:
            runners.wake()
        return JSONResponse({"id": job.id, "status": store.get(job.id).status}, status_code=202)

    @app.get("/api/scans", dependencies=[Depends(authorised)])
    def list_scans(limit: int = Query(20, ge=1, le=200), offset: int = Query(0, ge=0)) -> dict:
        jobs, total = store.list(limit, offset)
        return {"total": total, "limit": limit, "offset": offset,
                "items": [job_view(j) for j in jobs]}

    @app.get("/api/scans/{job_id}", dependencies=[Depends(authorised)])
    def get_scan(job_id: str) -> dict:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, "no such scan")
        return job_view(job)

    @app.delete("/api/scans/{job_id}", status_code=204, dependencies=[Depends(authorised)])
    def delete_scan(job_id: str) -> None:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, "no such scan")
        store.delete(job_id)
        shutil.rmtree(artefacts / job_id, ignore_errors=True)
        if job.source == "upload":
            shutil.rmtree(uploads / job_id, ignore_errors=True)

    @app.get("/api/scans/{job_id}/artefacts/{name:path}", dependencies=[Depends(authorised)])
    def artefact(job_id: str, name: str) -> FileResponse:
        folder = artefacts / job_id
        real = _inside(folder / name, (folder,))
        if real is None or not real.is_file():
            raise HTTPException(404, "no such artefact")
        return FileResponse(real)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _copy_artefacts(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
