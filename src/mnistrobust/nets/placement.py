"""Where Table 1's dropout acts in a LeNet: the names the config, the networks and the
checkpoints share. Torch-free, so that the config can be checked without torch."""

from __future__ import annotations

from collections.abc import Mapping

# Where Table 1's dropout acts in a LeNet (docs/design.md "Dropout placement"). caffe: each
# site on the blob of its name, as an in-place Dropout layer does in a prototxt: data,
# conv1 and conv2 before their pooling, ip1 after its ReLU, ip2 (the logits) before the
# softmax loss. after_pooling: conv1 and conv2 after their pooling, and full and output
# both on ip1's 500 units (the only reading before the choice existed).
DROPOUT_PLACEMENTS = ("caffe", "after_pooling")
# What a checkpoint that records no placement was trained with.
LEGACY_DROPOUT_PLACEMENT = "after_pooling"
# The sites whose position depends on the placement (input dropout acts on data in both).
PLACED_DROPOUT_SITES = ("conv1", "conv2", "full", "output")


def placement_matters(dropout: Mapping[str, float] | None) -> bool:
    """Whether a LeNet with ``dropout`` trains differently under the two placements."""
    return any((dropout or {}).get(site, 0.0) > 0 for site in PLACED_DROPOUT_SITES)
