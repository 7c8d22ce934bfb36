"""A short end-to-end run of a network made of kzoo layers on real data.

Trains a small LeNet-style network (kzoo `Conv2D` on the Im2Col path,
`MaxPool2D`, `BatchNorm`, `Maxout`, `Affine`) on scikit-learn's 8×8 digits
(1,797 real images shipped inside the scikit-learn wheel, so it runs offline,
read through `kzoo.data`),
then reports the test accuracy and checks that the model survives a `.keras`
round trip.
"""

import os
import tempfile

import keras
import numpy as np

from kzoo import layers
from kzoo.data import sources


def build_demo_model(implementation="im2col"):
    """A small CNN of kzoo layers for 8×8×1 inputs (scaled to [0, 1]) and 10 classes."""
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(32, 3, padding="same", implementation=implementation)(inputs)
    x = layers.BatchNorm()(x)
    x = keras.layers.Activation("relu")(x)
    x = layers.MaxPool2D(2, implementation=implementation)(x)  # (4, 4, 32)
    x = layers.Conv2D(64, 3, padding="same", implementation=implementation)(x)
    x = layers.Maxout(32)(x)  # (4, 4, 32)
    x = keras.layers.Flatten()(x)
    x = layers.Affine(128, activation="relu")(x)
    outputs = layers.Affine(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="kzoo_demo_cnn")


def run_demo(epochs=2, seed=0):
    keras.utils.set_random_seed(seed)
    # kzoo.data's fixed split of the digits (1,438 train, 359 test), pixels 0-255.
    x_train, y_train, _ = sources.load_arrays("digits", "train")
    x_test, y_test, _ = sources.load_arrays("digits", "test")
    x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0
    model = build_demo_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"kzoo demo: {model.count_params():,} parameters, {len(x_train)} training and "
          f"{len(x_test)} test images of scikit-learn's 8x8 digits")
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=2,
              validation_split=0.1)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "demo.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path)  # no custom_objects: kzoo registers its layers
        same = np.allclose(reloaded.predict(x_test[:32], verbose=0),
                           model.predict(x_test[:32], verbose=0), atol=1e-5)
    print(f"test accuracy {accuracy:.4f}; .keras round trip {'identical' if same else 'DIFFERS'}")
    return accuracy
