"""Progress of a long run on stderr: a tqdm bar on a terminal, else a plain line every few
seconds (a log file, CI, ``2> run.log``) with the time left. Nothing for a run that ends
within ``delay`` seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["Progress", "plain_line"]


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def plain_line(desc: str, done: int, total: int, elapsed: float, unit: str) -> str:
    """``baseline_2021: 4,000 of 10,000 trials (40%), 12 s elapsed, about 18 s left``."""
    frac = done / total if total else 0.0
    line = (f"{desc}: {done:,} of {total:,} {unit} ({100 * frac:.0f}%), "
            f"{_duration(elapsed)} elapsed")
    if 0 < frac < 1:
        line += f", about {_duration(elapsed * (1 - frac) / frac)} left"
    return line


class Progress:
    """Counts work done (``update(n)``) towards ``total``.

    On a terminal: a tqdm bar that appears after ``delay`` seconds. Elsewhere: a plain
    line after ``delay`` seconds and then every ``interval`` seconds, never for the
    last update (the command's own note says it finished). ``clock`` and ``stream`` are
    there for tests.
    """

    def __init__(self, total: int, *, desc: str, unit: str = "trials",
                 stream: TextIO | None = None, tty: bool | None = None,
                 delay: float = 2.0, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit = int(total), desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.delay, self.interval, self.clock = delay, interval, clock
        self.done = 0
        self.t0 = clock()
        self.last: float | None = None
        self.bar: Any = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit.rstrip("s") or unit, desc=desc,
                            leave=False, delay=delay, file=self.stream)

    def set_total(self, total: int) -> None:
        self.total = int(total)
        if self.bar is not None:
            self.bar.total = total

    def update(self, n: int) -> None:
        self.done += int(n)
        if self.bar is not None:
            self.bar.update(n)
            return
        now = self.clock()
        elapsed = now - self.t0
        if self.done >= self.total or elapsed < self.delay:
            return
        if self.last is None or now - self.last >= self.interval:
            self.last = now
            print(plain_line(self.desc, self.done, self.total, elapsed, self.unit),
                  file=self.stream, flush=True)

    def __call__(self, n: int) -> None:
        self.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
