"""Tests for mnistrobust.nets.defenses: the Gaussian low-pass filter and the denoising
autoencoder. (Training the autoencoder: test_training_dae.py.)"""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from mnistrobust.errors import ConfigError
from mnistrobust.nets.defenses import DAE_LAYERS, DenoisingAutoencoder, LowPassFilter, gaussian_kernel


@pytest.mark.parametrize(("size", "variance"), [(3, 7.0), (5, 1.3), (7, 0.6)])
def test_paper_kernels_match_their_definition_and_sum_to_one(size, variance):
    kernel = gaussian_kernel(size, variance)
    assert kernel.shape == (size, size)
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6)
    # Sample points: centres of `size` equal cells of (-3, 3).
    points = [-3 + 6 * (i + 0.5) / size for i in range(size)]
    expected = torch.tensor([[math.exp(-(a * a + b * b) / (2 * variance)) for b in points] for a in points])
    torch.testing.assert_close(kernel, (expected / expected.sum()).float(), atol=1e-7, rtol=0)
    torch.testing.assert_close(kernel, kernel.T)
    torch.testing.assert_close(kernel, kernel.flip(0))
    assert kernel.argmax().item() == (size * size) // 2  # peak in the centre


def test_size_three_kernel_samples_at_minus_two_zero_two():
    kernel = gaussian_kernel(3, 7.0)
    corner_to_centre = kernel[0, 0] / kernel[1, 1]
    assert corner_to_centre.item() == pytest.approx(math.exp(-(4 + 4) / 14), rel=1e-5)


@pytest.mark.parametrize(("size", "variance"), [(4, 1.0), (0, 1.0), (3, 0.0), (3, -1.0)])
def test_bad_kernel_arguments_raise(size, variance):
    with pytest.raises(ConfigError):
        gaussian_kernel(size, variance)


def test_filter_without_noise_keeps_constant_images_and_size():
    constant = torch.full((2, 1, 28, 28), 0.7)
    out = LowPassFilter(5, 1.3)(constant)
    assert out.shape == constant.shape
    torch.testing.assert_close(out, constant)


def test_filter_without_noise_is_the_kernel_convolution_inside_the_image():
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    kernel = gaussian_kernel(7, 0.6)
    out = LowPassFilter(7, 0.6)(x)
    direct = F.conv2d(x, kernel[None, None])  # valid part only
    torch.testing.assert_close(out[..., 3:-3, 3:-3], direct)


def test_filter_is_differentiable_and_noise_is_seeded():
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1), requires_grad=True)
    first = LowPassFilter(3, 7.0, noise_sigma=0.2, seed=5)(x)
    (grad,) = torch.autograd.grad(first.sum(), x)
    assert grad.abs().sum() > 0
    # Inside the image each pixel feeds size*size outputs whose weights sum to 1.
    torch.testing.assert_close(grad[..., 2:-2, 2:-2], torch.ones_like(grad[..., 2:-2, 2:-2]))
    again = LowPassFilter(3, 7.0, noise_sigma=0.2, seed=5)(x)
    other = LowPassFilter(3, 7.0, noise_sigma=0.2, seed=6)(x)
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)


def test_dae_shapes_range_and_layers():
    dae = DenoisingAutoencoder({"input": 0.2})
    dae.reset_parameters(0)
    assert [layer.in_features for layer in dae.layers] + [dae.layers[-1].out_features] == list(DAE_LAYERS)
    x = torch.rand(4, 1, 28, 28)
    out = dae.eval()(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


def test_dae_dropout_is_off_in_evaluation_and_on_in_training():
    dae = DenoisingAutoencoder({"input": 0.5})
    dae.reset_parameters(0)
    x = torch.rand(4, 1, 28, 28)
    dae.eval()
    torch.testing.assert_close(dae(x), dae(x))
    dae.train()
    assert not torch.allclose(dae(x), dae(x))


def test_dae_rejects_dropout_elsewhere():
    with pytest.raises(ConfigError, match="input"):
        DenoisingAutoencoder({"conv1": 0.2})


def test_sigmoid_dae_has_caffes_sparse_gaussian_weights_and_sigmoid_units():
    """Caffe's GaussianFiller (std 1, sparse 15): each weight non-zero with probability
    15 / outputs; the hidden units are sigmoids (in (0, 1)) and the code is linear."""
    dae = DenoisingAutoencoder({}, hidden="sigmoid")
    dae.reset_parameters(0)
    first = dae.layers[0].weight  # 1000 x 784
    nonzero = (first != 0).float().mean().item()
    assert nonzero == pytest.approx(15 / 1000, rel=0.05)
    assert first[first != 0].std().item() == pytest.approx(1.0, rel=0.05)
    hidden = []
    dae.layers[0].register_forward_hook(lambda m, i, o: hidden.append(torch.sigmoid(o)))
    code = []
    dae.layers[3].register_forward_hook(lambda m, i, o: code.append(o))
    out = dae.eval()(torch.rand(4, 1, 28, 28))
    assert out.shape == (4, 1, 28, 28) and (out >= 0).all() and (out <= 1).all()
    assert (code[0] < 0).any()  # linear code, not squashed
    relu = DenoisingAutoencoder({}, hidden="relu")
    relu.reset_parameters(0)
    assert (relu.layers[0].weight != 0).float().mean().item() > 0.99  # Glorot: dense


def test_linspace_sampling_includes_the_ends_and_cell_centres_do_not():
    variance = 7.0
    for sampling, outer in (("cell_centres", 2.0), ("linspace", 3.0)):
        kernel = gaussian_kernel(3, variance, sampling=sampling).double()
        # the ratio of an edge sample to the centre gives the edge's distance from the centre
        ratio = kernel[1, 0] / kernel[1, 1]
        assert ratio.item() == pytest.approx(math.exp(-(outer**2) / (2 * variance)), rel=1e-5), sampling
        assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ConfigError, match="unknown kernel sampling 'edges'"):
        gaussian_kernel(3, 1.0, sampling="edges")


def test_a_low_pass_method_builds_its_kernel_with_the_configured_sampling():
    from mnistrobust.nets.methods import build_preprocess

    lowpass = {"filters": [{"size": 5, "variance": 1.3}], "noise_sigma": 0.0, "noise_seed": 0, "sampling": "linspace"}
    built = build_preprocess("lowpass5", lowpass)
    assert torch.equal(built.kernel[0, 0], gaussian_kernel(5, 1.3, sampling="linspace"))
    assert not torch.equal(built.kernel[0, 0], gaussian_kernel(5, 1.3))
