"""`LayerwiseOptimizer`: a learning-rate multiplier per layer.

Keras optimizers have no parameter groups (PyTorch's `param_groups`), so
this wrapper routes each variable to an inner optimizer: one per distinct
multiplier, each the wrapped optimizer's class and configuration with
`learning_rate × multiplier`. A variable with multiplier m therefore moves
exactly as the same optimizer with learning rate `lr × m` would move it,
moments and all (checked against plain Keras optimizers in
tests/transfer).
"""

import keras
from keras import ops

from kzoo.api_export import kzoo_export

__all__ = ["LayerwiseOptimizer", "ScaledSchedule"]

_SCHEDULE = keras.optimizers.schedules.LearningRateSchedule


@kzoo_export("kzoo.transfer.ScaledSchedule")
class ScaledSchedule(_SCHEDULE):
    """`factor × schedule(step)`: a learning-rate schedule scaled by a constant.

    Args:
        schedule: a `keras.optimizers.schedules.LearningRateSchedule`.
        factor: the positive multiplier.

    Examples:
        >>> cosine = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=1000)
        >>> schedule = kzoo.transfer.ScaledSchedule(cosine, 0.1)
    """

    def __init__(self, schedule, factor):
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule
        self.factor = float(factor)

    def __call__(self, step):
        return self.schedule(step) * self.factor

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule),
                "factor": self.factor}


def _check_multiplier(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"Argument `{what}` must hold positive numbers. "
                         f"Received: {what}={value!r}")
    return float(value)


def _scaled(learning_rate, factor):
    if isinstance(learning_rate, _SCHEDULE):
        return learning_rate if factor == 1.0 else ScaledSchedule(learning_rate, factor)
    return float(learning_rate) * factor


