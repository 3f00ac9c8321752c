#!/usr/bin/env bash
# The CPU runs of docs/twobranch.md: a small DenseNet twobranch at 64 px, single thread, nice'd.
#   scripts/twobranch_cpu.sh NAME EPOCHS [extra --set KEY=VALUE ...]
# NAME: full | nolog | bce | mobilenet. Resumable: run the same line again.
set -euo pipefail
name=$1; epochs=$2; shift 2
cd "$(dirname "$0")/.."
tiny="{growth_rate: 12, block_config: [3, 6, 6, 3], num_init_features: 32, drop_rate: 0.2, lstm_hidden: 128"
config=configs/twobranch_sbi.yaml
case $name in
  full)      model="$tiny, head: hypersphere}" ;;
  nolog)     model="$tiny, log_branch: false, head: hypersphere}" ;;
  bce)       model="$tiny, head: linear}"; extra=(--set loss.name=bce) ;;
  mobilenet) config=configs/twobranch_mobilenet_sbi.yaml
             model="{pretrained: imagenet, drop_rate: 0.2, lstm_hidden: 128, head: hypersphere}" ;;
  *) echo "unknown run $name" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=1 PYTHONPATH="$PWD/src"
exec nice -n 10 "${PYTHON:-.venv/bin/python}" -m fakescope train "$config" \
  --out "runs/twobranch_$name" --device cpu --resume \
  --set "model.kwargs=$model" --set data.image_size=64 --set batch_size=4 \
  --set threads=1 --set epochs="$epochs" --set schedule.patience=8 \
  --set early_stopping.patience=1000 --set data.cache_dir=cache/twobranch/arrays64 \
  ${extra[@]+"${extra[@]}"} "$@"
