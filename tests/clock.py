"""A clock the test moves by hand: the only thing besides sleep and randomness that the
tests fake."""

from __future__ import annotations


class FakeClock:
    """Returns ``now``; the test sets or advances it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
