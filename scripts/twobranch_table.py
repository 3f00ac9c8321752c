"""Seed-003-style table (Table 1c layout) from `fakescope eval` reports of twobranch runs.

    python scripts/twobranch_table.py NAME=runs/twobranch_eval/NAME ... > table.md

Each folder holds the report.json that `fakescope eval --split test` wrote. Per run: the
sequence level (each sequence one item) and the video level (sequences averaged per video,
seed 003 §4 "average"), with the 95 % bootstrap intervals the report computed over videos.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEYS = [("auc", "AUC"), ("tar@far=0.01", "TAR@1%"), ("tar@far=0.1", "TAR@10%"),
        ("tauc@far=0.01", "tAUC@1%"), ("tauc@far=0.1", "tAUC@10%"),
        ("pauc@far=0.1", "pAUC@10%"), ("log_wp@recall=0.5", "log(wP)@R50"),
        ("log_wp@recall=0.9", "log(wP)@R90")]


def cell(level: dict, key: str) -> str:
    value = level["metrics"].get(key)
    if value is None:
        return "n/a"
    ci = level.get("ci", {}).get(key)
    text = f"{value:.3f}"
    if ci and ci.get("low") is not None:
        text += f" ({ci['low']:.2f}–{ci['high']:.2f})"
    return text


def main(args: list[str]) -> int:
    header = "| run | level | n (real / fake) | " + " | ".join(k[1] for k in KEYS) + " |"
    print(header)
    print("|" + "---|" * (3 + len(KEYS)))
    for arg in args:
        name, folder = arg.split("=", 1)
        report = json.loads((Path(folder) / "report.json").read_text())
        for level_name in ("frame", "video"):
            level = report["levels"].get(level_name)
            if level is None:
                continue
            shown = "sequence" if level_name == "frame" else "video (mean)"
            counts = f"{level['n']} ({level['n_real']} / {level['n_fake']})"
            print(f"| {name} | {shown} | {counts} | " + " | ".join(cell(level, k) for k, _ in KEYS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
