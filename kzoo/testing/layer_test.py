"""`run_layer_test`: one call that checks a Keras layer end to end.

Each check is a small function; `run_layer_test` runs them in order and raises
`AssertionError` with a message that names the check that failed. It works for
any Keras 3 layer on the TensorFlow backend (kzoo's or your own) that takes one
float tensor and returns one tensor.
"""

import inspect
import json
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from numpy import testing as npt

from kzoo.distribute import strategies

#: The mixed-precision policies checked, with the tolerance (relative to the
#: float32 output's largest magnitude) of their outputs against float32.
MIXED_POLICIES = {"mixed_float16": 1e-2, "mixed_bfloat16": 5e-2}

#: At most this many entries of each tensor get a finite-difference check.
MAX_GRADIENT_ENTRIES = 128


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape=None,
    *,
    expected_output_shape=None,
    input_data=None,
    supports_training_arg=False,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    check_training=True,
    check_saving=True,
    check_gradients=True,
    check_mixed_precision=True,
    check_distribution=False,
    gradient_tolerance=1e-6,
    seed=0,
):
    """Checks a layer: config, shapes, models, training, saving, precision, gradients.

    In one call, and always on fresh instances of `layer_cls(**init_kwargs)`:

    1. config: `get_config` has the base keys (`name`, `dtype`, `trainable`),
       survives `from_config` and a JSON round trip through
       `keras.saving.serialize_keras_object` (no `custom_objects`);
    2. build and call: weight counts, `compute_output_shape` equals the eager
       output shape, the symbolic (`keras.Input`) shape and the static shape of
       a `tf.function` trace with an unknown batch size;
    3. the layer gives the same output alone, inside `tf.function`, inside a
       `keras.Sequential`, a functional `keras.Model` and a subclassed
       `keras.Model`;
    4. training (if it has trainable weights): one `fit` step with SGD and MSE
       changes every trainable weight and keeps outputs finite;
    5. saving: a `.keras` file of a model holding the layer reloads with
       `keras.saving.load_model(path)` (no `custom_objects`) to the same
       outputs;
    6. mixed precision: with `dtype=Policy("mixed_float16")` and
       `Policy("mixed_bfloat16")`, float variables stay float32 and outputs are
       finite, in the compute dtype and close to the float32 outputs;
    7. gradients: in float64, the tape gradient of `sum(output * r)` (random
       `r`) with respect to the input and every trainable weight equals central
       finite differences;
    8. distribution (`check_distribution=True`): under a 2-replica
       `tf.distribute.MirroredStrategy` on the first two logical CPU devices,
       `strategy.run` equals the plain call and one `fit` step keeps the
       replicas' weights equal.

    Outputs are compared in inference mode (`training=False` when the layer
    takes a `training` argument), so layers that use batch statistics while
    training compare cleanly; their gradient check runs in training mode.
    Layers that are random in training mode should pass `check_gradients=False`.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments, without `dtype`.
        input_shape: the input shape with a batch size, e.g. `(2, 5, 5, 3)`.
            Optional when `input_data` is given. Keep it small: every entry
            (up to `MAX_GRADIENT_ENTRIES` per tensor) costs two calls in the
            gradient check. A batch size of 2 or more (even) is needed for
            `check_distribution`.
        expected_output_shape: optional full output shape to check.
        input_data: optional float array; defaults to standard normal values.
        supports_training_arg: whether `call` takes `training`.
        expected_num_trainable_weights: optional count to check.
        expected_num_non_trainable_weights: optional count to check.
        check_training: run the `fit` step (only if the layer has trainable
            weights).
        check_saving: run the `.keras` save and load round trip.
        check_gradients: run the float64 finite-difference check.
        check_mixed_precision: run the mixed float16 and bfloat16 checks.
        check_distribution: run the `MirroredStrategy` check. The process
            needs two logical CPU devices, configured before TensorFlow
            initializes (see `tests/conftest.py`).
        gradient_tolerance: absolute and relative tolerance of the gradient
            check (float64, step 1e-5).
        seed: seed of the generated input, targets and gradient projection.

    Raises:
        AssertionError: naming the check that failed.

    Examples:
        >>> from kzoo.testing import run_layer_test
        >>> run_layer_test(kzoo.layers.Conv2D, {"filters": 3, "kernel_size": 3},
        ...                (2, 5, 5, 2), expected_output_shape=(2, 3, 3, 3))
    """
    rng = np.random.default_rng(seed)
    if input_data is None:
        if input_shape is None:
            raise ValueError("Pass `input_shape` or `input_data`. Received neither.")
        input_data = rng.standard_normal(input_shape)
    input_data = np.asarray(input_data, dtype="float32")
    call_kwargs = {"training": False} if supports_training_arg else {}

    _check_training_arg(layer_cls, supports_training_arg)
    _check_config(layer_cls, init_kwargs)
    layer, output = _check_build_and_shapes(
        layer_cls, init_kwargs, input_data, call_kwargs, expected_output_shape,
        expected_num_trainable_weights, expected_num_non_trainable_weights,
    )
    _check_in_models(layer_cls, layer, input_data, output, call_kwargs, supports_training_arg)
    if check_training and layer.trainable_weights:
        _check_training_step(layer_cls, init_kwargs, input_data, output.shape, rng)
    if check_saving:
        _check_saving(layer_cls, layer, input_data, output)
    if check_mixed_precision:
        _check_mixed_precision(layer_cls, init_kwargs, layer, input_data, output, call_kwargs)
    if check_gradients:
        training_kwargs = {"training": True} if supports_training_arg else {}
        _check_gradients(layer_cls, init_kwargs, input_data, training_kwargs, rng,
                         gradient_tolerance)
    if check_distribution:
        _check_distribution(layer_cls, init_kwargs, input_data, call_kwargs, rng)