@kzoo_export("kzoo.transfer.LayerwiseOptimizer")
class LayerwiseOptimizer(keras.optimizers.Optimizer):
    """An optimizer with a learning-rate multiplier per layer (parameter groups).

    Each variable is routed to an inner optimizer of its multiplier: a copy
    of `inner_optimizer` (same class and configuration) with learning rate
    `learning_rate × multiplier`. A variable's multiplier is found from its
    path (`"conv1_conv/kernel"`): the whole path if it is a key of
    `multipliers`, else the innermost enclosing layer name that is (a layer
    name gives all its weights one multiplier), else `default_multiplier`.
    Each variable therefore moves exactly as under the plain optimizer with
    the scaled learning rate; weight decay, `clipnorm` and `clipvalue` act per
    variable and stay exact. `global_clipnorm` (one norm over all gradients)
    and `loss_scale_factor` are refused: wrap this optimizer in
    `keras.optimizers.LossScaleOptimizer` for loss scaling.

    Setting `learning_rate` sets the base rate (the rate of multiplier 1):
    every inner optimizer gets it times its multiplier, so
    `ReduceLROnPlateau` and `LearningRateScheduler` work. The inner
    optimizers' states are the wrapper's `variables` and are saved with a
    `.keras` file. TensorFlow and PyTorch backends (`apply`); JAX's
    `stateless_apply` is not implemented.

    Args:
        inner_optimizer: a `keras.optimizers.Optimizer` (its learning rate a
            float or a `LearningRateSchedule`), the template of every group.
        multipliers: `{layer name or variable path: positive multiplier}`.
        default_multiplier: the multiplier of every other variable.
            Defaults to 1.
        name: optimizer name.

    Examples:
        >>> optimizer = kzoo.transfer.LayerwiseOptimizer(
        ...     keras.optimizers.Adam(1e-3), {"block1_conv": 0.1, "block2_conv": 0.1})
        >>> model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
        ...               metrics=["accuracy"])
    """

    def __init__(self, inner_optimizer, multipliers=None, default_multiplier=1.0, name=None,
                 **kwargs):
        if isinstance(inner_optimizer, dict):
            inner_optimizer = keras.optimizers.deserialize(inner_optimizer)
        if not isinstance(inner_optimizer, keras.optimizers.Optimizer) or isinstance(
                inner_optimizer, (LayerwiseOptimizer, keras.optimizers.LossScaleOptimizer)):
            raise ValueError(
                "Argument `inner_optimizer` must be a keras.optimizers.Optimizer (not a "
                f"wrapper). Received: inner_optimizer={inner_optimizer!r}"
            )
        if kwargs:
            raise ValueError(
                f"LayerwiseOptimizer takes its settings from `inner_optimizer`; set "
                f"{sorted(kwargs)} there. Received: {kwargs}"
            )
        config = inner_optimizer.get_config()
        for key in ("global_clipnorm", "loss_scale_factor"):
            if config.get(key) is not None:
                raise ValueError(
                    f"LayerwiseOptimizer does not support `{key}` (it would act per group). "
                    f"Received: inner_optimizer with {key}={config[key]!r}"
                )
        base_rate = config["learning_rate"]
        if isinstance(base_rate, dict):  # a serialized schedule (or callable)
            base_rate = keras.saving.deserialize_keras_object(base_rate)
        if not isinstance(base_rate, (float, _SCHEDULE)):
            raise ValueError(
                "Argument `inner_optimizer` must have a float learning rate or a "
                f"LearningRateSchedule. Received: learning_rate={base_rate!r}"
            )
        if not isinstance(multipliers, (dict, type(None))):
            raise ValueError("Argument `multipliers` must be a dict {layer name: multiplier}. "
                             f"Received: multipliers={multipliers!r}")
        multipliers = {str(k): _check_multiplier(v, "multipliers")
                       for k, v in (multipliers or {}).items()}
        default_multiplier = _check_multiplier(default_multiplier, "default_multiplier")
        super().__init__(learning_rate=base_rate, name=name)
        self.multipliers = multipliers
        self.default_multiplier = default_multiplier
        self.inner_optimizer = inner_optimizer
        self.factors = sorted(set(self.multipliers.values()) | {self.default_multiplier})
        self.inner_optimizers = []
        for i, factor in enumerate(self.factors):
            inner_config = {**config, "learning_rate": _scaled(base_rate, factor),
                            "name": f"{self.name}_group{i}"}
            self.inner_optimizers.append(type(inner_optimizer).from_config(inner_config))

    def multiplier(self, variable) -> float:
        """The learning-rate multiplier of `variable` (see the class docstring)."""
        path = getattr(variable, "path", None) or variable.name
        if path in self.multipliers:
            return self.multipliers[path]
        for part in reversed(path.split("/")[:-1]):
            if part in self.multipliers:
                return self.multipliers[part]
        return self.default_multiplier

    def build(self, var_list):
        groups = [[] for _ in self.factors]
        self._group_of = {}
        for variable in var_list:
            group = self.factors.index(self.multiplier(variable))
            groups[group].append(variable)
            self._group_of[self._var_key(variable)] = group
        for inner, variables in zip(self.inner_optimizers, groups):
            if variables:
                inner.build(variables)
        super().build(var_list)

    @property
    def variables(self):
        inner = [v for optimizer in self.inner_optimizers for v in optimizer.variables]
        return self._variables[:] + inner

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer "
                                 "must already be built on a list of variables.")
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        self._check_variables_are_known(trainable_variables)
        grouped = [([], []) for _ in self.factors]
        for grad, variable in zip(grads, trainable_variables):
            group = grouped[self._group_of[self._var_key(variable)]]
            group[0].append(grad)
            group[1].append(variable)
        for inner, (group_grads, group_variables) in zip(self.inner_optimizers, grouped):
            if group_variables:
                inner.apply(group_grads, group_variables)
        self._iterations.assign_add(1)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        raise NotImplementedError("LayerwiseOptimizer has no stateless_apply (JAX backend).")

    @property
    def learning_rate(self):
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        keras.optimizers.Optimizer.learning_rate.fset(self, learning_rate)
        groups = zip(getattr(self, "factors", ()), getattr(self, "inner_optimizers", ()))
        for factor, inner in groups:
            if isinstance(learning_rate, (int, float, _SCHEDULE)):
                inner.learning_rate = _scaled(learning_rate, factor)
            else:  # a tensor or variable
                inner.learning_rate = ops.multiply(learning_rate, factor)

    def scale_loss(self, loss):
        return loss

    def finalize_variable_values(self, var_list):
        grouped = [[] for _ in self.factors]
        for variable in var_list:
            group = getattr(self, "_group_of", {}).get(self._var_key(variable))
            if group is not None:
                grouped[group].append(variable)
        for inner, variables in zip(self.inner_optimizers, grouped):
            if variables:
                inner.finalize_variable_values(variables)

    def get_config(self):
        # Not super().get_config(): every setting is the inner optimizer's.
        return {
            "name": self.name,
            "inner_optimizer": keras.optimizers.serialize(self.inner_optimizer),
            "multipliers": dict(self.multipliers),
            "default_multiplier": self.default_multiplier,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.optimizers.deserialize(config.pop("inner_optimizer"),
                                             custom_objects=custom_objects)
        return cls(inner, **config)
