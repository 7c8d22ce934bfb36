"""NAdam as published (Dozat, 2016), with its `momentum_decay` schedule."""

import keras
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.optimizers.hyperparameters import check_learning_rate
from kzoo.optimizers.hyperparameters import check_non_negative
from kzoo.optimizers.hyperparameters import check_unit_interval


def _constant(value, dtype):
    # `ops.cast(0.9, "float64")` would round 0.9 to float32 first; a Python
    # float goes straight to the variable's dtype, a tensor is cast.
    if isinstance(value, (int, float)):
        return ops.convert_to_tensor(value, dtype=dtype)
    return ops.cast(value, dtype)


@kzoo_export("kzoo.optimizers.NAdam")
class NAdam(keras.optimizers.Optimizer):
    """Adam with Nesterov momentum and the momentum schedule of the NAdam paper.

    With gradient `g`, step `t = 1, 2, ...` and `psi = momentum_decay`:

    ```python
    mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = beta_1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    mu_product = mu_1 * ... * mu_t
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g ** 2
    m_hat = mu_next * m / (1 - mu_product * mu_next) + (1 - mu_t) * g / (1 - mu_product)
    v_hat = v / (1 - beta_2 ** t)
    w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)
    ```

    This is PyTorch's `torch.optim.NAdam` (default `momentum_decay=0.004`).
    Keras's own `keras.optimizers.Nadam` hard-codes `0.96 ** t`, i.e.
    `momentum_decay=1`, under which `mu_t` reaches `beta_1` within a few dozen
    steps instead of warming up over thousands; `NAdam(momentum_decay=1.0)`
    reproduces it. The running product `mu_product` is an optimizer variable,
    so it is saved in `.keras` files with the moments.

    Args:
        learning_rate: a float, a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable
            without arguments returning the value. Defaults to `0.001`.
        beta_1: decay rate of the first-moment estimate, in [0, 1).
            Defaults to `0.9`.
        beta_2: decay rate of the second-moment estimate, in [0, 1).
            Defaults to `0.999`.
        epsilon: small constant added to `sqrt(v_hat)`. Defaults to `1e-7`
            (Keras's Adam and Nadam default; PyTorch uses `1e-8`).
        momentum_decay: `psi` of the momentum schedule, >= 0. Defaults to
            `0.004`, the published value.
        weight_decay: decoupled weight decay, as in every Keras optimizer
            (`keras.optimizers.Optimizer`, like the arguments below).
        clipnorm: clips each gradient to this norm.
        clipvalue: clips each gradient's values to this magnitude.
        global_clipnorm: clips the gradients to this global norm.
        use_ema: whether to keep an exponential moving average of the weights.
        ema_momentum: the moving average's momentum.
        ema_overwrite_frequency: every how many steps the weights are
            overwritten by their moving average.
        loss_scale_factor: the loss scaling factor (mixed precision).
        gradient_accumulation_steps: over how many steps gradients are
            accumulated before each update.
        name: the optimizer's name.

    Reference:

    - [Dozat, 2016, "Incorporating Nesterov Momentum into Adam"](
        https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ)

    Examples:
        >>> optimizer = kzoo.optimizers.get("nadam", learning_rate=2e-3)
        >>> model.compile(optimizer=optimizer, loss="mse")
        >>> kzoo.optimizers.NAdam(momentum_decay=0.004).momentum_decay
        0.004
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        momentum_decay=0.004,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        check_learning_rate(learning_rate)
        check_unit_interval(beta_1, "beta_1")
        check_unit_interval(beta_2, "beta_2")
        check_non_negative(epsilon, "epsilon")
        check_non_negative(momentum_decay, "momentum_decay")
        check_non_negative(weight_decay, "weight_decay")
        super().__init__(
            learning_rate=learning_rate,
            name=name,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.momentum_decay = momentum_decay

    def build(self, var_list):
        """Creates the moments of every variable and the running product of mu."""
        if self.built:
            return
        super().build(var_list)
        self._momentums = []
        self._velocities = []
        for var in var_list:
            self._momentums.append(self.add_variable_from_reference(var, name="momentum"))
            self._velocities.append(self.add_variable_from_reference(var, name="velocity"))
        dtype = var_list[0].dtype if var_list else keras.backend.floatx()
        self._mu_product = self.add_variable(
            shape=(), initializer="ones", dtype=dtype, name="mu_product"
        )

    def _mu(self, step, dtype):
        # mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * psi))
        beta_1 = _constant(self.beta_1, dtype)
        exponent = ops.multiply(step, _constant(self.momentum_decay, dtype))
        return beta_1 * (1.0 - 0.5 * ops.power(_constant(0.96, dtype), exponent))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # mu_product is shared by all variables: advance it once per step,
        # before the per-variable updates.
        dtype = self._mu_product.dtype
        step = ops.cast(self.iterations + 1, dtype)
        self.assign(self._mu_product, self._mu_product * self._mu(step, dtype))
        super()._backend_update_step(grads, trainable_variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        """Updates one variable and its moments given its gradient."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = _constant(self.beta_1, dtype)
        beta_2 = _constant(self.beta_2, dtype)

        mu_t = self._mu(step, dtype)
        mu_next = self._mu(step + 1.0, dtype)
        mu_product = ops.cast(self._mu_product, dtype)
        mu_product_next = mu_product * mu_next

        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1.0 - beta_2))

        m_hat = ops.add(
            ops.divide(ops.multiply(mu_next, m), 1.0 - mu_product_next),
            ops.divide(ops.multiply(1.0 - mu_t, gradient), 1.0 - mu_product),
        )
        v_hat = ops.divide(v, 1.0 - ops.power(beta_2, step))
        self.assign_sub(
            variable,
            ops.divide(
                ops.multiply(m_hat, lr),
                ops.add(ops.sqrt(v_hat), _constant(self.epsilon, dtype)),
            ),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "momentum_decay": self.momentum_decay,
            }
        )
        return config
