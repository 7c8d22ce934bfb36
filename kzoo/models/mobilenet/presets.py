"""Pretrained MobileNet files: keras.applications' URLs, one file per width and input size.

keras.applications trained MobileNet V1 and V2 at several widths (`alpha`)
and square input sizes, so the file a model loads is a function of both:
`SizedWeights.at(alpha, rows)` gives the `PretrainedWeights` that
`kzoo.models.weights` fetches. keras.applications checks no hash for these
files (`keras.utils.get_file(..., file_hash=None)`), and neither does kzoo.
MobileNetV3's files are one per width and variant (`minimalistic`) at
224×224, each with the MD5 hash keras.applications checks: `VariantWeights`.
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
        rows = fitting_size(input_shape, sizes=self.sizes, default_size=self.default_size,
                            include_top=include_top, model_name=model_name, tag=tag)
        return {tag: self.at(alpha, rows)}


@dataclasses.dataclass(frozen=True)
class VariantWeights:
    """MobileNetV3's pretrained files: one per width `alpha` and `minimalistic`, with MD5 hashes.

    keras.applications trained MobileNetV3 at 224×224 only, at two widths
    (one for the minimalistic variant), and checks each file's hash.

    Attributes:
        url: the file's URL with `{variant}` (keras.applications' model name,
            e.g. `"small_minimalistic_224_1.0_float"`) and `{top}` (`""`, or
            `"_no_top_v2"` for the file without the classifier) to fill in.
        model_type: `"small"` or `"large"`, the first word of `variant`.
        hashes: each variant that has files -> (MD5 of the file with the top,
            MD5 of the file without), keras.applications' `WEIGHTS_HASHES`.
        size: the input size (height = width) the files were trained at.
        classes: the classifier width of the files with the top.
    """

    url: str
    model_type: str
    hashes: dict
    size: int = 224
    classes: int = 1000

    def variant(self, alpha, minimalistic):
        """keras.applications' name of the file of width `alpha`, e.g. `"large_224_0.75_float"`."""
        kind = "_minimalistic" if minimalistic else ""
        return f"{self.model_type}{kind}_{self.size}_{float(alpha)}_float"

    def at(self, alpha, minimalistic):
        """The `PretrainedWeights` of width `alpha` and the `minimalistic` variant."""
        variant = self.variant(alpha, minimalistic)
        top_hash, notop_hash = self.hashes[variant]
        return PretrainedWeights(
            top_url=self.url.format(variant=variant, top=""),
            top_hash=top_hash,
            notop_url=self.url.format(variant=variant, top="_no_top_v2"),
            notop_hash=notop_hash,
            classes=self.classes,
        )

    def select(self, *, alpha, minimalistic, input_shape, include_top, model_name,
               tag="imagenet"):
        """The file a model of width `alpha`, `minimalistic` and `input_shape` loads.

        A width without a file is a `ValueError`; the input size is checked
        as `SizedWeights.select` checks it (`fitting_size`).

        Returns:
            `{tag: PretrainedWeights}`, the presets `kzoo.models.weights.load_weights` takes.
        """
        if self.variant(alpha, minimalistic) not in self.hashes:
            kind = self.variant(0, minimalistic).rsplit("_", 2)[0]  # e.g. "small_224"
            alphas = sorted(float(v.rsplit("_", 2)[1]) for v in self.hashes
                            if v.rsplit("_", 2)[0] == kind)
            raise ValueError(
                f"Argument `alpha`: {model_name!r} has {tag!r} weights for alpha in {alphas} "
                f"only with minimalistic={minimalistic}. Received: alpha={alpha!r}"
            )
        fitting_size(input_shape, sizes=(self.size,), default_size=self.size,
                     include_top=include_top, model_name=model_name, tag=tag)
        return {tag: self.at(alpha, minimalistic)}


def fitting_size(input_shape, *, sizes, default_size, include_top, model_name, tag):
    """The input size whose file a model of `input_shape` loads (keras.applications' pick).

    A square input of one of `sizes` loads its own file. Any other input is a
    `ValueError` with the classifier (whose file was trained at its size)
    and, without it, loads the `default_size` file with a warning (its
    convolutions fit any size).
    """
    rows, cols = input_shape[0], input_shape[1]
    if rows == cols and rows in sizes:
        return rows
    if include_top:
        raise ValueError(
            f"Argument `input_shape`: with weights={tag!r} and include_top=True, the "
            f"input of {model_name!r} must be square with a size in {list(sizes)} "
            f"(the sizes its classifiers were trained at). Received: "
            f"input_shape={tuple(input_shape)}"
        )
    warnings.warn(
        f"The input of {model_name!r} ({rows}x{cols}) is not square or not one of the "
        f"sizes {list(sizes)} with {tag!r} weights; the weights for "
        f"{default_size}x{default_size} are loaded.",
        stacklevel=4,
    )
    return default_size


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
    "mobilenet_v3_small": {
        "imagenet": VariantWeights(
            url=f"{BASE_URL}mobilenet_v3/weights_mobilenet_v3_{{variant}}{{top}}.h5",
            model_type="small",
            hashes={
                "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7",
                                         "ebdb5cc8e0b497cd13a7c275d475c819"),
                "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862",
                                        "d3e8ec802a04aa4fc771ee12a9a9b836"),
                "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37",
                                                     "cde8136e733e811080d9fcd8a252f7e4"),
            },
        )
    },
    "mobilenet_v3_large": {
        "imagenet": VariantWeights(
            url=f"{BASE_URL}mobilenet_v3/weights_mobilenet_v3_{{variant}}{{top}}.h5",
            model_type="large",
            hashes={
                "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb",
                                         "40af19a13ebea4e2ee0c676887f69a2e"),
                "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7",
                                        "07fb09a5933dd0c8eaafa16978110389"),
                "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c",
                                                     "ec5221f64a2f6d1ef965a614bdae7973"),
            },
        )
    },
}