def _fail(layer_cls, check, message):
    return f"{layer_cls.__name__}, {check}: {message}"


def _new_layer(layer_cls, init_kwargs, **overrides):
    return layer_cls(**{**init_kwargs, **overrides})


def _check_training_arg(layer_cls, supports_training_arg):
    takes_training = "training" in inspect.signature(layer_cls.call).parameters
    assert takes_training == supports_training_arg, _fail(
        layer_cls, "call signature",
        f"`call` {'takes' if takes_training else 'does not take'} a `training` argument "
        f"but supports_training_arg={supports_training_arg}",
    )


def _json_normalized(config):
    # Tuples become lists in JSON; compare configs after the same round trip.
    return json.loads(json.dumps(config))


def _check_config(layer_cls, init_kwargs):
    layer = _new_layer(layer_cls, init_kwargs)
    config = layer.get_config()
    missing = {"name", "dtype", "trainable"} - set(config)
    assert not missing, _fail(
        layer_cls, "get_config",
        f"base keys {sorted(missing)} are missing: does get_config start from "
        f"super().get_config()? Received keys: {sorted(config)}",
    )
    clone = layer_cls.from_config(config)
    assert _json_normalized(clone.get_config()) == _json_normalized(config), _fail(
        layer_cls, "from_config round trip",
        f"configs differ.\n  original: {config}\n  reloaded: {clone.get_config()}",
    )
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    try:
        restored = keras.saving.deserialize_keras_object(serialized)
    except Exception as error:  # the message below says what to do
        raise AssertionError(_fail(
            layer_cls, "deserialize_keras_object",
            f"failed without custom_objects ({error!r}); register the class with "
            "keras.saving.register_keras_serializable (kzoo: @kzoo_export)",
        )) from error
    assert type(restored) is layer_cls, _fail(
        layer_cls, "deserialize_keras_object", f"returned a {type(restored).__name__}"
    )
    assert _json_normalized(restored.get_config()) == _json_normalized(config), _fail(
        layer_cls, "JSON round trip",
        f"configs differ.\n  original: {config}\n  reloaded: {restored.get_config()}",
    )


