"""Pretrained MobileNet files: keras.applications' URLs, one file per width and input size.

keras.applications trained MobileNet V1 and V2 at several widths (`alpha`)
and square input sizes, so the file a model loads is a function of both:
`SizedWeights.at(alpha, rows)` gives the `PretrainedWeights` that
`kzoo.models.weights` fetches. keras.applications checks no hash for these
files (`keras.utils.get_file(..., file_hash=None)`), and neither does kzoo.
"""

import dataclasses
import warnings

from kzoo.models.weights import PretrainedWeights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclasses.dataclass(frozen=True)
class SizedWeights:
    """A set of pretrained files, one per width `alpha` and square input size.

    Attributes:
        url: the file's URL with `{alpha}`, `{rows}` and `{top}` (`""`, or
            `"_no_top"` for the file without the classifier) to fill in.
        alpha_names: each width that has files -> its spelling in `url`.
        sizes: the input sizes (height = width) that have files.
        default_size: the size whose file a model of another size loads
            without its top.
        classes: the classifier width of the files with the top.
    """

    url: str
    alpha_names: dict
    sizes: tuple
    default_size: int = 224
    classes: int = 1000

    def at(self, alpha, rows):
        """The `PretrainedWeights` of width `alpha` at input size `rows`."""
        name = self.alpha_names[alpha]
        return PretrainedWeights(
            top_url=self.url.format(alpha=name, rows=rows, top=""),
            top_hash=None,
            notop_url=self.url.format(alpha=name, rows=rows, top="_no_top"),
            notop_hash=None,
            classes=self.classes,
        )

    def select(self, *, alpha, input_shape, include_top, model_name, tag="imagenet"):
        """The file a model of width `alpha` and `input_shape` loads (keras.applications' pick).

        A width without files is a `ValueError`. An input that is not square
        or not one of `sizes` is a `ValueError` with the classifier (whose
        file was trained at its size) and, without it, loads the
        `default_size` file with a warning (its convolutions fit any size).

        Returns:
            `{tag: PretrainedWeights}`, the presets `kzoo.models.weights.load_weights` takes.
        """
        if alpha not in self.alpha_names:
            raise ValueError(
                f"Argument `alpha`: {model_name!r} has {tag!r} weights for alpha in "
                f"{sorted(self.alpha_names)} only. Received: alpha={alpha!r}"
            )
        rows, cols = input_shape[0], input_shape[1]
        if rows != cols or rows not in self.sizes:
            if include_top:
                raise ValueError(
                    f"Argument `input_shape`: with weights={tag!r} and include_top=True, the "
                    f"input of {model_name!r} must be square with a size in {list(self.sizes)} "
                    f"(the sizes its classifiers were trained at). Received: "
                    f"input_shape={tuple(input_shape)}"
                )
            warnings.warn(
                f"The input of {model_name!r} ({rows}x{cols}) is not square or not one of the "
                f"sizes {list(self.sizes)} with {tag!r} weights; the weights for "
                f"{self.default_size}x{self.default_size} are loaded.",
                stacklevel=3,
            )
            rows = self.default_size
        return {tag: self.at(alpha, rows)}


#: model name -> {weights name -> SizedWeights}
PRESETS = {
    "mobilenet": {
        "imagenet": SizedWeights(
            url=f"{BASE_URL}mobilenet/mobilenet_{{alpha}}_{{rows}}_tf{{top}}.h5",
            alpha_names={0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"},
            sizes=(128, 160, 192, 224),
        )
    },
    "mobilenet_v2": {
        "imagenet": SizedWeights(
            url=(f"{BASE_URL}mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
                 "{alpha}_{rows}{top}.h5"),
            alpha_names={a: str(float(a)) for a in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)},
            sizes=(96, 128, 160, 192, 224),
        )
    },
}
