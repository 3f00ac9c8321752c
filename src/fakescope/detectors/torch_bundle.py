"""A detector that runs one torch bundle on single face crops: the shared body of every crop
family (preprocessing with the bundle's normalisation, PyTorch or ONNX Runtime, batching).

Families subclass it for what is theirs (an explanation method, a packaged weights file);
none re-implements normalisation or the runtime choice. `BundleCropDetector.create` is the
families' factory: when this weights file's ONNX graph is cached and chosen (see `runtime.py`)
it starts without importing torch; the bundle and the torch model load on first need
(explanations, embeddings).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fakescope.detectors.base import BundleDetector, DetectorRequirements
from fakescope.detectors.bundle import (
    Bundle,
    BundleMeta,
    build_model,
    file_sha256,
    load_bundle,
    meta_from_dict,
)
from fakescope.detectors.runtime import (
    BATCH,
    CHOICE_FILE,
    META_FILE,
    OnnxRunner,
    cache_root,
    cached_onnx_graph,
    choose_runner,
    read_choice,
    sigmoid,
)
from fakescope.device import cpu_without_torch, resolve_device
from fakescope.errors import WeightsError
from fakescope.output.atomic import atomic_write_text
from fakescope.types import DetectorInfo

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def packaged_weights(weights_name: str, card_name: str, family: str) -> tuple[Path, str]:
    """Path and pinned sha256 of a weights file shipped in ``fakescope/weights``, or a
    `WeightsError` saying how to proceed without it. The model card's "sha256" pins it."""
    folder = resources.files("fakescope") / "weights"
    weights, card = folder / weights_name, folder / card_name
    if not (weights.is_file() and card.is_file()):
        raise WeightsError(
            f"no packaged {family} weights in this install (looked for {weights_name} and "
            f"{card_name} in {folder}); pass a trained bundle with --weights PATH "
            "(Python: create_detector(weights=PATH)); `fakescope train` writes one"
        )
    try:
        sha = json.loads(card.read_text())["sha256"]
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"{card}: model card has no readable 'sha256' ({exc})") from exc
    return Path(str(weights)), sha


GRAPH_META_KEY = "fakescope_meta"  # the bundle's BundleMeta as JSON, in the graph's metadata
GRAPH_BUNDLE_KEY = "bundle_sha256"  # the bundle the graph was exported from


@dataclass(frozen=True)
class PackagedGraph:
    """An ONNX graph shipped beside packaged weights (same scores, no torch to run it)."""

    path: Path
    bundle_sha256: str
    meta: BundleMeta
    session: object  # the ONNX Runtime session its metadata was read with (reused to run it)


def packaged_graph(weights_name: str, card_name: str) -> PackagedGraph | None:
    """The ``.onnx`` beside a packaged weights file, checked against the model card's
    ``onnx_sha256``; None when there is none or it does not check out (then the bundle
    runs, and the first run exports and caches its own graph)."""
    folder = resources.files("fakescope") / "weights"
    graph = folder / (Path(weights_name).stem + ".onnx")
    card = folder / card_name
    if not (graph.is_file() and card.is_file()):
        return None
    try:
        pinned = json.loads(card.read_text())
        path = Path(str(graph))
        if file_sha256(path) != pinned.get("onnx_sha256"):
            log.warning("%s: sha256 does not match the model card's onnx_sha256; not used", path)
            return None
        from fakescope.detectors.runtime import onnx_session

        session = onnx_session(path)
        props = session.get_modelmeta().custom_metadata_map
        meta = meta_from_dict(json.loads(props[GRAPH_META_KEY]))
        return PackagedGraph(path=path, bundle_sha256=props[GRAPH_BUNDLE_KEY], meta=meta,
                             session=session)
    except (OSError, ValueError, KeyError, TypeError, WeightsError) as exc:
        log.warning("packaged ONNX graph %s unusable (%s); the bundle runs instead", graph, exc)
        return None


def graph_metadata(bundle: Bundle) -> dict[str, str]:
    """What `packaged_graph` reads back: the bundle's metadata and identity."""
    return {GRAPH_META_KEY: json.dumps(asdict(bundle.meta)), GRAPH_BUNDLE_KEY: bundle.sha256}


def load_family_bundle(weights: str | Path | Bundle | None,
                       packaged: Callable[[], tuple[Path, str]]) -> Bundle:
    """`weights=None`: the packaged bundle (`packaged()` gives its path and pinned sha256);
    a `Bundle` already loaded; otherwise the user's file."""
    if isinstance(weights, Bundle):
        return weights
    if weights is None:
        path, sha = packaged()
        return load_bundle(path, expected_sha256=sha)
    return load_bundle(weights)


