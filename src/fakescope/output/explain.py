"""What a verdict means, in words: one sentence for the page and the report, a short reason for
the CLI table. Works on the JSON record (`formats.result_to_dict`), so a stored record from an
older run is explained the same way. Wording only: the verdict is decided in `scan`."""

from __future__ import annotations

from typing import Any

from fakescope.media.provenance import summary as provenance_summary

ABSTAIN_REASONS = {
    "no_face": "no face was found in the sampled frames, so there is nothing to judge",
    "no_sequence": "no person was seen long enough for this detector's frame sequences",
    "unreadable": "the file could not be read",
}


def _n(x: float | None) -> str:
    return "?" if x is None else f"{x:.3f}"


def _prob(record: dict[str, Any]) -> str:
    p = record.get("probability")
    return "" if p is None else f" (calibrated probability of manipulation {p:.0%})"


def short_reason(record: dict[str, Any]) -> str:
    """A few words for a table cell: why this band, or why no band."""
    verdict, score = record.get("verdict"), record.get("score")
    hi, lo = record.get("threshold"), record.get("inconclusive_threshold")
    if verdict == "abstain":  # the reason code first (scripts grep for it), then its meaning
        reason = record.get("reason") or ""
        meaning = ABSTAIN_REASONS.get(reason.split(":")[0])
        return f"{reason}: {meaning}" if meaning and ":" not in reason else reason
    if verdict == "error":
        return record.get("reason") or "fakescope failed on this file"
    three = lo is not None
    if verdict == "fake":
        text = (f"{_n(score)} ≥ {_n(hi)}, the 1 % false-alarm point" if three
                else f"{_n(score)} ≥ threshold {_n(hi)}")
    elif verdict == "inconclusive":
        text = f"{_n(score)} between the 5 % ({_n(lo)}) and 1 % ({_n(hi)}) points: a person should look"
    else:
        text = (f"{_n(score)} < {_n(lo)}, the 5 % false-alarm point" if three
                else f"{_n(score)} < threshold {_n(hi)}")
    generated = ((record.get("provenance") or {}).get("c2pa") or {})
    if generated.get("present") and not generated.get("valid"):
        text += "; C2PA manifest invalid"
    elif generated.get("valid") and generated.get("generated") in ("yes", "partly"):
        text += "; C2PA says AI-generated" + (" in part" if generated["generated"] == "partly" else "")
    return text


def sentence(record: dict[str, Any]) -> str:
    """The verdict band's meaning for a reader who is not a statistician, with the file's
    Content Credentials when they say something about it."""
    verdict = record.get("verdict")
    hi, lo = record.get("threshold"), record.get("inconclusive_threshold")
    score = _n(record.get("score"))
    three = lo is not None
    if verdict == "fake":
        text = (f"Likely manipulated: its score {score} is above the score that only 1 in 100 "
                f"real files of the calibration sources reach ({_n(hi)}){_prob(record)}."
                if three else
                f"Flagged as manipulated: its score {score} is at or above the threshold "
                f"{_n(hi)}{_prob(record)}.")
    elif verdict == "inconclusive":
        text = (f"Inconclusive — a person should look: its score {score} lies between the "
                f"points that 5 in 100 ({_n(lo)}) and 1 in 100 ({_n(hi)}) real files reach, "
                f"where real and manipulated files overlap{_prob(record)}.")
    elif verdict == "real":
        text = (f"No sign of manipulation found: its score {score} is below "
                + (f"the point that 5 in 100 real files reach ({_n(lo)})" if three
                   else f"the threshold {_n(hi)}")
                + f"{_prob(record)}. This is not proof that it is authentic: methods unlike the "
                "training data can go unseen.")
    elif verdict == "abstain":
        reason = record.get("reason") or ""
        meaning = ABSTAIN_REASONS.get(reason.split(":")[0], reason)
        detail = f" ({reason})" if reason.startswith("unreadable") else ""
        text = f"No verdict: {meaning}{detail}."
    else:
        text = f"No verdict: fakescope failed on this file ({record.get('reason') or 'unknown error'})."
    if record.get("frames_unreadable"):
        bad, read = record["frames_unreadable"], record.get("frames_read") or 0
        text += f" Only {read} of {bad + read} sampled frames could be decoded."
    extra = provenance_summary(record.get("provenance"))
    return f"{text} {extra}" if extra else text
