"""Self-blended images (SBI; Shiohara & Yamasaki, CVPR 2022): a training fake made from one real
face by blending a slightly altered copy of the face back into itself.

Why: labeled fakes are scarce, and a blended face carries the generic traces of face swapping —
a blending boundary, colour and sharpness mismatch, slight misalignment — without any one
generator's fingerprint. Recipe (SBI §3, adapted to whole frames):

1. source = the face region with a colour jitter (RGB shift, hue/saturation/value,
   brightness/contrast) and a frequency change (downscale-upscale or sharpen), then a small
   translation and scale;
2. mask = the convex hull of the landmarks (68 points: jaw + brows; 5 points: an ellipse from
   the eye line and the eye-mouth distance; a box: an inscribed ellipse), elastically deformed,
   blurred twice with random kernels and multiplied by a blend ratio from
   {0.25, 0.5, 0.75, 1, 1, 1};
3. fake = source · mask + image · (1 − mask).

By default only the source is altered, so the result equals the input wherever the returned
mask is 0 (on a whole frame, altering the target would shift colours outside the face). SBI's
own recipe (`SelfBlendConfig.sbi()`, for training on face crops) alters the target instead half
of the time, draws the mask from four hull shapes (Face X-ray's blended-image masks), and keeps
its milder colour change (no hue/saturation shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # SBI's dynamic blending choices
HULLS = ("facehull", "dfl_full", "components", "extended")  # masks from 68 landmarks


@dataclass(frozen=True)
class SelfBlendConfig:
    region_margin: float = 0.4  # work on the face box grown by this fraction per side
    translate: float = 0.03  # max shift of the source, fraction of region size (SBI: 0.03)
    scale: tuple[float, float] = (0.95, 1 / 0.95)  # source rescale range (SBI)
    elastic_alpha: float = 50.0  # mask deformation at a 256-px region (SBI), scaled with size
    elastic_sigma: float = 7.0
    blur_fraction: tuple[float, float] = (0.04, 0.15)  # mask blur kernels, fraction of face size
    blend_ratios: tuple[float, ...] = BLEND_RATIOS
    hulls: tuple[str, ...] = ("facehull",)  # one drawn per fake (68 landmarks only), see HULLS
    hsv_shift: tuple[int, int, int] = (10, 20, 20)  # hue/sat/value limits; 0s: no HSV change
    alter_target_prob: float = 0.0  # share of fakes whose target, not source, is altered

    def __post_init__(self) -> None:
        unknown = set(self.hulls) - set(HULLS)
        if not self.hulls or unknown:
            raise ValueError(f"hulls must be a non-empty subset of {HULLS}, got {self.hulls}")
        if not 0.0 <= self.alter_target_prob <= 1.0:
            raise ValueError("alter_target_prob must be in [0, 1]")

    @classmethod
    def sbi(cls) -> SelfBlendConfig:
        """SBI's published choices (mapooon/SelfBlendedImages, src/utils/sbi.py): four hull
        shapes, the target altered instead of the source half of the time, and its colour
        change (RGB shift at p = 0.3, brightness/contrast ±0.1; its HSV limits of ±0.3 are
        no change on uint8 images)."""
        return cls(hulls=HULLS, hsv_shift=(0, 0, 0), alter_target_prob=0.5)


def _hull_parts(pts: np.ndarray, hull: str) -> list[np.ndarray]:
    """Point groups whose convex hulls, filled together, make a mask of shape `hull` from
    dlib's 68 landmarks (the shapes of Face X-ray's blended images, as SBI draws them)."""
    if hull == "facehull":
        return [pts]
    if hull == "dfl_full":  # jaw + mouth, nose ridge, brows: the DeepFaceLab full mask
        return [np.concatenate([pts[0:17], pts[48:68], pts[[0, 8, 16]]]),
                np.concatenate([pts[27:31], pts[33:34]]),
                np.concatenate([pts[17:27], pts[[0, 27, 16, 33]]])]
    if hull == "extended":  # brows pushed up by half their height above the eyes: forehead
        pts = pts.copy()
        ml, mr = (pts[36] + pts[0]) / 2, (pts[16] + pts[45]) / 2
        ql, qr = (pts[36] + ml) / 2, (pts[45] + mr) / 2
        bot_l = np.stack([ql, pts[36], pts[37], pts[38], pts[39]])
        bot_r = np.stack([pts[42], pts[43], pts[44], pts[45], qr])
        pts[17:22] = pts[17:22] + (pts[17:22] - bot_l) / 2
        pts[22:27] = pts[22:27] + (pts[22:27] - bot_r) / 2
    # components (and extended): jaw halves, cheeks, eye regions, nose
    return [np.concatenate([pts[0:9], pts[17:18]]), np.concatenate([pts[8:17], pts[26:27]]),
            np.concatenate([pts[17:20], pts[8:9]]), np.concatenate([pts[24:27], pts[8:9]]),
            np.concatenate([pts[19:25], pts[8:9]]),
            np.concatenate([pts[17:22], pts[27:28], pts[31:36], pts[8:9]]),
            np.concatenate([pts[22:27], pts[27:28], pts[31:36], pts[8:9]]),
            np.concatenate([pts[27:31], pts[31:36]])]


def _face_geometry(face: np.ndarray) -> tuple[np.ndarray, str]:
    """Normalise the face description: (K, 2) landmarks or a (4,) box (x0, y0, x1, y1)."""
    arr = np.asarray(face, dtype=np.float64)
    if arr.shape == (4,):
        return arr, "box"
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] >= 5:
        return arr, "landmarks"
    raise ValueError(f"face must be (K>=5, 2) landmarks or a (4,) box, got shape {arr.shape}")


def _bounds(geom: np.ndarray, kind: str) -> np.ndarray:
    if kind == "box":
        return geom
    return np.concatenate([geom.min(axis=0), geom.max(axis=0)])


def _hull_mask(shape: tuple[int, int], geom: np.ndarray, kind: str,
               rng: np.random.Generator, hulls: tuple[str, ...] = ("facehull",)) -> np.ndarray:
    """Binary float32 mask of the face area, in the coordinates of `geom`."""
    mask = np.zeros(shape, dtype=np.uint8)
    if kind == "landmarks" and len(geom) >= 17:
        hull = hulls[int(rng.integers(len(hulls)))] if len(geom) == 68 else "facehull"
        for part in _hull_parts(geom, hull):
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(part).astype(np.int32)), 1)
    elif kind == "landmarks":  # 5 points: left eye, right eye, nose, mouth left, mouth right
        eyes, mouth = geom[:2].mean(axis=0), geom[3:5].mean(axis=0)
        d_eyes = np.linalg.norm(geom[1] - geom[0])
        d_em = np.linalg.norm(mouth - eyes)
        center = (eyes + mouth) / 2
        angle = np.degrees(np.arctan2(*(geom[1] - geom[0])[::-1]))
        axes = (float(d_eyes * rng.uniform(0.85, 1.05)), float(d_em * rng.uniform(1.1, 1.4)))
        box = ((float(center[0]), float(center[1])), (2 * axes[0], 2 * axes[1]), float(angle))
        cv2.ellipse(mask, box, 1, -1)
    else:
        x0, y0, x1, y1 = (float(v) for v in geom)
        f = float(rng.uniform(0.85, 1.0))
        cv2.ellipse(mask, (((x0 + x1) / 2, (y0 + y1) / 2), ((x1 - x0) * f, (y1 - y0) * f), 0.0),
                    1, -1)
    return mask.astype(np.float32)


def _odd(n: float) -> int:
    n = max(3, int(round(n)))
    return n if n % 2 else n + 1


def self_blend(
    image: np.ndarray,
    face: np.ndarray,
    rng: np.random.Generator | int | None = None,
    config: SelfBlendConfig = SelfBlendConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Blend an altered copy of the face in `image` back into it.

    image: (H, W, 3) uint8 RGB. face: landmarks (68 or 5 points, (K, 2) pixels) or a box
    (x0, y0, x1, y1). rng: a Generator or seed (same seed → same fake).
    Returns (fake uint8 (H, W, 3), mask float32 (H, W) in [0, 1]: the blend weight of the
    altered face per pixel; 0 means the pixel is the original, unless the target was altered
    (`config.alter_target_prob`): then the region around the face is the altered copy).
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    rng = np.random.default_rng(rng)
    geom, kind = _face_geometry(face)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = _bounds(geom, kind)
    face_size = max(x1 - x0, y1 - y0)
    if face_size < 8 or x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise ValueError(f"face {face_size:.0f}px at {(x0, y0, x1, y1)} is unusable")

    # Work on the face region only: cheaper, and colours outside it stay untouched.
    m = config.region_margin * face_size
    rx0, ry0 = int(max(0, np.floor(x0 - m))), int(max(0, np.floor(y0 - m)))
    rx1, ry1 = int(min(w, np.ceil(x1 + m))), int(min(h, np.ceil(y1 + m)))
    target = image[ry0:ry1, rx0:rx1]
    rh, rw = target.shape[:2]
    local = geom - (np.array([rx0, ry0, rx0, ry0]) if kind == "box" else np.array([rx0, ry0]))

    seed = int(rng.integers(2**31 - 1))
    size_k = max(rh, rw) / 256.0
    hue, sat, val = config.hsv_shift
    altered_tf = A.Compose(
        [
            A.RGBShift((-20, 20), (-20, 20), (-20, 20), p=0.3),
            A.HueSaturationValue((-hue, hue), (-sat, sat), (-val, val), p=1.0 if any(config.hsv_shift) else 0.0),
            A.RandomBrightnessContrast((-0.1, 0.1), (-0.1, 0.1), p=1.0),
            A.OneOf(
                [
                    A.Downscale(scale_range=(0.25, 0.5), p=1.0),
                    A.Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0), p=1.0),
                ],
                p=1.0,
            ),
        ],
        seed=seed,
    )
    shift_tf = A.Compose(
        [
            A.Affine(
                translate_percent={"x": (-config.translate, config.translate),
                                   "y": (-config.translate / 2, config.translate / 2)},
                scale=config.scale,
                border_mode=cv2.BORDER_REFLECT_101,
                p=1.0,
            ),
        ],
        seed=seed + 2,
    )
    mask_tf = A.Compose(
        [
            A.ElasticTransform(alpha=config.elastic_alpha * size_k,
                               sigma=config.elastic_sigma * size_k, p=1.0),
        ],
        seed=seed + 1,
    )
    source = target
    if config.alter_target_prob > 0 and rng.random() < config.alter_target_prob:
        target = altered_tf(image=target)["image"]
    else:
        source = altered_tf(image=source)["image"]
    source = shift_tf(image=source)["image"]
    mask = _hull_mask((rh, rw), local, kind, rng, config.hulls)
    mask = mask_tf(image=mask)["image"].astype(np.float32)

    # SBI's blend mask: blur, cut to the core, blur again; then scale by a blend ratio.
    k1 = _odd(face_size * rng.uniform(*config.blur_fraction))
    k2 = _odd(face_size * rng.uniform(*config.blur_fraction))
    mask = cv2.GaussianBlur(mask, (k1, k1), 0)
    if mask.max() <= 0:
        raise ValueError("face mask is empty")
    mask = mask / mask.max()
    mask[mask < 1] = 0
    mask = cv2.GaussianBlur(mask, (k2, k2), 0)
    if mask.max() <= 0:
        raise ValueError("face mask is empty after blurring")
    mask = (mask / mask.max()) * float(rng.choice(config.blend_ratios))

    blended = source.astype(np.float32) * mask[..., None] + target.astype(np.float32) * (
        1.0 - mask[..., None]
    )
    fake = image.copy()
    fake[ry0:ry1, rx0:rx1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    full_mask = np.zeros((h, w), dtype=np.float32)
    full_mask[ry0:ry1, rx0:rx1] = mask
    return fake, full_mask
