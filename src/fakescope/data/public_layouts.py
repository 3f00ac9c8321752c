"""Readers for the public deepfake dataset layouts, each returning one DataFrame.

Every reader returns columns ``path`` (absolute str), ``label`` (1 fake / 0 real), ``group``
(the real source video: a fake and its source share it, so splitting by ``group`` keeps them
together) and ``video`` (the item's own video name); plus ``method``, ``identity``, ``donor``
and ``split`` where the layout says so. Missing files are reported, never silently skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from fakescope.data.labels import LABEL_FAKE, LABEL_REAL, parse_label
from fakescope.data.splits import connected_keys
from fakescope.errors import FakescopeError

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


class LayoutError(FakescopeError):
    """A dataset folder or metadata file does not have the expected layout."""

    def __init__(self, path: str | Path, detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")


def _finish(rows: list[dict], where: Path, check_exists: bool) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        raise LayoutError(where, "no items found")
    if check_exists:
        missing = [p for p in df["path"] if not Path(p).exists()]
        if missing:
            raise LayoutError(
                where, f"{len(missing)} listed file(s) do not exist, e.g. {missing[:3]}"
            )
    df["label"] = df["label"].astype("int64")
    first = ["path", "label", "group", "video"]
    return df[first + [c for c in df.columns if c not in first]]


# ---------------------------------------------------------------------------------- DFDC
def read_dfdc_metadata(json_path: str | Path, check_exists: bool = False) -> pd.DataFrame:
    """DFDC ``metadata.json`` (``{"x.mp4": {"label": "FAKE", "original": "y.mp4", "split": ..}}``).

    `json_path` may also be a folder: every ``metadata.json`` under it is read (the DFDC
    training set ships as ``dfdc_train_part_*/metadata.json``). Paths are next to the json.
    ``group`` is ``original`` for fakes and the video's own name for reals.
    """
    json_path = Path(json_path)
    files = sorted(json_path.rglob("metadata.json")) if json_path.is_dir() else [json_path]
    if not files:
        raise LayoutError(json_path, "no metadata.json found")
    rows = []
    for f in files:
        try:
            meta = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise LayoutError(f, f"cannot read DFDC metadata: {e}") from e
        if not isinstance(meta, dict):
            raise LayoutError(f, "expected a JSON object mapping video names to entries")
        for name, entry in meta.items():
            try:
                label = parse_label(entry["label"])
            except (KeyError, TypeError, ValueError) as e:
                raise LayoutError(f, f"entry {name!r} has no valid label: {e}") from e
            original = entry.get("original")
            if label == LABEL_FAKE and not original:
                raise LayoutError(f, f"fake {name!r} has no 'original' (source video)")
            rows.append(
                {
                    "path": str((f.parent / name).resolve()),
                    "label": label,
                    "group": original if label == LABEL_FAKE else name,
                    "video": name,
                    "split": entry.get("split"),
                }
            )
    return _finish(rows, json_path, check_exists)


def read_crop_csv(
    csv_path: str | Path,
    image_dir: str | Path | None = None,
    ext: str = ".jpg",
    check_exists: bool = True,
) -> pd.DataFrame:
    """Crop folders with a CSV: the shared DFDC faces (``videoname,label,original``) or a
    generic ``path,label[,group][,identity]`` CSV.

    For the DFDC form the crop of ``abc.mp4`` is ``image_dir/abc.jpg`` (`ext`); ``group`` is
    ``original`` for fakes and ``videoname`` for reals. For the generic form relative paths
    are resolved against `image_dir` (default: the CSV's folder) and a missing ``group``
    defaults to the path (each file its own group).
    """
    csv_path = Path(csv_path)
    try:
        raw = pd.read_csv(csv_path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise LayoutError(csv_path, f"cannot read CSV: {e}") from e
    base = Path(image_dir) if image_dir is not None else csv_path.parent
    if "label" not in raw.columns:
        raise LayoutError(csv_path, f"no 'label' column (columns: {list(raw.columns)})")
    try:
        labels = [parse_label(v) for v in raw["label"]]
    except ValueError as e:
        raise LayoutError(csv_path, str(e)) from e
    out = raw.copy()
    out["label"] = labels
    if "videoname" in raw.columns:
        if "original" not in raw.columns:
            raise LayoutError(csv_path, "DFDC-style CSV has 'videoname' but no 'original'")
        fake = out["label"] == LABEL_FAKE
        bad = fake & out["original"].isna()
        if bad.any():
            raise LayoutError(
                csv_path, f"{int(bad.sum())} fake row(s) without 'original', e.g. "
                f"{out.loc[bad, 'videoname'].head(3).tolist()}"
            )
        out["video"] = out["videoname"]
        out["group"] = out["original"].where(fake, out["videoname"])
        out["path"] = [str((base / (Path(v).stem + ext)).resolve()) for v in out["videoname"]]
    elif "path" in raw.columns:
        out["path"] = [str((base / p).resolve()) for p in raw["path"].astype(str)]
        if "video" not in out.columns:
            out["video"] = [Path(p).stem for p in out["path"]]
        if "group" not in out.columns:
            out["group"] = out["path"]
        else:
            out["group"] = out["group"].fillna(out["path"])
    else:
        raise LayoutError(csv_path, "CSV needs 'videoname'+'original' or 'path' columns")
    return _finish(out.to_dict("records"), csv_path, check_exists)


# ----------------------------------------------------------------------- FaceForensics++
_FF_TARGET_DONOR = re.compile(r"^(\d{3})_(\d{3})$")
_DFD_FAKE = re.compile(r"^(\d{2})_(\d{2})__(.+?)__[A-Z0-9]{8}$")
_DFD_REAL = re.compile(r"^(\d{2})__(.+)$")


def read_faceforensics(
    root: str | Path,
    split: str | Path | None = None,
    compression: str | None = None,
    methods: Iterable[str] | None = None,
) -> pd.DataFrame:
    """FaceForensics++ (``original_sequences/{youtube,actors}/<c>/videos``,
    ``manipulated_sequences/<Method>/<c>/videos``).

    A fake ``000_003.mp4`` is target video 000 with the face of 003: both source videos are
    linked, so ``group`` is the connected component of {000, 003} (with the official splits
    this is exactly the pair). DeepFakeDetection / actors (``01_02__scene__XXXXXXXX``) are
    grouped by actor: ``identity`` is the actor, and actors linked by a swap share a group.
    `split` is ``train``/``val``/``test`` (read from ``<root>/splits/<split>.json`` or
    ``<root>/<split>.json``) or a path to a split JSON (``[["071","054"], ...]``); it keeps
    only YouTube items whose ids are in it (actor videos have no official split and are
    dropped when a split is asked for). `compression` picks ``raw``/``c23``/``c40`` (default:
    all found); `methods` restricts manipulation methods.
    """
    root = Path(root)
    if not (root / "original_sequences").is_dir() and not (root / "manipulated_sequences").is_dir():
        raise LayoutError(root, "no original_sequences/ or manipulated_sequences/ folder")
    wanted_methods = set(methods) if methods is not None else None
    rows: list[dict] = []
    for kind_dir in sorted((root / "original_sequences").glob("*")):
        for video in _ff_videos(kind_dir, compression):
            stem = video.stem
            if kind_dir.name == "actors":
                m = _DFD_REAL.match(stem)
                actor = f"actor{m.group(1)}" if m else f"actor:{stem}"
                rows.append(_ff_row(video, LABEL_REAL, "original", kind_dir.name, [actor], actor, None))
            else:
                rows.append(_ff_row(video, LABEL_REAL, "original", kind_dir.name, [stem], None, None))
    for method_dir in sorted((root / "manipulated_sequences").glob("*")):
        method = method_dir.name
        if wanted_methods is not None and method not in wanted_methods:
            continue
        for video in _ff_videos(method_dir, compression):
            stem = video.stem
            m = _FF_TARGET_DONOR.match(stem)
            d = _DFD_FAKE.match(stem)
            if m:
                rows.append(_ff_row(video, LABEL_FAKE, method, "youtube", [m[1], m[2]], None, m[2]))
            elif d:
                a, b = f"actor{d[1]}", f"actor{d[2]}"
                rows.append(_ff_row(video, LABEL_FAKE, method, "actors", [a, b], a, b))
            else:
                raise LayoutError(video, "manipulated video name is not <target>_<donor>")
    if not rows:
        raise LayoutError(root, "no videos found under */*/<compression>/videos/")
    df = pd.DataFrame(rows)
    df["group"] = connected_keys(df.pop("_links").tolist())
    if split is not None:
        ids = _ff_split_ids(root, split)
        in_split = df["_ids"].map(lambda xs: xs is not None and set(xs) <= ids)
        df = df[(df["source"] == "youtube") & in_split].reset_index(drop=True)
        df["split"] = str(split) if not Path(str(split)).suffix else Path(str(split)).stem
        if df.empty:
            raise LayoutError(root, f"no videos of split {split!r} found")
    df = df.drop(columns="_ids")
    return _finish(df.to_dict("records"), root, check_exists=False)


def _ff_row(video: Path, label: int, method: str, source: str, links: list[str],
            identity: str | None, donor: str | None) -> dict:
    return {
        "path": str(video.resolve()),
        "label": label,
        "video": video.stem,
        "method": method,
        "source": source,
        "compression": video.parent.parent.name,
        "identity": identity,
        "donor": donor,
        "_links": links,
        "_ids": links if source == "youtube" else None,
    }


def _ff_videos(method_dir: Path, compression: str | None) -> list[Path]:
    comps = [method_dir / compression] if compression else sorted(method_dir.glob("*"))
    out: list[Path] = []
    for c in comps:
        vdir = c / "videos"
        if vdir.is_dir():
            out += sorted(p for p in vdir.iterdir() if p.suffix.lower() in VIDEO_EXTS)
    return out


def _ff_split_ids(root: Path, split: str | Path) -> set[str]:
    cand = Path(split)
    if cand.suffix.lower() != ".json":
        cand = next(
            (p for p in (root / "splits" / f"{split}.json", root / f"{split}.json") if p.is_file()),
            root / "splits" / f"{split}.json",
        )
    try:
        pairs = json.loads(cand.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise LayoutError(cand, f"cannot read FaceForensics++ split file: {e}") from e
    try:
        return {str(x) for pair in pairs for x in pair}
    except TypeError as e:
        raise LayoutError(cand, "split file must be a list of [id, id] pairs") from e


# ------------------------------------------------------------------------------ Celeb-DF
_CELEB_REAL = re.compile(r"^(id\d+)_(\d{4})$")
_CELEB_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d{4})$")
_CELEB_FOLDERS = {"Celeb-real": LABEL_REAL, "YouTube-real": LABEL_REAL, "Celeb-synthesis": LABEL_FAKE}


def read_celebdf(root: str | Path, split: str | None = None) -> pd.DataFrame:
    """Celeb-DF (v1/v2): ``Celeb-real/idA_NNNN.mp4``, ``Celeb-synthesis/idA_idB_NNNN.mp4``,
    ``YouTube-real/NNNNN.mp4`` and ``List_of_testing_videos.txt``.

    A fake ``idA_idB_NNNN`` is source video ``idA_NNNN`` with the face of ``idB``: ``group`` is
    ``idA_NNNN``, ``identity`` is ``idA``, ``donor`` is ``idB``. ``split`` is ``test`` for the
    videos in the official list, ``train`` otherwise; `split` keeps one of them. The list's own
    labels (1 = real, 0 = fake in that file) are checked against the folders.
    """
    root = Path(root)
    rows = []
    for folder, label in _CELEB_FOLDERS.items():
        d = root / folder
        if not d.is_dir():
            continue
        for video in sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_EXTS):
            stem = video.stem
            identity = donor = None
            if folder == "Celeb-synthesis":
                m = _CELEB_FAKE.match(stem)
                if not m:
                    raise LayoutError(video, "Celeb-synthesis name is not idA_idB_NNNN")
                identity, donor, group = m[1], m[2], f"{m[1]}_{m[3]}"
            elif folder == "Celeb-real":
                m = _CELEB_REAL.match(stem)
                if not m:
                    raise LayoutError(video, "Celeb-real name is not idA_NNNN")
                identity, group = m[1], stem
            else:
                group = f"youtube_{stem}"
            rows.append(
                {
                    "path": str(video.resolve()),
                    "label": label,
                    "group": group,
                    "video": f"{folder}/{video.name}",
                    "method": "celeb-synthesis" if label == LABEL_FAKE else "original",
                    "source": folder,
                    "identity": identity,
                    "donor": donor,
                }
            )
    if not rows:
        raise LayoutError(root, "no Celeb-real/, Celeb-synthesis/ or YouTube-real/ videos")
    df = pd.DataFrame(rows)
    test = _celeb_test_list(root)
    known = set(df["video"])
    unknown = sorted(set(test) - known)
    if unknown:
        raise LayoutError(root / "List_of_testing_videos.txt",
                          f"{len(unknown)} listed video(s) not found, e.g. {unknown[:3]}")
    for video, list_label in test.items():
        folder_label = int(df.loc[df["video"] == video, "label"].iloc[0])
        if folder_label != list_label:
            raise LayoutError(root / "List_of_testing_videos.txt",
                              f"{video}: list says label {list_label}, folder says {folder_label}")
    df["split"] = ["test" if v in test else "train" for v in df["video"]]
    if split is not None:
        if split not in ("train", "test"):
            raise ValueError(f"Celeb-DF split must be 'train' or 'test', got {split!r}")
        df = df[df["split"] == split].reset_index(drop=True)
    return _finish(df.to_dict("records"), root, check_exists=False)


def _celeb_test_list(root: Path) -> dict[str, int]:
    """``video -> label`` (our convention) from ``List_of_testing_videos.txt``, or {}."""
    f = root / "List_of_testing_videos.txt"
    if not f.is_file():
        return {}
    out = {}
    for n, line in enumerate(f.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise LayoutError(f, f"line {n} is not '<1|0> <folder>/<video>': {line!r}")
        # Celeb-DF's list uses 1 = real, 0 = synthesised: the opposite of ours.
        out[parts[1]] = LABEL_REAL if parts[0] == "1" else LABEL_FAKE
    return out
