"""Batch normalization (Ioffe & Szegedy, 2015), in float32: TensorFlow's fused kernel in
training where it applies, the formula written out everywhere else."""

import keras
import tensorflow as tf
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args


@kzoo_export("kzoo.layers.BatchNorm")
class BatchNorm(keras.layers.Layer):
    """Batch normalization: `gamma · (x − μ) / √(σ² + ε) + beta` per channel.

    In training (`training=True` and the layer trainable), μ and σ² are the
    batch mean and the biased batch variance over every axis but `axis`, and
    the moving statistics move towards them:
    `moving ← momentum · moving + (1 − momentum) · batch`. In inference, and
    whenever the layer is frozen (`trainable=False`, what fine-tuning needs),
    the moving statistics are used and not updated. Statistics are computed in
    float32 whatever the compute dtype, and the output is cast back to it.

    The weights `gamma`, `beta`, `moving_mean`, `moving_variance` are those of
    `keras.layers.BatchNormalization`, in the same order.

    Args:
        axis: int, the channel axis. Defaults to -1.
        momentum: float in [0, 1), the moving-average momentum.
            Defaults to 0.99.
        epsilon: positive float added to the variance. Defaults to 1e-3.
        center: whether to learn the offset `beta`. Defaults to `True`.
        scale: whether to learn the scale `gamma`. Defaults to `True`.
        fused: how training-mode batches are normalized. `None` (the
            default): with TensorFlow's fused kernel (`FusedBatchNormV3`,
            one op forward and one backward) wherever it applies, i.e. 4-D
            channels-last inputs, `epsilon` >= 1.001e-5, float32 statistics
            (a float32 or mixed policy) and statistics not synchronized
            across replicas; elsewhere the formula written out as separate
            ops. `True`: the fused kernel, and a `ValueError` at build time
            where it does not apply. `False`: always the formula. Both give
            the same results to float32 round-off (the kernel's unbiased
            variance is turned back into the biased batch variance); the
            fused kernel trains ResNet-9 on 2 CPU cores 1.1-1.2x faster.
            Inference always uses the formula (what exports fold).
        synchronized: whether, under a `tf.distribute` strategy, the batch
            statistics are all-reduced across replicas, so the layer
            normalizes the global batch as one process would. `None` (the
            default) synchronizes whenever the strategy has more than one
            replica in sync; `False` lets each replica normalize its own
            slice of the batch (cheaper, but training then differs from one
            replica's at the same global batch).
        beta_initializer: initializer of `beta`. Defaults to `"zeros"`.
        gamma_initializer: initializer of `gamma`. Defaults to `"ones"`.
        moving_mean_initializer: initializer of `moving_mean`. Defaults to
            `"zeros"`.
        moving_variance_initializer: initializer of `moving_variance`.
            Defaults to `"ones"`.
        beta_regularizer: optional regularizer of `beta`.
        gamma_regularizer: optional regularizer of `gamma`.
        beta_constraint: optional constraint on `beta`.
        gamma_constraint: optional constraint on `gamma`.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: N-D tensor.
        training: Python bool; batch statistics when `True`.

    Reference:
        Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
        Training by Reducing Internal Covariate Shift", ICML 2015.

    Examples:
        >>> bn = kzoo.layers.BatchNorm(momentum=0.9)
        >>> x = np.random.normal(3.0, 2.0, size=(64, 8)).astype("float32")
        >>> y = bn(x, training=True)  # zero mean, unit variance per channel
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        synchronized=None,
        fused=None,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(f"Argument `axis` must be an int. Received: axis={axis!r}")
        if not isinstance(momentum, (int, float)) or not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"Argument `momentum` must be a number in [0, 1). Received: momentum={momentum!r}"
            )
        if not isinstance(epsilon, (int, float)) or not 0 < epsilon < float("inf"):
            raise ValueError(
                f"Argument `epsilon` must be a positive number. Received: epsilon={epsilon!r}"
            )
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        if synchronized not in (None, True, False):
            raise ValueError(f"Argument `synchronized` must be None (automatic), True or "
                             f"False. Received: synchronized={synchronized!r}")
        self.synchronized = synchronized
        if fused not in (None, True, False):
            raise ValueError(f"Argument `fused` must be None (automatic), True or False. "
                             f"Received: fused={fused!r}")
        self.fused = fused
        for name, getter, value in (
            ("beta_initializer", keras.initializers.get, beta_initializer),
            ("gamma_initializer", keras.initializers.get, gamma_initializer),
            ("moving_mean_initializer", keras.initializers.get, moving_mean_initializer),
            ("moving_variance_initializer", keras.initializers.get, moving_variance_initializer),
            ("beta_regularizer", keras.regularizers.get, beta_regularizer),
            ("gamma_regularizer", keras.regularizers.get, gamma_regularizer),
            ("beta_constraint", keras.constraints.get, beta_constraint),
            ("gamma_constraint", keras.constraints.get, gamma_constraint),
        ):
            setattr(self, name, args.keras_object(getter, value, name, self))
        self.supports_masking = True

    def _channel_axis(self, rank):
        return args.channel_axis(self.axis, rank, self)

    def build(self, input_shape):
        shape = tuple(input_shape)
        axis = self._channel_axis(len(shape))
        if shape[axis] is None:
            raise ValueError(
                f"Layer BatchNorm ({self.name!r}) needs a known size on axis {self.axis}. "
                f"Received: input_shape={shape}"
            )
        channels = (shape[axis],)
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight(
                name="gamma", shape=channels, initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
                autocast=False,
            )
        if self.center:
            self.beta = self.add_weight(
                name="beta", shape=channels, initializer=self.beta_initializer,
                regularizer=self.beta_regularizer, constraint=self.beta_constraint,
                autocast=False,
            )
        # "mean" aggregation: under tf.distribute, unsynchronized replicas
        # update the moving statistics with their average.
        self.moving_mean = self.add_weight(
            name="moving_mean", shape=channels, initializer=self.moving_mean_initializer,
            trainable=False, autocast=False, aggregation="mean",
        )
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=channels,
            initializer=self.moving_variance_initializer,
            trainable=False, autocast=False, aggregation="mean",
        )
        self.input_spec = keras.layers.InputSpec(ndim=len(shape), axes={axis: shape[axis]})
        self._reduction_axes = [a for a in range(len(shape)) if a != axis]
        self._broadcast_shape = [1] * len(shape)
        self._broadcast_shape[axis] = shape[axis]
        self._fusable = self._fused_kernel_applies(shape, axis)
        if self.fused and self._fusable is not True:
            raise ValueError(f"Layer BatchNorm ({self.name!r}) cannot use the fused kernel: "
                             f"{self._fusable}. Pass fused=None to fall back to the formula "
                             f"there. Received: fused=True, input_shape={shape}")
        self.built = True

    #: `tf.compat.v1.nn.fused_batch_norm` raises a smaller epsilon to this silently.
    FUSED_MIN_EPSILON = 1.001e-5

    def _fused_kernel_applies(self, shape, axis):
        """True, or why TensorFlow's fused kernel does not apply."""
        if keras.backend.backend() != "tensorflow":
            return f"the backend is {keras.backend.backend()!r}, not TensorFlow"
        if len(shape) != 4 or axis != 3:
            return "it takes 4-D channels-last inputs only"
        if self.variable_dtype != "float32":
            return f"it computes in float32 only (this layer's dtype: {self.variable_dtype})"
        if self.epsilon < self.FUSED_MIN_EPSILON:
            return f"its epsilon is at least {self.FUSED_MIN_EPSILON} (this layer's: {self.epsilon})"
        if self.synchronized:
            return "it cannot all-reduce statistics across replicas (synchronized=True)"
        return True

    def call(self, inputs, training=None):
        # Statistics in the variable dtype: float32 under mixed policies.
        x = ops.cast(inputs, self.variable_dtype)
        if (training and self.trainable and self.fused is not False
                and self._fusable is True and not self._synchronize()):
            return ops.cast(self._fused_training_call(x), self.compute_dtype)
        if training and self.trainable:
            # Biased variance, as in the paper; all-reduced across replicas when
            # synchronized (Keras's moments does the cross-replica sums).
            mean, variance = ops.moments(
                x, axes=self._reduction_axes, synchronized=self._synchronize()
            )
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        # γ(x − μ)/√(σ² + ε) + β as x·a + b with per-channel a, b: two passes over x
        # (as tf.nn.batch_normalization does) instead of three.
        inv = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            inv = inv * self.gamma
        shift = -mean * inv
        if self.center:
            shift = shift + self.beta
        outputs = x * ops.reshape(inv, self._broadcast_shape) + ops.reshape(
            shift, self._broadcast_shape)
        return ops.cast(outputs, self.compute_dtype)

    def _fused_training_call(self, x):
        """`FusedBatchNormV3` on a training batch, and the moving statistics' update."""
        channels = x.shape[-1]
        gamma = self.gamma if self.scale else tf.ones((channels,), x.dtype)
        beta = self.beta if self.center else tf.zeros((channels,), x.dtype)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta), epsilon=self.epsilon,
            data_format="NHWC", is_training=True)
        # The kernel returns the unbiased (Bessel-corrected) variance; the moving
        # variance follows the biased one, as the paper's formula (and `call`) does.
        count = tf.cast(tf.size(x, out_type=tf.int64) // channels, x.dtype)
        variance = variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        return outputs

    def _synchronize(self):
        if self.synchronized is not None:
            return self.synchronized
        # Automatic: one global batch whenever several replicas share the step.
        context = tf.distribute.get_replica_context()
        return context is not None and context.num_replicas_in_sync > 1

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        serialize = keras.initializers.serialize
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "synchronized": self.synchronized,
            "fused": self.fused,
            "beta_initializer": serialize(self.beta_initializer),
            "gamma_initializer": serialize(self.gamma_initializer),
            "moving_mean_initializer": serialize(self.moving_mean_initializer),
            "moving_variance_initializer": serialize(self.moving_variance_initializer),
            "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": keras.constraints.serialize(self.beta_constraint),
            "gamma_constraint": keras.constraints.serialize(self.gamma_constraint),
        }


def set_batch_norm_impl(model, impl, replicas=1):
    """Sets every kzoo BatchNorm of `model` to `impl`: `"fused"` (TensorFlow's fused kernel
    in training wherever it applies: `fused=None`) or `"formula"` (`fused=False`). Takes
    effect at the next trace of the train step. Returns `(layers, layers fused)` for a
    step of `replicas` replicas in sync (several synchronize their statistics by default,
    which the fused kernel cannot)."""
    if impl not in BATCH_NORM_IMPLEMENTATIONS:
        raise ValueError(f"Argument `batch_norm_impl` must be one of "
                         f"{list(BATCH_NORM_IMPLEMENTATIONS)}. Received: batch_norm_impl={impl!r}")
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, BatchNorm)]
    for layer in norms:
        layer.fused = None if impl == "fused" else False
    fused = sum(1 for layer in norms if layer.fused is not False and layer.built
                and layer._fusable is True
                and (replicas == 1 or layer.synchronized is False))
    return len(norms), fused


#: `kzoo train --batch-norm-impl`'s choices.
BATCH_NORM_IMPLEMENTATIONS = ("fused", "formula")
