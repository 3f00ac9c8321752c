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
want=$(cat pyproject.toml scripts/setup.sh requirements/constraints.txt requirements/no-deps.txt \
  | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
$PIP install -q --upgrade pip wheel
# fakescope and everything pip can resolve (pyproject.toml), torch and torchvision pinned to the
# builds on this disk by the constraints file.
$PIP install -q -c requirements/constraints.txt -e ".[test,ray]"
# Then, last, the three packages whose declared dependencies are wrong for fakescope (the file
# says why), without those dependencies. Last because pip re-checks the declared dependencies of
# the packages an install touches: installed first, every later install would print a red
# "ERROR: pip's dependency resolver ... dependency conflicts" for conflicts made on purpose.
$PIP install -q --no-deps -r requirements/no-deps.txt
# Every requirement pip finds broken must be one of those three's declared ones; anything else
# is a real conflict and fails the setup.
nodeps=$(grep -oE '^[A-Za-z0-9_.-]+' requirements/no-deps.txt | paste -sd '|')
broken=$($PIP check 2>&1 | grep -vE "^(${nodeps}) " | grep -v '^No broken requirements found' || true)
if [ -n "$broken" ]; then
  echo "scripts/setup.sh: broken requirements in $VENV:" >&2
  echo "$broken" >&2
  exit 1
fi
echo "$want" > "$stamp"
