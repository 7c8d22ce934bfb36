"""`kzoo.data.images.read_image`: decoding, resizing and channel conversion."""

import numpy as np
import pytest

from kzoo.data.images import read_image


def test_read_image_resizes_and_converts_like_the_luma_formula(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    path = str(tmp_path / "x.png")
    Image.fromarray(rgb).save(path)
    pixels, original = read_image(path, (6, 10), 1, return_original=True)
    assert original == (6, 10, "RGB") and pixels.shape == (6, 10, 1)
    luma = rgb @ np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, what PIL's "L" uses
    np.testing.assert_allclose(pixels[..., 0], luma, atol=1.0)
    assert read_image(path, (3, 5), 3).shape == (3, 5, 3)
    assert read_image(path, (None, None), 3).shape == (6, 10, 3)  # free input size
    with pytest.raises(ValueError, match="channels=4"):
        read_image(path, (6, 10), 4)
