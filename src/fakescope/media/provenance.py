"""What a file says about where it came from, read beside the pixels and never scored.

Content Credentials (a C2PA manifest: who signed it, whether the signature and the hashes of
the content still hold, the actions it claims — e.g. created by a generative model, IPTC
``digitalSourceType`` ``trainedAlgorithmicMedia``) are often stronger evidence than any
detector; EXIF make / model / software and a container's encoder tags are weaker hints (easy to
strip or forge). Each part is read on its own: a part that fails records its error and the
others still count, and nothing here can change a verdict's score.
"""

from __future__ import annotations

import mimetypes
import os
import time
from pathlib import Path
from typing import Any

# IPTC digital source types (https://cv.iptc.org/newscodes/digitalsourcetype/) that say the
# content was made by an algorithm, wholly or in part.
GENERATED_SOURCE_TYPES = {"trainedAlgorithmicMedia", "algorithmicMedia"}
PARTLY_GENERATED_SOURCE_TYPES = {"compositeWithTrainedAlgorithmicMedia", "compositeSynthetic"}

# EXIF tags shown (0th IFD): Make, Model, Software, DateTime, Artist.
_EXIF_TAGS = {0x010F: "make", 0x0110: "model", 0x0131: "software", 0x0132: "datetime",
              0x013B: "artist"}
# Container / stream tags that name the tool or device that wrote the file.
_CONTAINER_TAGS = ("encoder", "encoded_by", "creation_time", "major_brand", "compatible_brands",
                   "com.apple.quicktime.make", "com.apple.quicktime.model",
                   "com.apple.quicktime.software", "com.android.manufacturer",
                   "com.android.model", "handler_name", "vendor_id", "software", "comment")
_MAX_TAG = 200  # characters kept per tag value (tags are free text written by anyone)


def describe(path: str | os.PathLike, info: Any,
             timings: dict[str, float] | None = None) -> tuple[dict | None, dict | None]:
    """(facts, provenance) of a probed file, for `ScanResult.media` / `.provenance`; (None,
    None) when it could not be probed. Adds its time to ``timings["provenance"]`` and
    ``timings["total"]``."""
    if info is None:
        return None, None
    t0 = time.perf_counter()
    provenance = read_provenance(path, info.kind)
    try:
        facts = file_facts(path, info)
    except OSError as exc:  # gone since it was probed: the probe's facts are still known
        facts = {"error": f"{type(exc).__name__}: {exc}"}
    facts["format"] = (provenance["container"] or {}).get("format")
    if timings is not None:  # read after the scan's total was taken: counted in it too
        spent = time.perf_counter() - t0
        timings["provenance"] = timings.get("provenance", 0.0) + spent
        if "total" in timings:
            timings["total"] += spent
    return facts, provenance


def file_facts(path: str | os.PathLike, info: Any) -> dict[str, Any]:
    """The facts of a probed file (`types.MediaInfo`) for display: size and the probe's
    measurements (format is added by `read_provenance`'s container part)."""
    return {
        "bytes": os.stat(path).st_size,
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "fps": info.fps,
        "duration_s": info.duration_s,
        "frame_count": info.frame_count,
        "codec": info.codec,
    }


def read_provenance(path: str | os.PathLike, kind: str | None) -> dict[str, Any]:
    """``{"c2pa": ..., "exif": ..., "container": ...}`` for an image or a video."""
    path = Path(path)
    return {
        "c2pa": read_c2pa(path),
        "exif": read_exif(path) if kind == "image" else None,
        "container": read_container(path, kind),
    }


def source_type(value: str | None) -> str | None:
    """The IPTC code at the end of a ``digitalSourceType`` URI (or the bare code)."""
    if not value:
        return None
    return value.rstrip("/").rsplit("/", 1)[-1]


