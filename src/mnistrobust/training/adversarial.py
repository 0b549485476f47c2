"""Adversarial training in stages (Section 3, "Adversarial Committee").

Stage k (k = 1..N) takes the model of stage k-1 (stage 0 is the base LeNet), makes
Eq. 3 examples of the whole training set with it (the *pool* of stage k, stored in
HDF5), and trains on for a fixed number of iterations on the natural training set
joined with the pools of stages 1..k. Every stage's model is saved; all of them
together with the base model form the adversarial committee.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..attacks import Eq3
from ..config import stage_model_name
from ..nets.models import module_device


@torch.no_grad()
def generate_pool(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    c: float,
    batch_size: int = 1000,
    gradient_batch: int = 1,
) -> torch.Tensor:
    """Eq. 3 examples of every image, from ``model``'s own gradients (on the model's device);
    ``gradient_batch``: the second term's gradient is the loss's averaged over a batch of
    that many images (see :class:`AdversarialSettings`), i.e. the per-image gradient / it."""
    model.eval().to(memory_format=torch.channels_last)
    device = module_device(model)
    attack = Eq3(eps, c / gradient_batch)
    return torch.cat(
        [
            attack.examples(model, images[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


@dataclasses.dataclass(frozen=True)
class AdversarialSettings:
    base_model: str
    stages: int
    iterations_per_stage: int
    eps: float
    c: float
    batch_size: int = 1000  # pool generation only
    # Eq. 3's gradient as the loss's gradient averaged over a batch of this many images: 1,
    # the equation as written (per image); Caffe's SoftmaxWithLoss averages over its batch,
    # so a pycaffe data gradient is the per-image one / batch (64: lenet_train_test's).
    gradient_batch: int = 1

    def pool_attrs(self, stage: int) -> dict[str, Any]:
        return {
            "stage": stage, "eps": float(self.eps), "c": float(self.c), "gradient_batch": int(self.gradient_batch),
            "source_model": stage_model_name(stage - 1, self.base_model),
        }

    def stage_seed(self, base_seed: int, stage: int) -> int:
        """The seed a stage trains with (its batches), derived from the base model's."""
        return base_seed * 1000 + stage

    def start_iteration(self, base_iterations: int, stage: int) -> int:
        """Where stage ``stage`` continues the learning-rate schedule of the base model."""
        return base_iterations + (stage - 1) * self.iterations_per_stage