def check_family(bundle: Bundle, family: str, unit: str | tuple[str, ...]) -> None:
    """The bundle must be for this family and score this kind of unit."""
    if bundle.meta.detector != family:
        raise WeightsError(f"bundle {bundle.sha256[:12]} is for detector "
                           f"{bundle.meta.detector!r}, not {family!r}")
    units = (unit,) if isinstance(unit, str) else unit
    if bundle.meta.unit not in units:
        raise WeightsError(f"bundle {bundle.sha256[:12]} scores {bundle.meta.unit}s; "
                           f"{family} runs {' / '.join(units)} models")


def requirements_of(meta: BundleMeta) -> DetectorRequirements:
    """What the bundle's model was trained on: crop size, framing, normalisation, unit."""
    return DetectorRequirements(
        input_size=meta.input_size, crop_preset=meta.crop_preset, mean=tuple(meta.mean),
        std=tuple(meta.std), sequence_length=meta.sequence_length, unit=meta.unit,
        frame_step=meta.frame_step, windows=meta.windows,
    )


def normalise(crops: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 (..., S, S, 3) → float32 (..., 3, S, S), (x / 255 - mean) / std as in training
    (`data.datasets.to_tensor`), as one float32 multiply-add per channel. The channels move
    first while still uint8 (a quarter of the bytes a float32 transpose moves); the same
    values within 4e-7 of the float64 formula."""
    std = np.asarray(std, np.float64).reshape(3)
    scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(3, 1, 1)
    bias = (-np.asarray(mean, np.float64).reshape(3) / std).astype(np.float32).reshape(3, 1, 1)
    x = np.ascontiguousarray(np.moveaxis(crops, -1, -3)).astype(np.float32)
    x *= scale
    x += bias
    return x


class BundleCropDetector(BundleDetector):
    """Per-crop fake probability from a bundle, with PyTorch or ONNX Runtime.

    `runtime`: ``"torch"``, ``"onnx"`` (ONNX Runtime, CPU) or ``"auto"`` — on CPU the one
    measured faster on this machine whose scores agree with PyTorch's (see `runtime.py`);
    on CUDA always PyTorch with AMP. Explanations always come from PyTorch.
    """

    family = ""  # the registered name; the bundle must be for it
    default_cpu_batch = 32

    def __init__(
        self,
        bundle: Bundle,
        device: str | torch.device | None = None,
        runtime: str = "auto",
        batch_size: int | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        check_family(bundle, self.family, "crop")
        self._set_identity(bundle.meta, bundle.sha256, device, batch_size)
        self._bundle, self._bundle_file = bundle, None
        self._device = resolve_device(device)
        self._model = build_model(bundle)
        folder = self.cache_folder(cache_dir) / bundle.sha256
        self.runner, self.runtime_choice = choose_runner(
            self._model, self._device, runtime, bundle.meta.input_size, folder
        )
        _remember_meta(folder, bundle.meta)

    @classmethod
    def create(
        cls,
        weights: str | Path | Bundle | None,
        packaged: Callable[[], tuple[Path, str]],
        device: str | torch.device | None = None,
        runtime: str = "auto",
        batch_size: int | None = None,
        cache_dir: str | Path | None = None,
        packaged_graph: Callable[[], PackagedGraph | None] | None = None,
    ) -> BundleCropDetector:
        """From the packaged weights (`weights=None`), a user's bundle file or a loaded
        `Bundle`; without torch when an ONNX graph of these weights applies: the one cached
        for this file on this machine, or, for the packaged weights, the graph shipped beside
        them (`packaged_graph`)."""
        if not isinstance(weights, Bundle):
            fast = cls._from_graph(weights, packaged, packaged_graph, device, runtime,
                                   batch_size, cache_dir)
            if fast is not None:
                return fast
        return cls(load_family_bundle(weights, packaged), device=device, runtime=runtime,
                   batch_size=batch_size, cache_dir=cache_dir)

    @classmethod
    def _from_graph(cls, weights, packaged, packaged_graph, device, runtime, batch_size,
                    cache_dir):
        """The detector on an ONNX graph with the bundle's metadata, or None (then the bundle
        is loaded the usual way, which also reports any problem with the file)."""
        if runtime not in ("auto", "onnx") or not cpu_without_torch(device):
            return None
        try:
            path, expected = packaged() if weights is None else (Path(weights), None)
            sha = expected if expected is not None else file_sha256(path)
        except WeightsError:
            return None
        folder = cls.cache_folder(cache_dir) / sha
        choice = read_choice(folder / CHOICE_FILE)
        meta = _recall_meta(folder)
        graph = session = None
        if meta is not None and meta.detector == cls.family and meta.unit == "crop":
            graph = cached_onnx_graph(folder, runtime, meta.input_size)
        if graph is None and weights is None and packaged_graph is not None:
            shipped = packaged_graph()
            if shipped is not None and shipped.bundle_sha256 == sha:
                meta = shipped.meta
                torch_won_here = (runtime == "auto" and choice is not None
                                  and choice.runtime == "torch"
                                  and choice.matches(BATCH, meta.input_size))
                if meta.detector == cls.family and meta.unit == "crop" and not torch_won_here:
                    graph, session = shipped.path, shipped.session
        if graph is None:
            return None
        try:
            runner = OnnxRunner(graph, session=session)
        except Exception as exc:  # noqa: BLE001 - a damaged graph: take the slow path
            log.warning("ONNX graph %s unusable (%s: %s); loading the bundle",
                        graph, type(exc).__name__, exc)
            return None
        self = cls.__new__(cls)
        self._set_identity(meta, sha, device, batch_size)
        self._bundle, self._bundle_file = None, (path, sha)
        self._device, self._device_arg, self._model = None, device, None
        self.runner, self.runtime_choice = runner, choice
        return self

    @staticmethod
    def cache_folder(cache_dir: str | Path | None) -> Path:
        return Path(cache_dir) if cache_dir is not None else cache_root() / "onnx"

    def _set_identity(self, meta: BundleMeta, sha: str, device, batch_size: int | None) -> None:
        self._meta = meta
        self._device_arg = device
        cuda = not cpu_without_torch(device) and resolve_device(device).type == "cuda"
        self.batch_size = batch_size or (64 if cuda else self.default_cpu_batch)
        self._requirements = requirements_of(meta)
        self._info = DetectorInfo(name=self.family, version=meta.version, weights_sha256=sha)
        self._mean = np.asarray(meta.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(meta.std, dtype=np.float32).reshape(1, 3, 1, 1)

    @property
    def meta(self) -> BundleMeta:
        return self._meta

    @property
    def bundle(self) -> Bundle:
        """The loaded bundle (read, and checked against its sha256, on first need)."""
        if self._bundle is None:
            path, sha = self._bundle_file
            self._bundle = load_bundle(path, expected_sha256=sha)
        return self._bundle

    @property
    def device(self) -> torch.device:
        if self._device is None:
            self._device = resolve_device(self._device_arg)
        return self._device

    @property
    def model(self) -> torch.nn.Module:
        """The torch network (built on first need when the scores come from ONNX Runtime)."""
        if self._model is None:
            self._model = build_model(self.bundle)
        return self._model

    @property
    def runtime(self) -> str:
        """The runtime actually in use (``"torch"`` or ``"onnx"``)."""
        return self.runner.name

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """uint8 NHWC → float32 NCHW normalised with the bundle's mean/std (as in training)."""
        return normalise(crops, self._mean, self._std)

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        crops = self.check_crops(np.asarray(crops))
        out = [
            sigmoid(self.runner(self.preprocess(crops[i : i + self.batch_size])))
            for i in range(0, len(crops), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def embed_crops(self, crops: np.ndarray) -> np.ndarray | None:
        """Input of the network's last linear layer (the classifier head), from PyTorch."""
        import torch

        crops = self.check_crops(np.asarray(crops))
        head = last_linear(self.model)
        if head is None:
            return None
        self.model.to(self.device).eval()
        grabbed: list[torch.Tensor] = []
        hook = head.register_forward_hook(lambda _m, args, _out: grabbed.append(args[0].detach()))
        try:
            with torch.inference_mode():
                for i in range(0, len(crops), self.batch_size):
                    x = torch.from_numpy(self.preprocess(crops[i : i + self.batch_size]))
                    self.model(x.to(self.device))
        finally:
            hook.remove()
        if not grabbed:
            return np.zeros((0, head.in_features), dtype=np.float32)
        return torch.cat(grabbed).flatten(1).float().cpu().numpy()


def last_linear(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The last `nn.Linear` registered in `model` (a classifier's head), or None."""
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return linears[-1] if linears else None


def _remember_meta(folder: Path, meta: BundleMeta) -> None:
    """Keep the bundle's metadata beside its exported graph, so a later start that runs the
    graph needs neither torch nor the bundle."""
    if not (folder / "model.onnx").is_file() or (folder / META_FILE).is_file():
        return
    try:
        atomic_write_text(folder / META_FILE, json.dumps(asdict(meta), indent=1))
    except (TypeError, ValueError, OSError) as exc:  # unserialisable extra, read-only cache
        log.info("bundle metadata not cached in %s (%s)", folder, exc)


def _recall_meta(folder: Path) -> BundleMeta | None:
    path = folder / META_FILE
    if not path.is_file():
        return None
    try:
        return meta_from_dict(json.loads(path.read_text()))
    except (TypeError, ValueError, OSError):
        return None
