"""`get_strategy`: a `tf.distribute` strategy by name, and the CPU split into replicas.

A process holds at most one strategy per kind and device set: a second
`MirroredStrategy` over the same devices collides with the first in its
collective all-reduces ("Shape mismatch in the collective instance"), and a
second `MultiWorkerMirroredStrategy` cannot configure the collectives again.
So strategies are made once and handed out again (`_STRATEGIES`).
"""

import numbers

import tensorflow as tf

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker")
"""The strategy names `get_strategy` takes."""

#: (name, devices) -> the strategy made for them in this process.
_STRATEGIES = {}


def split_cpu(replicas):
    """Splits the first physical CPU into `replicas` logical devices; returns their names.

    Must run before TensorFlow initializes its devices (before any tensor,
    model or strategy is made). Calling it again with the same count, or once
    the CPU is already split that way, does nothing.

    Args:
        replicas: int >= 1, the number of logical CPU devices.

    Returns:
        The logical CPU device names, e.g. `["/device:CPU:0", "/device:CPU:1"]`.

    Raises:
        ValueError: `replicas` is not an int >= 1, or TensorFlow already
            initialized its devices with another number of CPUs.

    Examples:
        >>> kzoo.distribute.split_cpu(2)  # first thing in the process
        ['/device:CPU:0', '/device:CPU:1']
    """
    if not isinstance(replicas, numbers.Integral) or isinstance(replicas, bool) or replicas < 1:
        raise ValueError(f"Argument `cpu_replicas` must be an int >= 1. "
                         f"Received: cpu_replicas={replicas!r}")
    replicas = int(replicas)
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if configured is None or len(configured) != replicas:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
        except RuntimeError:  # "Virtual devices cannot be modified after being initialized"
            current = len(tf.config.list_logical_devices("CPU"))
            if current != replicas:
                raise ValueError(
                    f"Argument `cpu_replicas` must be given before TensorFlow initializes its "
                    f"devices (before any tensor, model or strategy is made in this process); "
                    f"the CPU is already initialized as {current} logical device(s). Call "
                    f"kzoo.distribute.get_strategy(..., cpu_replicas={replicas}) first thing, "
                    f"or start a new process. Received: cpu_replicas={replicas}"
                ) from None
    return [d.name for d in tf.config.list_logical_devices("CPU")[:replicas]]


def mirrored_strategy(devices=None):
    """The process's one `MirroredStrategy` over `devices` (default: all GPUs, else the CPU)."""
    key = ("mirrored", tuple(devices) if devices is not None else None)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = tf.distribute.MirroredStrategy(devices)
    return _STRATEGIES[key]


def multi_worker_strategy():
    """The process's one `MultiWorkerMirroredStrategy` (the cluster from `TF_CONFIG`)."""
    key = ("multi_worker", None)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = tf.distribute.MultiWorkerMirroredStrategy()
    return _STRATEGIES[key]


def get_strategy(name="auto", *, cpu_replicas=None) -> tf.distribute.Strategy:
    """A `tf.distribute` strategy by name.

    - `"auto"`: `MirroredStrategy` over all GPUs when there are several (or
      over the `cpu_replicas` logical CPUs when more than one), else the
      default strategy.
    - `"default"`: the default strategy (one device, no distribution).
    - `"one_device"`: `OneDeviceStrategy` on the first GPU, else the CPU.
    - `"mirrored"`: `MirroredStrategy` over all GPUs (the CPU when there are
      none), or over the `cpu_replicas` logical CPUs when given.
    - `"multi_worker"`: `MultiWorkerMirroredStrategy`, its cluster described by
      the `TF_CONFIG` environment variable (without it, one worker). Keras's
      `fit` does not run under it; `kzoo.training.train` then trains with
      `kzoo.distribute.fit_distributed`.

    The batch size a strategy trains with is the global batch: each of the
    `strategy.num_replicas_in_sync` replicas gets a slice of it. A strategy
    is made once per process and returned again on the next call (a second
    mirrored strategy over the same devices would collide with the first).

    Args:
        name: one of `"auto"`, `"default"`, `"one_device"`, `"mirrored"`,
            `"multi_worker"`. Defaults to `"auto"`.
        cpu_replicas: optional int >= 1: split the CPU into this many logical
            devices (to run multi-replica code on a CPU-only machine). This
            must happen before TensorFlow initializes its devices, so call
            `get_strategy` before making any tensor or model.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: an unknown `name`, a bad `cpu_replicas`, `cpu_replicas`
            given once TensorFlow's devices are initialized otherwise, or
            `cpu_replicas > 1` with `"default"`, `"one_device"` or
            `"multi_worker"`.

    Examples:
        >>> strategy = kzoo.distribute.get_strategy("mirrored", cpu_replicas=2)
        >>> strategy.num_replicas_in_sync
        2
        >>> with strategy.scope():
        ...     model = kzoo.create_model("mlp", input_shape=(8, 8, 1))
    """
    if name not in STRATEGIES:
        raise ValueError(f"Argument `strategy` must be one of {list(STRATEGIES)}. "
                         f"Received: strategy={name!r}")
    cpus = split_cpu(cpu_replicas) if cpu_replicas is not None else None
    if cpus is not None and len(cpus) > 1 and name in ("default", "one_device", "multi_worker"):
        raise ValueError(
            f"Argument `cpu_replicas` > 1 needs strategy 'mirrored' or 'auto' (strategy "
            f"{name!r} does not use several local CPU replicas). Received: strategy={name!r}, "
            f"cpu_replicas={cpu_replicas}")
    if name == "multi_worker":
        return multi_worker_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and (len(gpus) > 1 or (cpus and len(cpus) > 1))):
        return mirrored_strategy(cpus if cpus else None)
    if name == "one_device":
        device = gpus[0].name if gpus else "/cpu:0"
        key = ("one_device", (device,))
        if key not in _STRATEGIES:
            _STRATEGIES[key] = tf.distribute.OneDeviceStrategy(device)
        return _STRATEGIES[key]
    return tf.distribute.get_strategy()



def strategy_name(strategy):
    """The public name of `strategy`'s kind (`"MultiWorkerMirroredStrategy"`, ...), or `"default"`.

    TensorFlow's classes carry other names (`tf.distribute.MultiWorkerMirroredStrategy`
    is `CollectiveAllReduceStrategy`).
    """
    for name in ("MultiWorkerMirroredStrategy", "MirroredStrategy", "OneDeviceStrategy",
                 "TPUStrategy"):
        if isinstance(strategy, getattr(tf.distribute, name)):
            return name
    if strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
        return "default"
    return type(strategy).__name__
