"""Perturbations of the paper: Gaussian noise, the gradient-sign method (Eq. 1) and Eq. 3.

All perturbed images are clipped to [0, 1] (DESIGN.md choice); ``distortion`` is Eq. 2.
Classifiers return log-probabilities, so the loss is the NLL of the true label.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def clip_unit(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0.0, 1.0)


def distortion(perturbed: torch.Tensor, clean: torch.Tensor) -> float:
    """Eq. 2: mean absolute per-pixel change over the whole set."""
    return (perturbed - clean).abs().mean().item()


def add_gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return clip_unit(x + sigma * noise)


def apply_sign(x: torch.Tensor, sign: torch.Tensor, eps: float) -> torch.Tensor:
    """Eq. 1 with a precomputed gradient sign: clip(X + eps * sign)."""
    return torch.add(x, sign.to(x.dtype), alpha=eps).clamp_(0.0, 1.0)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed NLL loss with respect to the input images."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = F.nll_loss(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def gradient_sign(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """sign(grad_X L) for a whole set, as int8; it does not depend on eps, so it is computed once."""
    was_training = model.training
    model.eval()
    signs = [
        input_gradient(model, images[i : i + batch_size], labels[i : i + batch_size]).sign().to(torch.int8)
        for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return torch.cat(signs)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return apply_sign(x, gradient_sign(model, x, y, batch_size=len(x)), eps)


def eq3_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, c: float) -> torch.Tensor:
    """Eq. 3: X + R + c * grad_X L(theta, X + R, y) with R = eps * sign(grad_X L(theta, X, y)), clipped.

    The gradients are those of the deployed network, so dropout is switched off meanwhile.
    """
    was_training = model.training
    model.eval()
    sign_step = x + eps * input_gradient(model, x, y).sign()
    examples = clip_unit(sign_step + c * input_gradient(model, sign_step, y))
    model.train(was_training)
    return examples