def _check_build_and_shapes(layer_cls, init_kwargs, x, call_kwargs, expected_output_shape,
                            expected_num_trainable, expected_num_non_trainable):
    layer = _new_layer(layer_cls, init_kwargs)
    layer.build(x.shape)
    assert layer.built, _fail(layer_cls, "build", "layer.built is False after build()")
    for weights, expected, kind in (
        (layer.trainable_weights, expected_num_trainable, "trainable"),
        (layer.non_trainable_weights, expected_num_non_trainable, "non-trainable"),
    ):
        if expected is not None:
            assert len(weights) == expected, _fail(
                layer_cls, "build",
                f"expected {expected} {kind} weights, got {[w.path for w in weights]}",
            )

    output = layer(x, **call_kwargs)
    computed = tuple(layer.compute_output_shape(x.shape))
    assert computed == tuple(output.shape), _fail(
        layer_cls, "compute_output_shape",
        f"returned {computed} but the call returned {tuple(output.shape)} "
        f"for input {x.shape}",
    )
    if expected_output_shape is not None:
        assert tuple(output.shape) == tuple(expected_output_shape), _fail(
            layer_cls, "output shape",
            f"expected {tuple(expected_output_shape)}, got {tuple(output.shape)}",
        )
    assert np.all(np.isfinite(output)), _fail(layer_cls, "call", "output is not finite")

    # Unknown batch size: symbolic call, compute_output_shape and a real trace.
    unbatched = (None, *x.shape[1:])
    symbolic = _new_layer(layer_cls, init_kwargs)(keras.Input(x.shape[1:]), **call_kwargs)
    computed = tuple(layer.compute_output_shape(unbatched))
    assert tuple(symbolic.shape) == computed, _fail(
        layer_cls, "symbolic call",
        f"keras.Input{unbatched} gave {tuple(symbolic.shape)}, compute_output_shape "
        f"gave {computed}",
    )
    traced = tf.function(lambda t: layer(t, **call_kwargs)).get_concrete_function(
        tf.TensorSpec(unbatched, "float32")
    )
    traced_shape = tuple(traced.structured_outputs.shape)
    assert traced_shape == computed, _fail(
        layer_cls, "tf.function trace",
        f"static output shape {traced_shape} with batch None, compute_output_shape "
        f"gave {computed}",
    )
    npt.assert_allclose(
        traced(tf.constant(x)), output, rtol=1e-5, atol=1e-5,
        err_msg=_fail(layer_cls, "tf.function", "output differs from the eager call"),
    )
    npt.assert_allclose(
        traced(tf.constant(x[:1])), output[:1], rtol=1e-5, atol=1e-5,
        err_msg=_fail(layer_cls, "tf.function", "batch of 1 differs from the eager call"),
    )
    return layer, np.asarray(output)


class SingleLayerModel(keras.Model):
    """A subclassed model that holds one layer."""

    def __init__(self, layer, supports_training_arg, **kwargs):
        super().__init__(**kwargs)
        self.inner = layer
        self.supports_training_arg = supports_training_arg

    def call(self, inputs, training=None):
        if self.supports_training_arg:
            return self.inner(inputs, training=training)
        return self.inner(inputs)


def _copy(layer_cls, layer, input_shape):
    """A new layer from `layer`'s config, built, holding the same weights."""
    clone = layer_cls.from_config(layer.get_config())
    clone.build(input_shape)
    clone.set_weights(layer.get_weights())
    return clone


def _functional(layer, input_shape):
    inputs = keras.Input(input_shape[1:])
    return keras.Model(inputs, layer(inputs))


def _check_in_models(layer_cls, layer, x, output, call_kwargs, supports_training_arg):
    shape = x.shape
    models = {
        "Sequential": lambda: keras.Sequential(
            [keras.Input(shape[1:]), _copy(layer_cls, layer, shape)]
        ),
        "Functional": lambda: _functional(_copy(layer_cls, layer, shape), shape),
        "subclassed Model": lambda: SingleLayerModel(
            _copy(layer_cls, layer, shape), supports_training_arg
        ),
    }
    for kind, make in models.items():
        model = make()
        npt.assert_allclose(
            model(x, training=False), output, rtol=1e-5, atol=1e-5,
            err_msg=_fail(layer_cls, kind, "output differs from the layer's own call"),
        )
        graph_call = tf.function(lambda t, model=model: model(t, training=False))
        npt.assert_allclose(
            graph_call(tf.constant(x)), output, rtol=1e-5, atol=1e-5,
            err_msg=_fail(layer_cls, f"{kind} in tf.function",
                          "output differs from the layer's own call"),
        )


