"""The command lines' argument types: a bad value is argparse's one-line usage error that
names it, before anything runs (the settings classes trust what they are given)."""

from __future__ import annotations

import argparse

import pytest

from mnistrobust.cli import non_negative_float, non_negative_int, port, positive_int


@pytest.mark.parametrize(
    "kind, text, value",
    [(positive_int, "3", 3), (non_negative_int, "0", 0), (non_negative_float, "0.5", 0.5), (port, "0", 0), (port, "8000", 8000)],
)
def test_good_values_are_read(kind, text, value):
    assert kind(text) == value


@pytest.mark.parametrize(
    "kind, text, says",
    [
        (positive_int, "0", "0 is not >= 1"),
        (positive_int, "2.5", "'2.5' is not an integer"),
        (non_negative_int, "-1", "-1 is not >= 0"),
        (non_negative_float, "-0.5", "-0.5 is not a finite number >= 0"),
        (non_negative_float, "nan", "nan is not a finite number >= 0"),
        (non_negative_float, "inf", "inf is not a finite number >= 0"),
        (non_negative_float, "x", "'x' is not a number"),
        (port, "70000", "70000 is not a port"),
    ],
)
def test_bad_values_are_named(kind, text, says):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{says}"):
        kind(text)


def test_the_human_cli_refuses_a_bad_port_in_one_line(capsys):
    from mnistrobust.human.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", "-5"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("argument --port: -5 is not >= 0")
