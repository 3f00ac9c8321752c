"""MTCNN (facenet-pytorch): batched over frames, 5 landmarks per face (default before BlazeFace).

Seed 001 picked batched facenet-pytorch MTCNN as the fastest accurate option; its weights ship
inside the package, so nothing downloads.

The cascade below is facenet-pytorch's `detect_face` with its nets and box helpers, with one
change: images are resampled with OpenCV (INTER_AREA on uint8, as the original MTCNN code
did) instead of `torch.nn.functional.interpolate(mode="area")`. facenet-pytorch resamples
each of the few thousand candidate boxes of a 32-frame batch with its own small
multi-threaded torch call. On the project's 2-core machine that made its `detect` 1.6x
slower than this code when the machine was nearly idle (2.08 s against 1.28 s for 32
640x360 frames). With the cores busy, it was up to 10x slower (30 s against 3-4 s), because
every small call waits for a free core. See benchmarks/results/mtcnn.md. On average the
boxes agree with facenet-pytorch's to within 1 px. A single box can differ by up to 10 px
on an 80-px face, about as much as MTCNN jitters between neighbouring frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet
from facenet_pytorch.models.utils.detect_face import batched_nms_numpy as _fp_nms_min
from facenet_pytorch.models.utils.detect_face import bbreg as _fp_bbreg
from facenet_pytorch.models.utils.detect_face import generateBoundingBox as _fp_generate
from facenet_pytorch.models.utils.detect_face import pad as _fp_pad
from facenet_pytorch.models.utils.detect_face import rerec as _fp_rerec
from torchvision.ops.boxes import batched_nms

from fakescope.device import resolve_device
from fakescope.faces.base import FaceDetector
from fakescope.types import FaceDetection

# P-Net's window: a face smaller than this in the detection copy cannot be found without
# upsampling, which is what detecting on a downscaled copy is meant to avoid.
_PNET_WINDOW = 12.0


class MTCNNDetector(FaceDetector):
    """facenet-pytorch's pretrained P-, R- and O-Net, every face kept (keep_all).

    `thresholds` are the three stages' cut-offs; a higher first one passes fewer candidates
    to R-Net. `factor` is the image-pyramid step. `batch_size` bounds how many frames share
    a pass (memory). The cost is mostly P-Net over the pyramid, whose finest level is set
    by the minimum face size: halving it roughly quadruples that level.
    """

    name = "mtcnn"

    def __init__(
        self,
        device: str | torch.device | None = None,
        detect_max_side: int | None = 640,
        min_confidence: float = 0.9,
        min_face_size: float = 60.0,
        thresholds: Sequence[float] = (0.7, 0.7, 0.8),
        factor: float = 0.709,
        batch_size: int = 32,
    ) -> None:
        super().__init__(detect_max_side, min_confidence, min_face_size)
        if len(thresholds) != 3:
            raise ValueError(f"thresholds needs 3 values (P-, R-, O-Net), got {thresholds}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.thresholds = [float(t) for t in thresholds]
        self.factor = float(factor)
        self.batch_size = int(batch_size)
        self._nets = _Nets(PNet().eval(), RNet().eval(), ONet().eval()).to(self.device)

    def config(self) -> dict:
        return {**super().config(), "thresholds": self.thresholds, "factor": self.factor}

    def _detect_small(self, images: list[np.ndarray], min_size: float) -> list[list[FaceDetection]]:
        minsize = max(_PNET_WINDOW, float(min_size))
        out: list[list[FaceDetection]] = []
        for start in range(0, len(images), self.batch_size):
            batch = np.stack(images[start : start + self.batch_size])
            with torch.inference_mode():
                found = _cascade(batch, minsize, self._nets, self.thresholds, self.factor, self.device)
            for boxes, points in found:
                out.append(
                    [
                        FaceDetection(box=tuple(float(v) for v in b[:4]), confidence=float(b[4]), landmarks=pt)
                        for b, pt in zip(boxes, points, strict=True)
                    ]
                )
        return out


class _Nets(torch.nn.Module):
    def __init__(self, pnet: PNet, rnet: RNet, onet: ONet) -> None:
        super().__init__()
        self.pnet, self.rnet, self.onet = pnet, rnet, onet


def _to_input(patches: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised float (N, 3, H, W) as the MTCNN nets expect."""
    x = torch.as_tensor(patches, device=device).permute(0, 3, 1, 2).to(dtype)
    return (x - 127.5) * 0.0078125


