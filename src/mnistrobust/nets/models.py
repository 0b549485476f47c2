"""Network definitions: the Caffe LeNet, its dropout variants, committees and stacked networks.

Every classifier here returns log-probabilities, so that one loss (NLL) and one
gradient definition serve single networks and committees alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..config import DROPOUT_PLACEMENTS
from ..errors import ConfigError
from .defenses import DAE_HIDDEN_UNITS, DenoisingAutoencoder

# Table 1's dropout columns, named after Caffe's layers; where they act: config.DROPOUT_PLACEMENTS.
DROPOUT_SITES = ("input", "conv1", "conv2", "full", "output")


def check_placement(placement: str) -> str:
    if placement not in DROPOUT_PLACEMENTS:
        raise ConfigError(f"unknown dropout placement {placement!r}; known: {list(DROPOUT_PLACEMENTS)}")
    return placement


def _xavier_caffe_(weight: torch.Tensor, generator: torch.Generator) -> None:
    """Caffe's XavierFiller: U(-a, a) with a = sqrt(3 / fan_in)."""
    fan_in = weight[0].numel()
    bound = math.sqrt(3.0 / fan_in)
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)


class LeNet(nn.Module):
    """Caffe's MNIST LeNet: conv20-pool-conv50-pool-fc500-relu-fc10 (431,080 parameters).

    ``conv_relu`` adds a ReLU after each convolution (architecture ``lenet_relu``, same
    parameters): Caffe's LeNet has none there, and without them fast adversarial training
    at eps 0.3 overfits catastrophically (docs/strong-attacks.md).
    """

    def __init__(
        self, dropout: Mapping[str, float] | None = None, conv_relu: bool = False, placement: str = "caffe"
    ):
        super().__init__()
        self.conv_relu = conv_relu
        self.placement = check_placement(placement)
        dropout = dict(dropout or {})
        unknown = set(dropout) - set(DROPOUT_SITES)
        if unknown:
            raise ConfigError(f"unknown dropout site(s) {sorted(unknown)}; known: {list(DROPOUT_SITES)}")
        for site, rate in dropout.items():
            if not 0.0 <= rate < 1.0:
                raise ConfigError(f"dropout rate for {site!r} must be in [0, 1), got {rate}")
        self.dropout_rates = {site: float(dropout.get(site, 0.0)) for site in DROPOUT_SITES}
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)
        self.drop = nn.ModuleDict({site: nn.Dropout(rate) for site, rate in self.dropout_rates.items() if rate > 0})

    def _maybe_drop(self, site: str, x: torch.Tensor) -> torch.Tensor:
        return self.drop[site](x) if site in self.drop else x

    def reset_parameters(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        for layer in (self.conv1, self.conv2, self.ip1, self.ip2):
            _xavier_caffe_(layer.weight, generator)
            nn.init.zeros_(layer.bias)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        caffe = self.placement == "caffe"
        x = self._maybe_drop("input", x)
        x = self._conv_block("conv1", self.conv1, x, caffe)
        x = self._conv_block("conv2", self.conv2, x, caffe)
        x = self._maybe_drop("full", F.relu(self.ip1(x.flatten(1))))
        if caffe:
            return self._maybe_drop("output", self.ip2(x))
        return self.ip2(self._maybe_drop("output", x))

    def _conv_block(self, site: str, conv: nn.Conv2d, x: torch.Tensor, caffe: bool) -> torch.Tensor:
        x = self._activation(conv(x))
        if caffe:
            return F.max_pool2d(self._maybe_drop(site, x), 2)
        return self._maybe_drop(site, F.max_pool2d(x, 2))

    def _activation(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) if self.conv_relu else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.logits(x), dim=1)


