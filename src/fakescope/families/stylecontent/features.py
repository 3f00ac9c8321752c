"""Feature cache of seed 004: content and style features of every clip computed once, written
as one ``.pt`` file per clip under ``ROOT/<extractor>/real/`` and ``ROOT/<extractor>/fake/``,
so that training epochs read tensors instead of running the 3D ResNet and the style encoder.

Each entry holds a header and the two tensors::

    {"header": {"format": 1, "extractor": "<StyleContent.extractor_id>", "unit": "<clip id>",
                "label": 0 | 1, "valid": True,
                "sources": [{"path": ..., "size": bytes, "mtime_ns": ...}, ...]},
     "content": (N, C) float16, "style": (F, 512) float16}

An entry is reused only when it loads, its header says ``valid``, its format and extractor
match, its tensors have the expected shapes and are finite, and every source crop still has
the recorded size and modification time. Anything else (a crop touched or re-extracted, a
truncated file, another extractor) is recomputed; `FeatureCache.stats` counts both.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fakescope.output.atomic import atomic_write_bytes

log = logging.getLogger(__name__)
FORMAT = 1


def source_stats(paths: Sequence[str | os.PathLike]) -> list[dict]:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append({"path": str(p), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)})
    return out


@dataclass
class CacheStats:
    reused: int = 0
    computed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def note(self, reason: str) -> None:
        self.computed += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


class FeatureCache:
    """``FeatureCache(root, extractor_id).get(unit, label, sources, compute)`` → the entry
    (a dict as above), computing and writing it with ``compute() → (content, style)`` unless
    a valid one is on disk."""

    def __init__(self, root: str | os.PathLike, extractor_id: str) -> None:
        self.extractor_id = extractor_id
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", extractor_id)[:80]
        digest = hashlib.sha1(extractor_id.encode()).hexdigest()[:8]
        self.root = Path(root) / f"{slug}-{digest}"
        self.stats = CacheStats()

    def path(self, unit: str, label: int) -> Path:
        key = hashlib.sha1(unit.encode()).hexdigest()[:20]
        return self.root / ("fake" if int(label) == 1 else "real") / f"{key}.pt"

    def check(self, entry: object, unit: str, label: int,
              sources: Sequence[str | os.PathLike]) -> str | None:
        """None when `entry` is valid for this unit, else why not."""
        if not isinstance(entry, dict) or not isinstance(entry.get("header"), dict):
            return "corrupt"
        h = entry["header"]
        if h.get("format") != FORMAT or h.get("extractor") != self.extractor_id:
            return "extractor"
        if not h.get("valid") or h.get("unit") != unit or int(h.get("label", -1)) != int(label):
            return "invalid"
        content, style = entry.get("content"), entry.get("style")
        if not (isinstance(content, torch.Tensor) and isinstance(style, torch.Tensor)) \
                or content.ndim != 2 or style.ndim != 2 or len(style) != len(h.get("sources", ())):
            return "corrupt"
        if not (torch.isfinite(content.float()).all() and torch.isfinite(style.float()).all()):
            return "invalid"
        try:
            if source_stats(sources) != h.get("sources"):
                return "stale"
        except OSError:
            return "stale"
        return None

    def load(self, unit: str, label: int, sources: Sequence[str | os.PathLike]) -> tuple[dict | None, str]:
        path = self.path(unit, label)
        if not path.is_file():
            return None, "missing"
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - any unreadable file is recomputed
            return None, "corrupt"
        why = self.check(entry, unit, label, sources)
        return (entry, "ok") if why is None else (None, why)

    def get(self, unit: str, label: int, sources: Sequence[str | os.PathLike],
            compute: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> dict:
        entry, why = self.load(unit, label, sources)
        if entry is not None:
            self.stats.reused += 1
            return entry
        self.stats.note(why)
        content, style = compute()
        content, style = content.detach().cpu(), style.detach().cpu()
        valid = bool(torch.isfinite(content).all() and torch.isfinite(style).all())
        entry = {"header": {"format": FORMAT, "extractor": self.extractor_id, "unit": unit,
                            "label": int(label), "valid": valid,
                            "sources": source_stats(sources)},
                 "content": content.half(), "style": style.half()}
        path = self.path(unit, label)
        path.parent.mkdir(parents=True, exist_ok=True)
        import io

        buf = io.BytesIO()
        torch.save(entry, buf)
        atomic_write_bytes(path, buf.getvalue())
        if not valid:
            log.warning("%s: non-finite features; stored as invalid", unit)
        return entry