def read_c2pa(path: Path) -> dict[str, Any]:
    """The active manifest of the file's C2PA store: present, validation state (``valid``:
    signature and content hashes hold; ``trusted``: and the signer chains to a trust list this
    reader was given — none here, so a valid manifest from an unknown signer is ``valid``, not
    ``trusted``; ``invalid`` lists the failed checks), signer, claim generator, actions."""
    try:
        import c2pa
    except ImportError as exc:
        return {"checked": False, "present": None, "error": f"c2pa-python is not installed ({exc})"}
    mime = mimetypes.guess_type(path.name)[0]
    if mime is None or mime not in c2pa.Reader.get_supported_mime_types():
        return {"checked": False, "present": None,
                "error": f"the C2PA reader does not read {path.suffix or 'suffix-less'} files"}
    try:
        with open(path, "rb") as stream:
            reader = c2pa.Reader.try_create(mime, stream)
            if reader is None:
                return {"checked": True, "present": False}
            with reader:
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
                manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as exc:  # a damaged or unreadable store: say so, it is evidence too
        return {"checked": True, "present": True, "state": "unreadable", "valid": False,
                "error": f"{type(exc).__name__}: {exc}"}
    active = results.get("activeManifest") or {}
    failures = sorted({f.get("code", "?") for f in active.get("failure", [])})
    state = (state or "").lower() or None
    sig = manifest.get("signature_info") or {}
    actions = _actions(manifest)
    types = {a["source_type"] for a in actions if a.get("source_type")}
    return {
        "checked": True,
        "present": True,
        "state": state,
        "valid": state in ("valid", "trusted"),
        "trusted": state == "trusted",
        "failures": failures,
        "signer": sig.get("common_name"),
        "issuer": sig.get("issuer"),
        "signed_at": sig.get("time"),
        "claim_generator": _generator(manifest),
        "title": manifest.get("title"),
        "actions": actions,
        "generated": "yes" if types & GENERATED_SOURCE_TYPES else
                     "partly" if types & PARTLY_GENERATED_SOURCE_TYPES else "no",
    }


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for assertion in manifest.get("assertions", []):
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for a in (assertion.get("data") or {}).get("actions", []):
            agent = a.get("softwareAgent")
            if isinstance(agent, dict):
                agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
            out.append({"action": a.get("action"),
                        "source_type": source_type(a.get("digitalSourceType")),
                        "software_agent": agent, "when": a.get("when")})
    return out


def _generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info") or []
    names = [" ".join(str(g[k]) for k in ("name", "version") if g.get(k)) for g in info]
    return "; ".join(n for n in names if n) or manifest.get("claim_generator")


def read_exif(path: Path) -> dict[str, Any]:
    """Make, model, software, date and artist from the image's EXIF (``{}``: none)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            exif = img.getexif()
            fields = {name: _clip(exif.get(tag)) for tag, name in _EXIF_TAGS.items()
                      if exif.get(tag) not in (None, "")}
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return fields


def read_container(path: Path, kind: str | None) -> dict[str, Any]:
    """The container's format and its tags that name a writer (encoder, brand, device)."""
    if kind == "image":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                text = {k.lower(): _clip(v) for k, v in (img.info or {}).items()
                        if isinstance(v, str) and k.lower() in ("software", "comment", "author")}
                return {"format": img.format, "tags": text}
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            tags = _pick(container.metadata)
            for stream in container.streams:
                for k, v in _pick(stream.metadata).items():
                    tags.setdefault(f"{stream.type}:{k}", v)
            return {"format": container.format.long_name or container.format.name, "tags": tags}
    except (av.error.FFmpegError, OSError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _pick(metadata: dict[str, str]) -> dict[str, str]:
    return {k: _clip(v) for k, v in (metadata or {}).items() if k.lower() in _CONTAINER_TAGS and v}


def _clip(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.replace("\x00", "").strip()
    return text if len(text) <= _MAX_TAG else text[:_MAX_TAG] + "…"


def summary(provenance: dict[str, Any] | None) -> str | None:
    """One sentence on the C2PA manifest when there is one that matters to the verdict's
    reader (generated content, or a manifest that no longer validates); else None."""
    c = (provenance or {}).get("c2pa") or {}
    if not c.get("present"):
        return None
    signer = c.get("signer") or c.get("issuer") or "an unnamed signer"
    if not c.get("valid"):
        failed = [f for f in c.get("failures") or [] if f != "signingCredential.untrusted"]
        why = ", ".join(failed) or c.get("error") or c.get("state")
        return (f"Its Content Credentials (signed by {signer}) do not validate ({why}): the file "
                "was changed after signing, or the manifest is damaged.")
    trust = "trusted signer" if c.get("trusted") else "signer not on a trust list"
    if c.get("generated") == "yes":
        return (f"Its Content Credentials, valid and signed by {signer} ({trust}), say it was "
                "generated by an AI model.")
    if c.get("generated") == "partly":
        return (f"Its Content Credentials, valid and signed by {signer} ({trust}), say parts of "
                "it were generated by an AI model.")
    return f"It carries valid Content Credentials signed by {signer} ({trust})."
