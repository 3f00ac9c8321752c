"""Named crop framings, per face detector. A detector family declares the preset its model was
trained with; scan must cut that same framing from whichever face detector it runs, and each
detector's boxes sit differently on a face (dlib's starts at the brows, MTCNN's runs past the
chin). So a preset is stored per face detector, each measured against the same training crops
(docs/framing.md), and `preset_for` refuses a pairing nobody measured instead of guessing.
"""

from __future__ import annotations

from fakescope.errors import FakescopeError
from fakescope.faces.crop import CropSpec

# The reference framings, relative to MTCNN boxes (the detector they were defined with).
CROP_PRESETS: dict[str, CropSpec] = {
    # Reproduces the framing of shared/data/dfdc_faces/faces_224 from MTCNN boxes: medians over
    # the 295 of 300 sampled crops with a face (benchmarks/measure_framing.py --n 300 --seed 0;
    # docs/framing.md). The crop side is 0.815 x the box's longer side (its height; about
    # 1.1 x its width), centred 0.070 x that side below the box centre.
    "dfdc_tight": CropSpec(margin=-0.185, shift_y=0.070),
    # Seed 001: margin 0.5-0.7 beat no margin on the DFDC preview set.
    "seed001": CropSpec(margin=0.6),
    # Seed 004: MTCNN box + 20 % margin.
    "seed004": CropSpec(margin=0.2),
    # Seed 000: FFHQ-style 5-point alignment (needs a detector with landmarks).
    "ffhq": CropSpec(margin=0.0, align=True),
    # Seed 000's alignment zoomed in (x2) until the square fits inside a tight DFDC crop (the
    # latentforensics family trains on those), moved down the face so the eyes-mouth midpoint
    # is centred: the median crop leaves 0.0 % of the square outside, the 90th percentile
    # 2.4 % (benchmarks/latentforensics_margin.py --n 300 --seed 0; docs/latentforensics.md).
    "ffhq_tight": CropSpec(margin=-0.50, shift_y=0.194, align=True),
}

# Per preset, the CropSpec that reproduces it from each face detector's boxes. A detector
# missing here has no measured framing for that preset.
DETECTOR_FRAMINGS: dict[str, dict[str, CropSpec]] = {
    "dfdc_tight": {
        "mtcnn": CROP_PRESETS["dfdc_tight"],
        # benchmarks/measure_framing.py --n 300 --seed 0 --detector NAME --pad 1.0
        # --scale-jitter 0.2 (benchmarks/results/framing_NAME.json; docs/framing.md)
        "blazeface": CropSpec(margin=0.019, shift_y=-0.004),  # 281 of 300 crops
        "dlib": CropSpec(margin=0.045, shift_y=0.010),  # 261 of 300
        "haar": CropSpec(margin=-0.085, shift_y=0.085),  # 249 of 300
    },
    "seed001": {"mtcnn": CROP_PRESETS["seed001"]},
    "seed004": {"mtcnn": CROP_PRESETS["seed004"]},
    # Alignment places the 5 landmarks on a template, so any detector giving them will do
    # (BlazeFace's mouth corners are estimated, see faces/blazeface.py); Haar gives none.
    "ffhq": {name: CROP_PRESETS["ffhq"] for name in ("mtcnn", "blazeface", "dlib")},
    "ffhq_tight": {name: CROP_PRESETS["ffhq_tight"] for name in ("mtcnn", "blazeface", "dlib")},
}

# Other names create_face_detector accepts for the same detectors.
_ALIASES = {"dlib_hog": "dlib", "hog": "dlib", "opencv": "haar", "mediapipe": "blazeface"}


class FramingError(FakescopeError, ValueError):
    """No measured framing reproduces this preset from this face detector's boxes."""


def get_crop_spec(name: str) -> CropSpec:
    """The reference (MTCNN-relative) CropSpec of a preset."""
    try:
        return CROP_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown crop preset {name!r}; known: {', '.join(CROP_PRESETS)}") from None


def measured_detectors(preset: str) -> tuple[str, ...]:
    """The face detectors with a measured framing for `preset`."""
    get_crop_spec(preset)  # unknown preset: ValueError
    return tuple(DETECTOR_FRAMINGS.get(preset, {}))


def face_detector_for(preset: str, preferred: str) -> str:
    """`preferred` when its framing of `preset` was measured, else the first face detector
    (in `faces.detectors.DETECTOR_NAMES` order) that has one: what a scan uses when the user
    names no face detector, so that every model gets crops framed like its training data."""
    from fakescope.faces.detectors import DETECTOR_NAMES

    known = measured_detectors(preset)
    if _ALIASES.get(preferred, preferred) in known:
        return preferred
    for name in DETECTOR_NAMES:
        if name in known:
            return name
    raise FramingError(f"no face detector has a measured framing for crop preset {preset!r}")


def preset_for(detector: object, preset: str) -> CropSpec:
    """The CropSpec that cuts `preset`'s framing from `detector`'s boxes (a detector name or
    an object with `.name`). FramingError, naming the detectors that do have one, when
    this pairing was never measured."""
    name = detector if isinstance(detector, str) else getattr(detector, "name", "?")
    key = _ALIASES.get(name.lower(), name.lower())
    known = measured_detectors(preset)
    if key not in known:
        raise FramingError(
            f"face detector {name!r} has no measured framing for crop preset {preset!r}, so its "
            f"crops would not match what the model was trained on; use one of: "
            f"{', '.join(known)} (or measure it: benchmarks/measure_framing.py --detector {key}, "
            "docs/framing.md)"
        )
    return DETECTOR_FRAMINGS[preset][key]
