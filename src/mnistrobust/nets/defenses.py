"""Input preprocessing defenses: the Gaussian low-pass filter and the denoising autoencoder.

Both are differentiable torch modules, so an attacker can take gradients through them
(the ``end_to_end`` threat model) and a classifier can be stacked on top of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError

KERNEL_SUPPORT = 3.0  # the paper fills each kernel with the Gaussian sampled on (-3, 3)


# How the kernel samples the Gaussian on (-support, support) (docs/design.md "Low-pass kernels").
KERNEL_SAMPLINGS = ("cell_centres", "linspace")


def gaussian_kernel(
    size: int, variance: float, support: float = KERNEL_SUPPORT, sampling: str = "cell_centres"
) -> torch.Tensor:
    """A ``size`` x ``size`` Gaussian kernel sampled at evenly spaced points of the support, summing to 1.

    ``cell_centres``: the centres of ``size`` equal cells covering the open interval, e.g.
    -2, 0, 2 for size 3 and support 3. ``linspace``: ``size`` points from -support to
    support, ends included, e.g. -3, 0, 3.
    """
    if size < 1 or size % 2 == 0:
        raise ConfigError(f"low-pass filter size must be odd and positive, got {size}")
    if variance <= 0:
        raise ConfigError(f"low-pass filter variance must be positive, got {variance}")
    if sampling == "cell_centres":
        step = 2 * support / size
        points = -support + step * (torch.arange(size, dtype=torch.float64) + 0.5)
    elif sampling == "linspace":
        points = torch.linspace(-support, support, size, dtype=torch.float64) if size > 1 else torch.zeros(1)
    else:
        raise ConfigError(f"unknown kernel sampling {sampling!r}; known: {list(KERNEL_SAMPLINGS)}")
    profile = torch.exp(-(points**2) / (2 * variance))
    kernel = torch.outer(profile, profile)
    return (kernel / kernel.sum()).to(torch.float32)


class LowPassFilter(nn.Module):
    """Inject Gaussian noise (std ``noise_sigma``), then blur with a Gaussian kernel.

    The injected noise breaks up the flat regions gradient-sign noise creates, so the
    blur can average them away (Section 3 of the paper). The noise comes from the
    module's own seeded generator, so an evaluation repeats exactly.
    """

    def __init__(
        self, size: int, variance: float, noise_sigma: float = 0.0, seed: int = 0, sampling: str = "cell_centres"
    ):
        super().__init__()
        if noise_sigma < 0:
            raise ConfigError(f"low-pass noise sigma must be >= 0, got {noise_sigma}")
        self.size, self.variance, self.noise_sigma = size, variance, noise_sigma
        self.register_buffer("kernel", gaussian_kernel(size, variance, sampling=sampling)[None, None], persistent=False)
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def randomized(self) -> bool:
        """A fresh noise draw at every forward pass (attacks then use EOT)."""
        return self.noise_sigma > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise_sigma > 0:
            # Drawn on the CPU whatever the device, so CPU and CUDA runs see the same noise.
            noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype)
            x = x + self.noise_sigma * noise.to(x.device)
        # Replicate padding keeps the image size and does not darken the border.
        padded = F.pad(x, [self.size // 2] * 4, mode="replicate")
        return F.conv2d(padded, self.kernel.to(x.dtype))

    def extra_repr(self) -> str:
        return f"size={self.size}, variance={self.variance}, noise_sigma={self.noise_sigma}"


DAE_LAYERS = (784, 1000, 500, 250, 30, 250, 500, 1000, 784)


# The two DAE networks, by the architecture name their checkpoints record: "dae", ReLU
# hidden units with Glorot-uniform weights (the earlier pilot); "dae_sigmoid", Caffe's
# examples/mnist/mnist_autoencoder.prototxt: sigmoid hidden units, Gaussian weights of
# std 1 made sparse (Caffe's GaussianFiller with sparse: 15).
DAE_HIDDEN_UNITS = {"dae": "relu", "dae_sigmoid": "sigmoid"}
CAFFE_SPARSE_FANOUT = 15


class DenoisingAutoencoder(nn.Module):
    """784-1000-500-250-30-250-500-1000-784 autoencoder; denoising by dropout on its input.

    A linear 30-unit code and a sigmoid output so reconstructions are images in [0, 1];
    ``hidden`` units ReLU or sigmoid (the paper gives only the layer sizes).
    """

    def __init__(self, dropout: Mapping[str, float] | None = None, hidden: str = "relu"):
        super().__init__()
        dropout = dict(dropout or {})
        if set(dropout) - {"input"}:
            raise ConfigError(f"the DAE takes dropout only on its input, got {sorted(dropout)}")
        rate = float(dropout.get("input", 0.0))
        if not 0.0 <= rate < 1.0:
            raise ConfigError(f"DAE input dropout must be in [0, 1), got {rate}")
        if hidden not in ("relu", "sigmoid"):
            raise ConfigError(f"DAE hidden units must be 'relu' or 'sigmoid', got {hidden!r}")
        self.hidden = hidden
        self.dropout_rates = {"input": rate}
        self.input_dropout = nn.Dropout(rate)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(DAE_LAYERS[:-1], DAE_LAYERS[1:]))
        self.code_layer = DAE_LAYERS.index(30) - 1

    def reset_parameters(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        for layer in self.layers:
            with torch.no_grad():
                if self.hidden == "sigmoid":
                    # Caffe's GaussianFiller with sparse s keeps each weight with probability
                    # s / outputs, so each input feeds about s units of the next layer.
                    weight = torch.randn(layer.weight.shape, generator=generator)
                    keep = torch.rand(layer.weight.shape, generator=generator) < CAFFE_SPARSE_FANOUT / layer.out_features
                    layer.weight.copy_(weight * keep)
                else:
                    # Glorot-uniform keeps ReLU activations in range through eight layers.
                    bound = math.sqrt(6.0 / (layer.in_features + layer.out_features))
                    layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()

    def reconstruction_logits(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_dropout(x.flatten(1))
        activation = torch.sigmoid if self.hidden == "sigmoid" else F.relu
        for index, layer in enumerate(self.layers):
            h = layer(h)
            if index != self.code_layer and index != len(self.layers) - 1:
                h = activation(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.reconstruction_logits(x)).view(x.shape)
