"""Tests for mnistrobust.training.dae: training the denoising autoencoder and measuring
its reconstructions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnistrobust.nets.defenses import DenoisingAutoencoder
from mnistrobust.training.dae import AutoencoderSettings, denoising_metrics, reconstruction_error, train_autoencoder


class _Halve(nn.Module):
    """A stand-in autoencoder whose reconstruction is known: half the input."""

    def forward(self, x):
        return 0.5 * x


def test_reconstruction_error_is_the_mean_squared_error_of_the_reconstruction():
    images = torch.rand(1500, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # more than one 1000-image batch
    corrupted = torch.rand(1500, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    model = _Halve().train()
    assert reconstruction_error(model, images) == pytest.approx((0.5 * images).pow(2).mean().item(), rel=1e-5)
    assert reconstruction_error(model, images, corrupted) == pytest.approx((0.5 * corrupted - images).pow(2).mean().item(), rel=1e-5)
    assert not model.training  # measured as deployed


def test_trained_dae_reconstructs_clean_images_better_than_the_noisy_input(small_mnist):
    images = small_mnist
    spec = AutoencoderSettings(seed=0, input_dropout=0.2, iterations=400, batch_size=64, learning_rate=0.5, log_every=400)
    dae = DenoisingAutoencoder({"input": spec.input_dropout})
    dae.reset_parameters(spec.seed)
    untrained = reconstruction_error(dae, images[:300])
    train_autoencoder(dae, images, spec, log=lambda message: None)
    test = images[:300]
    noisy = (test + 0.3 * torch.randn(test.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert reconstruction_error(dae, test, noisy) < (noisy - test).pow(2).mean().item()
    assert reconstruction_error(dae, test) < untrained / 2
    metrics = denoising_metrics(dae, test)
    assert set(metrics) == {"test_mse_clean_input", "test_mse_noisy_input", "test_mse_noisy_unreconstructed"}
    assert metrics["test_mse_clean_input"] == pytest.approx(reconstruction_error(dae, test))
    # The DAE's reconstruction of noisy input is closer to the clean images than the noisy images are.
    assert metrics["test_mse_noisy_input"] < metrics["test_mse_noisy_unreconstructed"]


# ------------------------------------------------------------------ Caffe's example recipe

CAFFE_EXAMPLE = dict(
    recipe="caffe_example", iterations=65_000, batch_size=100, learning_rate=0.01, momentum=0.95,
    weight_decay=5e-4, lr_step=10_000, lr_gamma=0.1,
)


def test_caffe_recipe_follows_caffes_step_policy():
    """mnist_autoencoder_solver_nesterov.prototxt: base_lr 0.01, lr_policy "step", gamma 0.1,
    stepsize 10,000: rate = base_lr * gamma ^ floor(iter / stepsize)."""
    spec = AutoencoderSettings(**CAFFE_EXAMPLE)
    for iteration, rate in ((0, 0.01), (9_999, 0.01), (10_000, 0.001), (19_999, 0.001), (20_000, 1e-4), (64_999, 1e-8)):
        assert spec.rate_at(iteration) == pytest.approx(rate, rel=1e-9), iteration
    assert AutoencoderSettings(learning_rate=0.5).rate_at(50_000) == 0.5  # no step: constant


def test_caffe_recipe_trains_the_sigmoid_dae_with_the_rate_of_each_iteration(small_mnist):
    spec = AutoencoderSettings(**{**CAFFE_EXAMPLE, "iterations": 6, "lr_step": 2, "batch_size": 16, "log_every": 1})
    assert spec.arch == "dae_sigmoid"
    dae = DenoisingAutoencoder({"input": 0.2}, hidden="sigmoid")
    dae.reset_parameters(0)
    lines: list[str] = []
    train_autoencoder(dae, small_mnist, spec, log=lines.append)
    rates = [float(line.split(" lr ")[1].split()[0]) for line in lines if " lr " in line]
    assert rates == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001], rel=1e-3)


def test_caffe_loss_sums_the_pixels_and_averages_the_batch():
    logits = torch.randn(5, 784, generator=torch.Generator().manual_seed(0))
    target = torch.rand(5, 784, generator=torch.Generator().manual_seed(1))
    caffe = AutoencoderSettings(**CAFFE_EXAMPLE).loss(logits, target)
    pilot = AutoencoderSettings().loss(logits, target)
    assert caffe.item() == pytest.approx(784 * pilot.item(), rel=1e-5)


def test_weight_decay_spares_the_biases(small_mnist):
    """Caffe's example sets decay_mult 0 on the biases: with the loss's gradient dropped, one
    Nesterov step (rate 0.01, momentum 0.5: lr * (1 + m) * decay * w) shrinks the weights alone."""
    spec = AutoencoderSettings(**{**CAFFE_EXAMPLE, "iterations": 1, "batch_size": 8, "weight_decay": 0.5, "momentum": 0.5})
    dae = DenoisingAutoencoder({"input": 0.0}, hidden="sigmoid")
    dae.reset_parameters(0)
    with torch.no_grad():
        for layer in dae.layers:
            layer.bias.fill_(0.3)
    before = {name: p.detach().clone() for name, p in dae.named_parameters()}
    for p in dae.parameters():
        p.register_hook(torch.zeros_like)  # no loss gradient: what moves is weight decay alone
    train_autoencoder(dae, small_mnist, spec, log=lambda message: None)
    for name, p in dae.named_parameters():
        if name.endswith("bias"):
            assert torch.equal(p, before[name]), name
        else:
            torch.testing.assert_close(p, before[name] * (1 - 0.01 * 1.5 * 0.5))
