"""FakeClock: stands in for ``time.time`` where a test decides when time passes."""

from __future__ import annotations


class FakeClock:
    """Seconds since the epoch, moved on only by :meth:`advance` (or by setting :attr:`now`).

    >>> clock = FakeClock(100.0)
    >>> clock.advance(2.5)
    >>> clock()
    102.5
    """

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
