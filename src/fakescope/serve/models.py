"""Typed requests of `fakescope serve`: every value a client sends is checked here, where it
enters, so a wrong type or range is a 422 naming the field, never a 500 further in."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"  # uuid4().hex: the only ids the server makes
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="a scan id (32 hex digits)")]
# An artefact's name below its job's folder: plain segments that start with a letter, digit or
# underscore (so never "." or ".."), no NUL or backslash.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
ARTEFACT_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"
ArtefactName = Annotated[str, Path(pattern=ARTEFACT_PATTERN, max_length=512)]


class ScanOptions(BaseModel):
    """What a request may change in the server's scan settings (query or form fields)."""

    model_config = ConfigDict(extra="forbid")

    detector: str | None = Field(None, max_length=64)
    sampling: str | None = Field(None, max_length=64)
    threshold: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False)

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: str | None) -> str | None:
        from fakescope.detectors.registry import list_detectors

        if value is not None and value not in list_detectors():
            raise ValueError(f"unknown detector {value!r}; one of {', '.join(list_detectors())}")
        return value

    @field_validator("sampling")
    @classmethod
    def _valid_sampling(cls, value: str | None) -> str | None:
        from fakescope.media import parse_sampling

        if value is not None:
            parse_sampling(value)  # ValueError says what is wrong
        return value


class PathScan(ScanOptions):
    """JSON body of a path scan: strict types (``"0.5"`` or ``true`` is no threshold)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    path: str = Field(min_length=1, max_length=4096)

    @field_validator("path")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("a path cannot contain a NUL byte")
        return value


def options_from(raw: dict[str, object]) -> ScanOptions:
    """ScanOptions from query/form strings (empty ones ignored). Raises a 422 HTTPException."""
    given = {k: v for k, v in raw.items() if v not in (None, "")}
    try:
        return ScanOptions.model_validate(given)
    except ValidationError as exc:
        raise invalid(exc) from exc


def invalid(exc: ValidationError) -> HTTPException:
    """A 422 whose detail names each bad field and why, as one readable line."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return HTTPException(422, "; ".join(parts))
