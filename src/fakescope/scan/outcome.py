"""What a batch of results means for the caller: failures and the exit status.

Exit codes (virus-scanner style, documented in `fakescope scan --help`):
0 every input scanned, nothing fake or inconclusive found; 1 something fake found; 4 nothing
fake, but something inconclusive (a person should look); 2 some inputs could not be scanned
(unreadable, or fakescope or its worker failed on them) — 2 wins over 1 and 4: the run is
incomplete, and its report still lists what was found; 1 wins over 4; 3 the run itself failed
(an internal error outside any one input). A crash is never 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fakescope.errors import EXIT_INTERNAL, FakescopeError  # EXIT_INTERNAL: scan's code 3 too
from fakescope.types import DetectorInfo, ScanResult

EXIT_CLEAN, EXIT_FAKE, EXIT_INCOMPLETE, EXIT_INCONCLUSIVE = 0, 1, 2, 4  # 3: EXIT_INTERNAL
REASON_NO_FACE = "no_face"
REASON_NO_SEQUENCE = "no_sequence"  # faces, but no track fills a temporal detector's unit
UNREADABLE = "unreadable"


def is_failure(result: ScanResult) -> bool:
    """The input could not be scanned (counts toward exit code 2)."""
    return result.verdict == "error" or (
        result.verdict == "abstain" and (result.reason or "").startswith(UNREADABLE)
    )


def exit_code(results: Iterable[ScanResult]) -> int:
    """0 nothing fake or inconclusive found, 1 something fake found, 4 something inconclusive
    and nothing fake, 2 some inputs could not be scanned (wins over 1 and 4)."""
    results = list(results)
    if any(is_failure(r) for r in results):
        return EXIT_INCOMPLETE
    if any(r.verdict == "fake" for r in results):
        return EXIT_FAKE
    if any(r.verdict == "inconclusive" for r in results):
        return EXIT_INCONCLUSIVE
    return EXIT_CLEAN


def error_result(path: str | Path, exc: BaseException | str, detector: DetectorInfo | None,
                 threshold: float | None, key: str | None) -> ScanResult:
    """An ``error`` record: `exc` is the exception, or the cause in words (a worker that died)."""
    cause = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return ScanResult(path=str(path), sha256=try_hash(path), kind=None, verdict="error",
                      score=None, threshold=threshold, reason=f"error: {cause}",
                      detector=detector, settings_key=key)


def try_hash(path: str | Path) -> str | None:
    """sha256 of an input that could not be decoded, when its bytes can still be read (lets a
    re-run skip it while the file is unchanged); None when even that fails."""
    from fakescope.media import sha256_file

    try:
        return sha256_file(path)
    except (FakescopeError, OSError):
        return None
