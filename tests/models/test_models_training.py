"""Classic first examples: an MLP learns XOR, LeNet overfits 20 real digit images."""

import keras
import numpy as np

import kzoo


def test_mlp_with_two_tanh_units_learns_xor():
    # A 2-2-1 tanh network has local minima on XOR: measured here, 7 of seeds
    # 0-9 reach 100% within 300 Adam(0.1) steps (3, 5 and 7 stall); seed 0 is
    # one that does, and CPU runs are deterministic.
    keras.utils.set_random_seed(0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
    y = np.array([0, 1, 1, 0])
    model = kzoo.create_model("mlp", hidden_units=(2,), activation="tanh", input_shape=(2,),
                              classes=2)
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # 300 full-batch steps as one epoch (per-epoch overhead dominates otherwise).
    model.fit(np.tile(x, (300, 1)), np.tile(y, 300), batch_size=4, shuffle=False, verbose=0)
    assert (model.predict(x, verbose=0).argmax(-1) == y).all()


def test_lenet_overfits_20_digit_images(digits):
    images = digits[0][:20, :, :, 0]  # (20, 8, 8), real scans in [0, 1]
    # 8×8 → 24×24 by pixel repetition, padded to LeNet's 28×28.
    images = np.pad(np.kron(images, np.ones((3, 3), "float32")), ((0, 0), (2, 2), (2, 2)))
    x, y = images[..., None], digits[1][:20]
    model = kzoo.create_model("lenet")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(np.tile(x, (60, 1, 1, 1)), np.tile(y, 60), batch_size=20, shuffle=False,
              verbose=0)
    assert (model.predict(x, verbose=0).argmax(-1) == y).mean() == 1.0
