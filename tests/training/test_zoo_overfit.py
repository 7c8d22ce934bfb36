"""`overfit_check_model` and the image adaptation it relies on."""

import numpy as np
import pytest

import kzoo
from kzoo.training.zoo_overfit import fit_images_to_input
from kzoo.training.zoo_overfit import overfit_check_model


def test_fit_images_to_input():
    images = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    assert fit_images_to_input(images, (64,)).shape == (3, 64)
    assert fit_images_to_input(images, (784,)).shape == (3, 784)
    assert fit_images_to_input(images, (28, 28, 1), min_input_size=16).shape == (3, 28, 28, 1)
    assert fit_images_to_input(images, (32, 32, 3), min_input_size=8).shape == (3, 8, 8, 3)
    with pytest.raises(ValueError, match="Received: input_shape"):
        fit_images_to_input(images, (50,))
    with pytest.raises(ValueError, match="Received: input_shape"):
        fit_images_to_input(np.zeros((2, 8, 8, 3)), (8, 8, 1))


def test_lenet_overfits_digits():
    result = overfit_check_model("lenet", dataset="digits", n=20, seed=0)
    assert result.reached_100 and result.loss_ratio < 0.5
    assert result.epochs_to_half_loss is not None


def test_unknown_model():
    with pytest.raises(ValueError, match="Received: name="):
        overfit_check_model("no_such_model")


def test_a_model_that_cannot_learn_is_reported():
    # With a learning rate of 0 the weights never move: the random initial network labels
    # 20 examples of 10 classes, so it cannot be 100% right and its loss cannot halve.
    result = overfit_check_model("mlp", dataset="digits", n=20, epochs=5, seed=0,
                                 optimizer="sgd", learning_rate=0.0)
    assert not result.reached_100
    assert result.epochs_to_half_loss is None
    assert kzoo.training.overfit_check_model is overfit_check_model