def _crop_candidates(frames: np.ndarray, boxes: torch.Tensor, inds: torch.Tensor, size: int):
    """Each candidate box cut from its frame (clipped to the frame, as facenet-pytorch does)
    and resized to size x size; also the mask of boxes that were non-empty."""
    h, w = frames.shape[1:3]
    y, ey, x, ex = _fp_pad(boxes, w, h)
    inds_np = inds.cpu().numpy()
    keep = (ey > y - 1) & (ex > x - 1)
    crops = [
        cv2.resize(frames[inds_np[k], y[k] - 1 : ey[k], x[k] - 1 : ex[k]], (size, size), interpolation=cv2.INTER_AREA)
        for k in np.flatnonzero(keep)
    ]
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8), torch.as_tensor(keep)


def _run_in_chunks(net, x: torch.Tensor, chunk: int = 512):
    outs = [net(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    return tuple(torch.cat(v, dim=0) for v in zip(*outs, strict=True))


def _cascade(frames, minsize, nets, thresholds, factor, device):
    """P-, R-, O-Net on a batch of equal-size uint8 frames -> per frame (boxes (k, 5) with
    score, points (k, 5, 2)), in the frames' pixels."""
    n, h, w = frames.shape[:3]
    dtype = next(nets.pnet.parameters()).dtype
    empty = [(np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)) for _ in range(n)]

    # Stage 1: P-Net over the image pyramid
    scales, m = [], 12.0 / minsize
    minl = min(h, w) * m
    while minl >= 12:
        scales.append(m)
        m *= factor
        minl *= factor
    all_boxes, all_inds, picks, offset = [], [], [], 0
    for scale in scales:
        sh, sw = int(h * scale + 1), int(w * scale + 1)
        pyr = np.stack([cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) for f in frames])
        reg, probs = nets.pnet(_to_input(pyr, device, dtype))
        boxes, inds = _fp_generate(reg, probs[:, 1], scale, thresholds[0])
        all_boxes.append(boxes)
        all_inds.append(inds)
        picks.append(batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.5) + offset)
        offset += boxes.shape[0]
    if offset == 0:
        return empty
    boxes = torch.cat(all_boxes)[torch.cat(picks)]
    inds = torch.cat(all_inds)[torch.cat(picks)]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
    boxes, inds = boxes[pick], inds[pick]
    regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = torch.stack(
        [
            boxes[:, 0] + boxes[:, 5] * regw,
            boxes[:, 1] + boxes[:, 6] * regh,
            boxes[:, 2] + boxes[:, 7] * regw,
            boxes[:, 3] + boxes[:, 8] * regh,
            boxes[:, 4],
        ]
    ).permute(1, 0)
    boxes = _fp_rerec(boxes)

    # Stage 2: R-Net on 24x24 candidates
    crops, keep = _crop_candidates(frames, boxes, inds, 24)
    boxes, inds = boxes[keep.to(boxes.device)], inds[keep.to(inds.device)]
    if len(boxes) == 0:
        return empty
    reg, probs = _run_in_chunks(nets.rnet, _to_input(crops, device, dtype))
    score = probs[:, 1]
    ok = score > thresholds[1]
    boxes = torch.cat((boxes[ok, :4], score[ok].unsqueeze(1)), dim=1)
    inds, reg = inds[ok], reg[ok]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
    boxes, inds, reg = boxes[pick], inds[pick], reg[pick]
    boxes = _fp_rerec(_fp_bbreg(boxes, reg))

    # Stage 3: O-Net on 48x48 candidates, with landmarks
    crops, keep = _crop_candidates(frames, boxes, inds, 48)
    boxes, inds = boxes[keep.to(boxes.device)], inds[keep.to(inds.device)]
    if len(boxes) == 0:
        return empty
    reg, points, probs = _run_in_chunks(nets.onet, _to_input(crops, device, dtype))
    score = probs[:, 1]
    ok = score > thresholds[2]
    points, inds, reg = points[ok], inds[ok], reg[ok]
    boxes = torch.cat((boxes[ok, :4], score[ok].unsqueeze(1)), dim=1)
    bw = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
    bh = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
    px = bw * points[:, :5] + boxes[:, 0:1] - 1
    py = bh * points[:, 5:10] + boxes[:, 1:2] - 1
    points = torch.stack((px, py), dim=2)
    boxes = _fp_bbreg(boxes, reg)
    pick = _fp_nms_min(boxes[:, :4], boxes[:, 4], inds, 0.7, "Min")
    boxes = boxes[pick].float().cpu().numpy()
    points = points[pick].float().cpu().numpy()
    inds = inds[pick].cpu().numpy()
    return [(boxes[inds == i].copy(), points[inds == i].copy()) for i in range(n)]
