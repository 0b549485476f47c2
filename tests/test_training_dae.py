"""Tests for mnistrobust.training.dae: training the denoising autoencoder and measuring
its reconstructions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnistrobust.errors import ConfigError
from mnistrobust.nets.defenses import DenoisingAutoencoder
from mnistrobust.training.dae import AutoencoderSpec, denoising_metrics, reconstruction_error, train_autoencoder


@pytest.mark.parametrize("kwargs", [{"iterations": 0}, {"batch_size": 0}, {"learning_rate": 0.0}])
def test_spec_rejects_non_positive_settings(kwargs):
    with pytest.raises(ConfigError, match="DAE iterations, batch_size and learning_rate must be positive"):
        AutoencoderSpec(**kwargs)


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
    spec = AutoencoderSpec(seed=0, input_dropout=0.2, iterations=400, batch_size=64, learning_rate=0.5, log_every=400)
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