def _check_training_step(layer_cls, init_kwargs, x, output_shape, rng):
    layer = _new_layer(layer_cls, init_kwargs)
    model = _functional(layer, x.shape)
    model.compile(optimizer="sgd", loss="mse")
    before = [keras.ops.convert_to_numpy(w) for w in layer.trainable_weights]
    targets = rng.standard_normal(output_shape).astype("float32")
    history = model.fit(x, targets, batch_size=len(x), epochs=1, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss), _fail(layer_cls, "fit", f"loss is {loss}")
    for weight, old in zip(layer.trainable_weights, before):
        new = keras.ops.convert_to_numpy(weight)
        assert np.all(np.isfinite(new)), _fail(
            layer_cls, "fit", f"weight {weight.path} is not finite after one step"
        )
        assert not np.array_equal(new, old), _fail(
            layer_cls, "fit", f"trainable weight {weight.path} did not change in one SGD step"
        )


def _check_saving(layer_cls, layer, x, output):
    model = _functional(_copy(layer_cls, layer, x.shape), x.shape)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        try:
            loaded = keras.saving.load_model(path)
        except Exception as error:  # the message below says what to do
            raise AssertionError(_fail(
                layer_cls, "load_model",
                f"loading without custom_objects failed ({error!r}); register the class "
                "with keras.saving.register_keras_serializable (kzoo: @kzoo_export)",
            )) from error
    restored = [item for item in loaded.layers if isinstance(item, layer_cls)]
    assert len(restored) == 1, _fail(
        layer_cls, "load_model", f"the reloaded model has layers {loaded.layers}"
    )
    npt.assert_allclose(
        loaded(x, training=False), output, rtol=1e-6, atol=1e-6,
        err_msg=_fail(layer_cls, "load_model", "the reloaded model's output differs"),
    )


def _check_mixed_precision(layer_cls, init_kwargs, layer, x, output, call_kwargs):
    scale = max(float(np.max(np.abs(output))), 1.0)
    for policy_name, tolerance in MIXED_POLICIES.items():
        policy = keras.mixed_precision.Policy(policy_name)
        mixed = _new_layer(layer_cls, init_kwargs, dtype=policy)
        mixed.build(x.shape)
        mixed.set_weights(layer.get_weights())
        result = mixed(x, **call_kwargs)
        check = f"mixed precision {policy_name}"
        for weight in mixed.weights:
            if "float" in weight.dtype:
                assert weight.dtype == "float32", _fail(
                    layer_cls, check, f"variable {weight.path} is {weight.dtype}, not float32"
                )
        dtype = keras.backend.standardize_dtype(result.dtype)
        assert dtype == policy.compute_dtype, _fail(
            layer_cls, check, f"output dtype is {dtype}, expected {policy.compute_dtype}"
        )
        result = np.asarray(tf.cast(result, "float32"))
        assert np.all(np.isfinite(result)), _fail(layer_cls, check, "output is not finite")
        npt.assert_allclose(
            result, output, rtol=0, atol=tolerance * scale,
            err_msg=_fail(layer_cls, check, "output is far from the float32 output"),
        )


def _finite_differences(function, values, indices, step=1e-5):
    """Central differences of `function(values)` along the flat `indices`."""
    flat = values.astype("float64").reshape(-1)
    estimates = []
    for index in indices:
        plus, minus = flat.copy(), flat.copy()
        plus[index] += step
        minus[index] -= step
        estimates.append(
            (function(plus.reshape(values.shape)) - function(minus.reshape(values.shape)))
            / (2 * step)
        )
    return np.array(estimates)


