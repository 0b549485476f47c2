"""Progress lines a person can follow: done/total, percent, elapsed time and an ETA, at
most one line every few seconds (and always the last). Torch-free.

The job's log prefixes every line with the job's name (``jobs.runtime.job_for``), so
lines of jobs running side by side under ``--cores 8`` stay apart."""

from __future__ import annotations

import time
from collections.abc import Callable

Log = Callable[[str], None]

EVERY_S = 15.0  # well under the 60 s a job may stay silent


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Reports ``what`` as ``done``/``total`` with percent and ETA; ``update`` is cheap when
    it prints nothing, so loops may call it every step."""

    def __init__(self, what: str, total: int, log: Log, unit: str = "", every_s: float = EVERY_S):
        self.what, self.total, self.log, self.unit, self.every_s = what, max(int(total), 1), log, unit, every_s
        self.started = self.last = time.perf_counter()
        self.done = 0

    def line(self, done: int, note: str = "") -> str:
        elapsed = time.perf_counter() - self.started
        fraction = min(done / self.total, 1.0)
        eta = "ETA " + duration(elapsed / fraction - elapsed) if 0 < fraction < 1 else ("done" if fraction >= 1 else "ETA ?")
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.what} {done:,}/{self.total:,}{unit} ({100 * fraction:.0f}%), {duration(elapsed)}, {eta}"
        return f"{text}; {note}" if note else text

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        """Set the count to ``done``; print when forced, finished, or ``every_s`` passed."""
        self.done = done
        now = time.perf_counter()
        if force or done >= self.total or now - self.last >= self.every_s:
            self.last = now
            self.log(self.line(done, note))

    def advance(self, by: int = 1, note: str = "") -> None:
        self.update(self.done + by, note)


def silent(_: str) -> None:
    """A log that prints nothing (library defaults)."""
