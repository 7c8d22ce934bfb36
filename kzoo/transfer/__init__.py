"""Transfer learning (`kzoo.transfer`): new heads on pretrained bases, freezing, fine-tuning.

- `load_base(source, weights=None)`: a base from a zoo checkpoint name, a
  model name and weights, a `.keras` file or a `kzoo train` run directory.
- `classifier(base, classes, ...)`: one flat model reusing the base's layers
  (cut at its last feature map) under a new head `pooler` → `hidden` →
  `output_dropout` → `predictions`; optional resizing and grey ↔ RGB in front.
- `freeze(model, until=None)`: the boundary between frozen and trainable
  layers; BatchNorm stays frozen (inference mode) unless `train_bn=True`.
- `fine_tune(model, train_data, ...)`: `"linear"`, `"head"`, `"full"` or
  `"auto"` training, with per-layer learning rates through
  `LayerwiseOptimizer`.
- `finetune(FinetuneConfig(base, dataset, ...), output_dir)`: `kzoo finetune`,
  a resumable run directory as `kzoo train` writes, with the base's lineage.
- `class_activation_map(model, images)`: CAM for a global-average-pooling +
  one-Dense head, Grad-CAM for any other convolutional model.

Examples:
    >>> base, info = kzoo.transfer.load_base("lenet_fashion_mnist")
    >>> model = kzoo.transfer.classifier(base, 10, input_shape=(8, 8, 1))
    >>> images, labels, _ = kzoo.data.load_arrays("digits", "train")
    >>> history = kzoo.transfer.fine_tune(model, (images, labels), mode="auto")
"""

from kzoo.transfer.bases import load_base
from kzoo.transfer.cam import cam_method, class_activation_map
from kzoo.transfer.channels import ConvertChannels
from kzoo.transfer.fine_tune import choose_mode, fine_tune
from kzoo.transfer.freezing import freeze, is_batch_norm
from kzoo.transfer.heads import classifier, feature_tensor
from kzoo.transfer.optimizer import LayerwiseOptimizer, ScaledSchedule
from kzoo.transfer.run import FinetuneConfig, finetune

__all__ = [
    "ConvertChannels",
    "FinetuneConfig",
    "LayerwiseOptimizer",
    "ScaledSchedule",
    "cam_method",
    "class_activation_map",
    "choose_mode",
    "classifier",
    "feature_tensor",
    "fine_tune",
    "finetune",
    "freeze",
    "is_batch_norm",
    "load_base",
]
