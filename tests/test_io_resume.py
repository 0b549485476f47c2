"""Tests for mnistrobust.io.resume: what a long job keeps so that an interrupted run resumes."""

from __future__ import annotations

from pathlib import Path

import torch

from mnistrobust.io.resume import IDENTITY_FILE, ResumeFolder, digest
from mnistrobust.nets.models import LeNet


def test_the_key_follows_every_part_networks_by_their_weights_and_files_by_their_contents(tmp_path):
    a, b = LeNet(), LeNet()
    b.load_state_dict(a.state_dict())
    assert digest("x", 0.1, a) == digest("x", 0.1, b)
    with torch.no_grad():
        b.ip2.bias[0] += 1e-6
    assert digest("x", 0.1, a) != digest("x", 0.1, b)
    assert digest(torch.zeros(3)) != digest(torch.zeros(4)) and digest(0.1) != digest(0.2)
    file = tmp_path / "defense.py"
    file.write_text("one")
    before = digest(Path(file))
    file.write_text("two")
    assert digest(Path(file)) != before


def test_the_key_tells_a_plugins_threat_models_apart_though_their_weights_are_one():
    # The same defense attacked end to end and through BPDA: equal weights, other gradients.
    from mnistrobust.nets.plugins import PluginMethod

    defense = torch.nn.Linear(784, 10)
    end_to_end, bpda = PluginMethod(defense, "end_to_end"), PluginMethod(defense, "bpda")
    assert end_to_end.state_dict().keys() == bpda.state_dict().keys()
    assert digest(end_to_end) != digest(bpda)
    assert digest(end_to_end) == digest(PluginMethod(defense, "end_to_end"))


def test_a_folder_keeps_tensors_for_its_identity_and_is_emptied_for_another(tmp_path):
    folder = tmp_path / ".lenet.resume"
    kept = ResumeFolder(folder, "inputs 1")
    chunk1, chunk2 = ResumeFolder.key("chunk", 1), ResumeFolder.key("chunk", 2)
    kept.put(chunk1, torch.arange(4.0))
    assert ResumeFolder(folder, "inputs 1").get(chunk1).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert ResumeFolder(folder, "inputs 1").get(chunk2) is None
    other = ResumeFolder(folder, "inputs 2")  # e.g. a retrained member
    assert other.get(chunk1) is None and list(folder.glob("*.pt")) == []
    assert (folder / IDENTITY_FILE).read_text() == "inputs 2"
    other.remove()
    assert not folder.exists()
