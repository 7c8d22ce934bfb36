"""Image files as model input: decoding, resizing and channel conversion in one place.

`read_image` (Pillow, for `kzoo predict`) and `decode_image` (TensorFlow ops,
in-graph, for the serving signature `predict_images`).
"""

import os

import numpy as np
import tensorflow as tf


def read_image(path, size, channels, return_original=False, *, argument="path"):
    """A PNG/JPEG file as raw pixels (H, W, C) float32 0–255, resized and converted.

    Args:
        path: the image file.
        size: `(height, width)` to resize to; `None` entries keep the image's own.
        channels: 1 (converted to grayscale) or 3 (converted to RGB).
        return_original: also return the file's own `(height, width, mode)`,
            e.g. `(480, 640, "RGB")`, so a caller can say what was converted.
        argument: the caller's name for `path`, used in messages (the CLI's
            `IMAGES`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable or corrupt image, or an unsupported channel count.
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"Argument `{argument}` must be the path of an image file. "
                         f"Received: {argument}={path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Argument `{argument}`: No image file at {path!r}. "
                                f"Received: {argument}={os.fspath(path)!r}")
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(
            s is None or (isinstance(s, int) and not isinstance(s, bool) and s > 0)
            for s in size)):
        raise ValueError(f"Argument `size` must be (height, width), positive ints or None. "
                         f"Received: size={size!r}")
    if channels not in (1, 3):
        raise ValueError(f"Argument `channels` must be 1 or 3: images can be fed to 1- or "
                         f"3-channel models. Received: channels={channels}")
    try:
        with Image.open(path) as image:
            original = (image.height, image.width, image.mode)
            height, width = (s or own for s, own in zip(size, original))
            image = image.convert("L" if channels == 1 else "RGB")
            if (height, width) != original[:2]:
                image = image.resize((width, height), Image.BILINEAR)
            pixels = np.asarray(image, dtype="float32").reshape(height, width, channels)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"Argument `{argument}`: cannot read image {path!r} (unreadable or "
                         f"corrupt: {e}). Received: {argument}={os.fspath(path)!r}") from None
    return (pixels, original) if return_original else pixels


def decode_image(image_bytes, shape):
    """One encoded PNG/JPEG/GIF/BMP file (a scalar tf.string) → float32 pixels `shape`.

    In-graph (TensorFlow ops only): `tf.io.decode_image(expand_animations=False)`
    (the first frame of a GIF), an alpha channel dropped, converted to the
    model's channels with `tf.image.rgb_to_grayscale` / `grayscale_to_rgb`,
    then `tf.image.resize` (bilinear, no antialiasing) to `(height, width)`.

    Raises:
        ValueError: called eagerly on bytes that are no image of these formats (in a
            graph, TensorFlow's error is raised when the graph runs).
    """
    height, width, channels = shape
    if tf.executing_eagerly():
        try:
            image = tf.io.decode_image(image_bytes, channels=0, expand_animations=False)
        except tf.errors.InvalidArgumentError as e:
            head = bytes(tf.convert_to_tensor(image_bytes).numpy()[:16])
            raise ValueError(f"Argument `image_bytes` must be an encoded PNG, JPEG, GIF or BMP "
                             f"file ({e.message.splitlines()[0]}). Received: "
                             f"image_bytes={head!r}...") from None
    else:
        image = tf.io.decode_image(image_bytes, channels=0, expand_animations=False)
    image = tf.cast(image, tf.float32)
    own = tf.shape(image)[-1]
    # Gray+alpha (2) or RGBA (4): drop the alpha channel.
    image = tf.cond(tf.logical_or(tf.equal(own, 2), tf.equal(own, 4)),
                    lambda: image[..., :-1], lambda: image)
    own = tf.shape(image)[-1]
    if channels == 1:
        image = tf.cond(tf.equal(own, 3),
                        lambda: tf.image.rgb_to_grayscale(tf.ensure_shape(image, (None, None, 3))),
                        lambda: tf.ensure_shape(image, (None, None, 1)))
    else:
        image = tf.cond(tf.equal(own, 1),
                        lambda: tf.image.grayscale_to_rgb(
                            tf.ensure_shape(image, (None, None, 1))),
                        lambda: tf.ensure_shape(image, (None, None, 3)))
    image = tf.image.resize(image, (height, width), method="bilinear")
    return tf.ensure_shape(image, (height, width, channels))