class LeNetGroup(nn.Module):
    """K LeNets with the same dropout, trained as one network: grouped convolutions and
    batched matrix products, so that one step of K small models runs as one step of
    larger kernels (measured faster per model than K separate steps, bench/).

    Input: (B, K, 28, 28), member k's images in channel k (each member keeps its own
    sample order). Output: (K, B, 10) log-probabilities.
    """

    def __init__(self, members: Sequence[LeNet]):
        super().__init__()
        if not members:
            raise ConfigError("a LeNet group needs at least one member")
        rates = {(tuple(sorted(member.dropout_rates.items())), member.placement) for member in members}
        if len(rates) != 1:
            raise ConfigError("the members of a LeNet group must share their dropout rates and placement")
        if any(member.conv_relu for member in members):
            raise ConfigError("a LeNet group holds Caffe's LeNet only (no ReLU after the convolutions)")
        self.size = len(members)
        self.dropout_rates = dict(members[0].dropout_rates)
        self.placement = members[0].placement

        def concatenated(get) -> nn.Parameter:
            # Members side by side along dim 0 (4-D conv weights stay 4-D for channels_last).
            return nn.Parameter(torch.cat([get(member).detach().clone() for member in members]))

        self.conv1_weight = concatenated(lambda m: m.conv1.weight)  # K*20, 1, 5, 5
        self.conv1_bias = concatenated(lambda m: m.conv1.bias)
        self.conv2_weight = concatenated(lambda m: m.conv2.weight)  # K*50, 20, 5, 5
        self.conv2_bias = concatenated(lambda m: m.conv2.bias)
        self.ip1_weight = concatenated(lambda m: m.ip1.weight)  # K*500, 800
        self.ip1_bias = concatenated(lambda m: m.ip1.bias)
        self.ip2_weight = concatenated(lambda m: m.ip2.weight)  # K*10, 500
        self.ip2_bias = concatenated(lambda m: m.ip2.bias)

    def _drop(self, site: str, x: torch.Tensor) -> torch.Tensor:
        rate = self.dropout_rates[site]
        return F.dropout(x, rate, self.training) if rate > 0 else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, batch = self.size, x.shape[0]
        caffe = self.placement == "caffe"
        x = self._drop("input", x)
        x = self._conv_block("conv1", F.conv2d(x, self.conv1_weight, self.conv1_bias, groups=k), caffe)
        x = self._conv_block("conv2", F.conv2d(x, self.conv2_weight, self.conv2_bias, groups=k), caffe)
        x = x.reshape(batch, k, 800).transpose(0, 1)  # member k's channels are 50k..50k+49
        x = F.relu(torch.baddbmm(self._per_member(self.ip1_bias), x, self._per_member(self.ip1_weight).transpose(1, 2)))
        x = self._drop("full", x)
        if not caffe:
            x = self._drop("output", x)
        x = torch.baddbmm(self._per_member(self.ip2_bias), x, self._per_member(self.ip2_weight).transpose(1, 2))
        if caffe:
            x = self._drop("output", x)
        return F.log_softmax(x, dim=2)

    def _conv_block(self, site: str, x: torch.Tensor, caffe: bool) -> torch.Tensor:
        if caffe:
            return F.max_pool2d(self._drop(site, x), 2)
        return self._drop(site, F.max_pool2d(x, 2))

    def _per_member(self, parameter: torch.Tensor) -> torch.Tensor:
        """(K*n, ...) -> (K, n, ...); a bias (K*n) -> (K, 1, n) to broadcast over the batch."""
        if parameter.ndim == 1:
            return parameter.view(self.size, 1, -1)
        return parameter.view(self.size, -1, *parameter.shape[1:])

    def member_state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """Each member's weights as a plain :class:`LeNet` state dict."""
        layers = ("conv1", "conv2", "ip1", "ip2")
        return [
            {
                f"{layer}.{kind}": getattr(self, f"{layer}_{kind}")
                .chunk(self.size)[index]
                .detach()
                .clone(memory_format=torch.contiguous_format)
                for layer in layers
                for kind in ("weight", "bias")
            }
            for index in range(self.size)
        ]


class Committee(nn.Module):
    """Averages its members' softmax outputs; returns the log of that average."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if not members:
            raise ConfigError("a committee needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_probs = torch.stack([member(x) for member in self.members])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))


class MeanMemberLoss(Committee):
    """A committee as a pycaffe attacker sees it when each member is its own net: the mean
    of the members' log-probabilities, whose NLL is the mean of the members' losses. Used
    for the attacker's gradient only; the deployed committee is :class:`Committee`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)


class Stacked(nn.Module):
    """A preprocessing network (low-pass filter, DAE) feeding a classifier; one differentiable network."""

    def __init__(self, preprocess: nn.Module, classifier: nn.Module):
        super().__init__()
        self.preprocess = preprocess
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.preprocess(x))


ARCHITECTURES = {
    "lenet": LeNet,
    "lenet_relu": lambda dropout=None, placement="caffe": LeNet(dropout, conv_relu=True, placement=placement),
    "dae": DenoisingAutoencoder,
    "dae_sigmoid": lambda dropout=None: DenoisingAutoencoder(dropout, hidden="sigmoid"),
}


def build_model(arch: str, dropout: Mapping[str, float] | None = None, placement: str | None = None) -> nn.Module:
    """A new network of ``arch``; ``placement`` (LeNets only) where its dropout acts, Caffe's by default."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    if placement is None:
        return ARCHITECTURES[arch](dropout=dropout)
    if arch in DAE_HIDDEN_UNITS:
        raise ConfigError("the DAE has dropout on its input only; a dropout placement is for LeNets")
    return ARCHITECTURES[arch](dropout=dropout, placement=placement)


def module_device(model: nn.Module) -> torch.device:
    """Where a network's parameters live (all of ours have parameters)."""
    return next(model.parameters()).device


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
