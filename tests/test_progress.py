"""Tests for mnistrobust.progress: progress lines with count, percent, elapsed time and ETA,
at most one every few seconds (and always the last)."""

from __future__ import annotations

import pytest

from mnistrobust import progress as progress_module
from mnistrobust.progress import Progress, duration


class _Clock:
    """A stand-in for time.perf_counter that the test moves forward by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", clock)
    return clock


def test_duration_reads_like_a_person_would_write_it():
    assert duration(0) == "0 s" and duration(59.4) == "59 s"
    assert duration(61) == "1 min 01 s" and duration(3599) == "59 min 59 s"
    assert duration(3600 + 125) == "1 h 02 min"
    assert duration(-3) == "0 s"


def test_lines_come_every_few_seconds_when_forced_and_at_the_end(clock):
    lines: list[str] = []
    progress = Progress("images", 10, lines.append, every_s=15)
    progress.update(1)
    clock.now += 5
    progress.update(2)
    assert lines == []  # too soon
    clock.now += 11  # 16 s since the start
    progress.update(4)
    assert len(lines) == 1
    assert "4/10" in lines[0] and "(40%)" in lines[0] and "16 s" in lines[0] and "ETA 24 s" in lines[0]
    progress.update(5, note="loss 0.5", force=True)
    assert len(lines) == 2 and lines[1].endswith("; loss 0.5")
    progress.update(10)
    assert len(lines) == 3 and "10/10" in lines[2] and "(100%)" in lines[2] and lines[2].endswith("done")
    assert all(line.startswith("images") for line in lines)


def test_advance_counts_on_and_the_unit_is_named(clock):
    lines: list[str] = []
    progress = Progress("sweep", 3, lines.append, unit="x 4 levels")
    progress.advance()
    progress.advance(2)
    assert progress.done == 3
    assert len(lines) == 1 and "3/3 x 4 levels (100%)" in lines[0]


def test_a_total_of_zero_counts_as_one(clock):
    lines: list[str] = []
    Progress("nothing", 0, lines.append).update(1)
    assert len(lines) == 1 and "1/1" in lines[0]
