"""Cross-check of our FGSM and PGD against an independent implementation, the Adversarial
Robustness Toolbox (ART, a dev dependency), on the same trained LeNet and the same images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnistrobust.attacks import FGSM, PGD
from mnistrobust.config import PGDSettings
from mnistrobust.data import load_split
from mnistrobust.nets.models import LeNet
from mnistrobust.training.solver import SolverSettings, train

EPS = [0.05, 0.15]
IMAGES = 100


@pytest.fixture(scope="module")
def trained_lenet_and_test_images(mnist_h5_file):
    images, labels = load_split(mnist_h5_file, "train", limit=2000)
    model = LeNet()
    model.reset_parameters(0)
    train(model, images, labels, SolverSettings(iterations=60, log_every=1000), seed=0, log=lambda _: None)
    test_x, test_y = load_split(mnist_h5_file, "test", limit=IMAGES)
    return model.eval().to(memory_format=torch.contiguous_format), test_x, test_y


def _art_classifier(model):
    # ART is imported here, by the one worker that runs this test, not at collection: its
    # first import on a machine writes ~/.art/config.json unlocked, and two pytest-xdist
    # workers collecting at once on a fresh machine raced there (NameError: _config).
    from art.estimators.classification import PyTorchClassifier

    # Our networks return log-probabilities; cross-entropy on them equals our NLL loss.
    return PyTorchClassifier(model=model, loss=torch.nn.NLLLoss(), input_shape=(1, 28, 28), nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")


def _art_fooled(classifier, attack, x, y):
    examples = attack.generate(x.numpy(), y=y.numpy())
    return classifier.predict(examples, batch_size=IMAGES).argmax(1) != y.numpy()


def test_fgsm_and_pgd_errors_agree_with_the_adversarial_robustness_toolbox(trained_lenet_and_test_images):
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

    model, x, y = trained_lenet_and_test_images
    classifier = _art_classifier(model)
    clean_error = (classifier.predict(x.numpy()).argmax(1) != y.numpy()).mean()
    assert clean_error < 0.3  # a model that learned something, so the attacks have work to do

    ours_fgsm = FGSM().outcome(model, model, x, y, EPS).fooled.numpy()
    # PGD without random start and with one restart is deterministic in both implementations.
    settings = PGDSettings(steps=10, restarts=1, random_start=False)
    ours_pgd = PGD(settings).white_box_outcome(model, x, y, EPS).fooled.numpy()
    for k, eps in enumerate(EPS):
        art_fgsm = _art_fooled(classifier, FastGradientMethod(classifier, norm=np.inf, eps=eps, batch_size=IMAGES), x, y)
        pgd = ProjectedGradientDescent(
            classifier, norm=np.inf, eps=eps, eps_step=settings.step_for(eps), max_iter=settings.steps, num_random_init=0, batch_size=IMAGES, verbose=False
        )
        art_pgd = _art_fooled(classifier, pgd, x, y)
        # Per image, at most 1% may differ (float rounding at a decision boundary).
        assert (ours_fgsm[k] != art_fgsm).mean() <= 0.01, f"FGSM eps {eps}"
        # Ours counts an image fooled at any iterate (or at a smaller eps); ART judges the last
        # iterate only, so ours may exceed ART's by the few images PGD fools and then loses.
        assert (art_pgd & ~ours_pgd[k]).mean() <= 0.01, f"PGD eps {eps}: ART fools images ours does not"
        assert abs(ours_pgd[k].mean() - art_pgd.mean()) <= 0.02, f"PGD eps {eps}: {ours_pgd[k].mean()} vs ART {art_pgd.mean()}"
        assert ours_pgd[k].mean() >= ours_fgsm[k].mean() - 0.01
    assert ours_pgd[0].mean() < ours_pgd[-1].mean()  # errors spread over the eps range: a real comparison
