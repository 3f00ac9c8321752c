"""Named crop framings. A detector declares the preset its model was trained with, and scan
crops with the same one (see docs/framing.md for how "dfdc_tight" was measured)."""

from __future__ import annotations

from fakescope.faces.crop import CropSpec

CROP_PRESETS: dict[str, CropSpec] = {
    # Reproduces the framing of shared/data/dfdc_faces/faces_224 from MTCNN boxes: medians over
    # the 295 of 300 sampled crops with a face (benchmarks/measure_framing.py --n 300 --seed 0;
    # docs/framing.md). The crop side is 0.815 x the box's longer side (its height; about
    # 1.1 x its width), centred 0.070 x that side below the box centre. Measured with MTCNN;
    # other detectors' boxes sit differently on the face.
    "dfdc_tight": CropSpec(margin=-0.185, shift_y=0.070),
    # Seed 001: margin 0.5-0.7 beat no margin on the DFDC preview set.
    "seed001": CropSpec(margin=0.6),
    # Seed 004: MTCNN box + 20 % margin.
    "seed004": CropSpec(margin=0.2),
    # Seed 000: FFHQ-style 5-point alignment.
    "ffhq": CropSpec(margin=0.0, align=True),
}


def get_crop_spec(name: str) -> CropSpec:
    try:
        return CROP_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown crop preset {name!r}; known: {', '.join(CROP_PRESETS)}") from None
