"""`overfit_check_model`: the overfit sanity check for a registered zoo model, by name."""

import math
from typing import Optional

import numpy as np

from kzoo.training.overfit_check import OverfitResult
from kzoo.training.overfit_check import make_optimizer
from kzoo.training.overfit_check import overfit_check

__all__ = ["overfit_check_model", "fit_images_to_input"]


def fit_images_to_input(
    images: np.ndarray, input_shape: tuple, min_input_size: int = 1
) -> np.ndarray:
    """Adapts a batch of images `(N, H, W, C)` to a model's input shape.

    - A flat input `(D,)` gets the images flattened, resized first to the
      square side `sqrt(D / C)` when `H * W * C != D`.
    - An image input `(H0, W0, C0)`: grayscale is repeated when `C0 == 3`;
      images smaller than `min_input_size` are resized (bilinear) to
      `(H0, W0)`, larger ones are kept at their own size.

    Args:
        images: float array `(N, H, W, C)`.
        input_shape: the model's default input shape (batch axis excluded);
            `None` entries are free.
        min_input_size: the smallest spatial size the model accepts.

    Returns:
        The adapted float32 array.

    Raises:
        ValueError: when the images cannot be adapted.

    Examples:
        >>> kzoo.training.fit_images_to_input(np.zeros((5, 8, 8, 1)), (784,)).shape
        (5, 784)
    """
    import keras

    images = np.asarray(images, dtype="float32")
    n, h, w, c = images.shape
    input_shape = tuple(input_shape)
    if len(input_shape) == 1:
        (d,) = input_shape
        if d is None or h * w * c == d:
            return images.reshape(n, -1)
        side = math.isqrt(d // c) if d % c == 0 else 0
        if side * side * c != d:
            raise ValueError(
                f"Cannot reshape images of shape {(h, w, c)} to the flat input {input_shape}. "
                f"Received: input_shape={input_shape}"
            )
        resized = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (side, side)))
        return resized.reshape(n, -1)
    if len(input_shape) != 3:
        raise ValueError(
            f"Expected a flat or an image input shape. Received: input_shape={input_shape}"
        )
    h0, w0, c0 = input_shape
    if c0 is not None and c0 != c:
        if c == 1:
            images = np.repeat(images, c0, axis=-1)
        else:
            raise ValueError(
                f"Cannot feed {c}-channel images to a model expecting {c0} channels. "
                f"Received: input_shape={input_shape}"
            )
    if min(h, w) < min_input_size:
        if h0 is None or w0 is None:
            h0 = w0 = min_input_size
        images = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (h0, w0)))
    return images


def overfit_check_model(
    name: str,
    *,
    dataset: str = "digits",
    n: int = 20,
    epochs: int = 200,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    seed: Optional[int] = 0,
    model_kwargs: Optional[dict] = None,
    stop_at_100: bool = True,
    verbose: int = 0,
) -> OverfitResult:
    """Builds zoo model `name` and runs `kzoo.training.overfit_check` on `dataset`.

    The first `n` training images, scaled to [0, 1], are adapted to the
    model's input (`fit_images_to_input`: flattened for an MLP, resized up to
    the model's default size when smaller than its minimum, grayscale
    repeated for an RGB model), and the model is built for that shape with
    the dataset's number of classes.

    Args:
        name: a registered model (`kzoo.list_models()`).
        dataset: a `kzoo.data` dataset name, e.g. `"digits"` (offline, in
            scikit-learn) or `"fashion_mnist"`.
        n: number of examples to overfit. Defaults to 20.
        epochs: maximum number of epochs. Defaults to 200.
        optimizer: a `kzoo.optimizers.get` name. Defaults to `"adam"`.
        learning_rate: defaults to `1e-3`.
        seed: when not `None`, `keras.utils.set_random_seed(seed)` is called
            before the model is built, which makes the run repeatable (it sets
            the global Python, NumPy and backend seeds).
        model_kwargs: extra keyword arguments for the model builder.
        stop_at_100: stop as soon as an epoch reaches 100% training accuracy.
        verbose: Keras `fit` verbosity.

    Returns:
        An `OverfitResult`.

    Examples:
        >>> result = kzoo.training.overfit_check_model("lenet", dataset="digits", n=20)
        >>> print(result.summary())
    """
    import keras

    from kzoo.data import info
    from kzoo.data import load_arrays
    from kzoo.data.catalog import get_spec
    from kzoo.models.registry import create_model
    from kzoo.models.registry import get_entry

    entry = get_entry(name)
    get_spec(dataset)
    make_optimizer(optimizer, learning_rate)  # a bad name or rate fails before any work
    images, labels, _ = load_arrays(dataset, "train")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(images):
        raise ValueError(
            f"Argument `n` must be an integer in [1, {len(images)}]. Received: n={n!r}"
        )
    x = fit_images_to_input(images[:n] / 255.0, entry.default_input_shape, entry.min_input_size)
    y = np.asarray(labels[:n])
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = create_model(
        name, input_shape=x.shape[1:], classes=info(dataset)["num_classes"], **(model_kwargs or {})
    )
    return overfit_check(
        model, x, y, n=n, epochs=epochs, optimizer=optimizer, learning_rate=learning_rate,
        stop_at_100=stop_at_100, verbose=verbose,
    )
