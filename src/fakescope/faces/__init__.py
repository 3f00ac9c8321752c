"""fakescope.faces: detection, landmarks, alignment, crops and tracking.

Detectors load lazily (create_face_detector), so importing this package stays light.
"""

from fakescope.faces.align import FFHQ_TEMPLATE_512, align_face, alignment_matrix, template_points
from fakescope.faces.base import FaceDetector
from fakescope.faces.crop import CropSpec, center_crop, crop_region, margin_crop, square_box
from fakescope.faces.detectors import DETECTOR_NAMES, create_face_detector
from fakescope.faces.framing import FramingStats, measure_framing
from fakescope.faces.pipeline import FALLBACK_TRACK_ID, FacePipeline
from fakescope.faces.presets import (
    CROP_PRESETS,
    DETECTOR_FRAMINGS,
    FramingError,
    get_crop_spec,
    measured_detectors,
    preset_for,
)
from fakescope.faces.tracking import LinkedTrack, box_iou, link_tracks

__all__ = [
    "CROP_PRESETS",
    "DETECTOR_FRAMINGS",
    "DETECTOR_NAMES",
    "FALLBACK_TRACK_ID",
    "FFHQ_TEMPLATE_512",
    "CropSpec",
    "FaceDetector",
    "FacePipeline",
    "FramingError",
    "FramingStats",
    "LinkedTrack",
    "align_face",
    "alignment_matrix",
    "box_iou",
    "center_crop",
    "create_face_detector",
    "crop_region",
    "get_crop_spec",
    "link_tracks",
    "margin_crop",
    "measure_framing",
    "measured_detectors",
    "preset_for",
    "square_box",
    "template_points",
]
