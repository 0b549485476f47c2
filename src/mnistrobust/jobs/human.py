"""Jobs of workflow/rules/human.smk. The human study's experiment (page, response database,
statistics) is its own subpackage, ``mnistrobust.human``, which also reads and writes
files for the experiment's command line; these are the three functions the rules call."""

from __future__ import annotations

from ..human.analysis import analyse, lenet_answers
from ..human.stimuli import build_stimulus_file

__all__ = ["analyse", "build_stimulus_file", "lenet_answers"]
