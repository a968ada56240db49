"""One line of ``vodwatch check``'s checklist, and the exit code the lines add up to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .log import redact

OK, FAIL, WARN = "OK", "FAIL", "WARN"
EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_VOD = 0, 1, 2, 3


@dataclass(frozen=True)
class Result:
    """One line of the checklist; ``vod`` marks trouble with VOD itself (exit 3)."""

    level: str
    text: str
    fix: str = ""
    vod: bool = False

    def line(self) -> str:
        tag = {OK: "[ OK ]", FAIL: "[FAIL]", WARN: "[WARN]"}[self.level]
        return redact(f"{tag} {self.text}" + (f": {self.fix}" if self.fix else ""))


def exit_code(results: Iterable[Result]) -> int:
    """3 if VOD failed, else 1 if a local check failed, else 0."""
    failed = [r for r in results if r.level == FAIL]
    if any(r.vod for r in failed):
        return EXIT_VOD
    return EXIT_FAILED if failed else EXIT_OK