def _check_gradients(layer_cls, init_kwargs, x, call_kwargs, rng, tolerance):
    layer = _new_layer(layer_cls, init_kwargs, dtype="float64")
    inputs = tf.constant(x, "float64")
    layer.build(inputs.shape)
    projection = tf.constant(
        rng.standard_normal(layer.compute_output_shape(inputs.shape)), "float64"
    )

    @tf.function
    def objective(inputs):  # a scalar whose gradient is the vector-Jacobian product
        return tf.reduce_sum(layer(inputs, **call_kwargs) * projection)

    variables = list(layer.trainable_variables)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = objective(inputs)
    gradients = tape.gradient(value, [inputs, *variables])

    def of_input(values):
        return float(objective(tf.constant(values)))

    def of_variable(variable):
        def function(values):
            variable.assign(values)
            return float(objective(inputs))
        return function

    checks = [("the input", x, of_input)] + [
        (f"weight {v.path}", keras.ops.convert_to_numpy(v), of_variable(v)) for v in variables
    ]
    for (what, values, function), gradient in zip(checks, gradients):
        assert gradient is not None, _fail(layer_cls, "gradients", f"no gradient reaches {what}")
        indices = np.arange(values.size)
        if values.size > MAX_GRADIENT_ENTRIES:
            indices = np.sort(rng.choice(values.size, MAX_GRADIENT_ENTRIES, replace=False))
        numeric = _finite_differences(function, values, indices)
        function(values)  # restores a perturbed weight
        npt.assert_allclose(
            np.asarray(gradient).reshape(-1)[indices], numeric,
            rtol=tolerance, atol=tolerance,
            err_msg=_fail(
                layer_cls, "gradients",
                f"tape gradient w.r.t. {what} differs from central finite differences "
                "(float64)",
            ),
        )


def two_replica_strategy():
    """The process's one `MirroredStrategy` over the first two logical CPU devices.

    One strategy per process: a second MirroredStrategy's all-reduce instance
    keys collide with the first's ("Shape mismatch in the collective instance").
    It is the strategy `kzoo.distribute.get_strategy("mirrored", cpu_replicas=2)`
    returns when the CPU is split in two.
    """
    devices = tf.config.list_logical_devices("CPU")[:2]
    if len(devices) < 2:
        raise RuntimeError(
            "check_distribution needs two logical CPU devices, configured before "
            "TensorFlow initializes: kzoo.distribute.split_cpu(2), i.e. "
            "tf.config.set_logical_device_configuration("
            "tf.config.list_physical_devices('CPU')[0], "
            "[tf.config.LogicalDeviceConfiguration()] * 2). "
            f"Received: {[d.name for d in devices]}"
        )
    return strategies.mirrored_strategy([d.name for d in devices])


def _check_distribution(layer_cls, init_kwargs, x, call_kwargs, rng):
    assert len(x) % 2 == 0, _fail(
        layer_cls, "distribution", f"needs an even batch size. Received: {len(x)}"
    )
    strategy = two_replica_strategy()
    with strategy.scope():
        layer = _new_layer(layer_cls, init_kwargs)
        model = _functional(layer, x.shape)
        model.compile(optimizer="sgd", loss="mse")
    reference = np.asarray(layer(x, **call_kwargs))

    dataset = tf.data.Dataset.from_tensor_slices(x).batch(len(x))
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    per_replica = strategy.run(
        tf.function(lambda t: layer(t, **call_kwargs)), args=(batch,)
    )
    replicas = strategy.experimental_local_results(per_replica)
    assert len(replicas) == 2, _fail(
        layer_cls, "distribution", f"expected 2 replica results, got {len(replicas)}"
    )
    npt.assert_allclose(
        np.concatenate([np.asarray(r) for r in replicas]), reference, rtol=1e-5, atol=1e-5,
        err_msg=_fail(layer_cls, "distribution", "strategy.run differs from the plain call"),
    )

    if not layer.trainable_weights:
        return
    before = [keras.ops.convert_to_numpy(w) for w in layer.trainable_weights]
    targets = rng.standard_normal(reference.shape).astype("float32")
    model.fit(x, targets, batch_size=len(x), epochs=1, verbose=0)
    for weight, old in zip(layer.trainable_weights, before):
        copies = [np.asarray(v) for v in getattr(weight.value, "values", [weight.value])]
        assert len(copies) == 2, _fail(
            layer_cls, "distribution", f"weight {weight.path} is not mirrored on 2 replicas"
        )
        npt.assert_array_equal(
            copies[0], copies[1],
            err_msg=_fail(layer_cls, "distribution fit", f"replicas of {weight.path} differ"),
        )
        assert not np.array_equal(copies[0], old), _fail(
            layer_cls, "distribution fit", f"weight {weight.path} did not change"
        )
