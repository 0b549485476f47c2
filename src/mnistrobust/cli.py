"""Argument types for the command lines (the human study's, bench/ and docs/experiments/):
a bad value is argparse's one-line usage error, before anything runs. Config values are
checked by the schema instead; the settings classes trust both."""

from __future__ import annotations

import argparse


def _integer(text: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"{text} is not >= {lowest}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds, ports)."""
    return _integer(text, 0)


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0..65535)")
    return value
