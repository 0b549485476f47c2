"""Bit-depth reduction (feature squeezing, Xu et al. 2018) in front of a method's classifier.

Rounding every pixel to 2**bits levels has a zero gradient almost everywhere, so FGSM and
plain PGD see no gradient and look defeated: the textbook case of gradient masking. The
class says so (``differentiable = False``), so the strong evaluation adds BPDA, which
takes the rounding's gradient as the identity, next to the gradient-free Square attack.
"""

import torch
from torch import nn


class BitDepthReduction(nn.Module):
    randomized = False  # the same output for the same input
    differentiable = False  # round() has no useful gradient: BPDA attacks transform() as the identity

    def __init__(self, classifier: nn.Module, bits: int = 1):
        super().__init__()
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be 1..8, got {bits}")
        self.classifier, self.levels = classifier, 2**bits - 1

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] rounded to 2**bits levels (1 bit: black or white at 0.5)."""
        return torch.round(x * self.levels) / self.levels

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.transform(x))
