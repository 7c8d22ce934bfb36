"""The machine's limit and how close the zoo's small models come to it, in one process.

Issue 31 ("Measure the limit in the same run"). Measured in the process that times the
training steps they are compared with, in interleaved rounds (the order reversed every
other round, so that a slow spell of this shared machine weighs on all alike):

- the float32 matmul rate: `tf.matmul` of two random n×n matrices in a `tf.function`
  (`--matmul-sizes`, 2048 and 4096), 2n³ FLOPs, best of all rounds (the limit) and median;
  beside it the nominal peak, cores × clock × float32 lanes × 2 (FMA) × 2 FMA units per core,
  read from /proc/cpuinfo (an assumption about the core, labelled nominal);
- the memory bandwidth: `y = x * a + b` over 2^26 float32 (`--stream-elements`), 8 bytes
  (one read, one write) per element over the best time;
- for each model (`MODELS`: LeNet, ResNet-20 and ResNet-9 at width 16 on Fashion-MNIST's
  28×28×1, the maxout net and MobileNetV2 at 32×32×3), its training step as `kzoo train`
  runs it: the model built as `kzoo.training.trainer.build_zoo_model` builds it (raw pixels
  in, `Rescaling` first), compiled with the run's optimizer, loss and `accuracy` metric
  (the shipped recipe's, `benchmarks.fashion_mnist_accuracy.CONFIGS`, where there is one;
  `kzoo train`'s defaults otherwise), `tf.config.experimental.enable_op_determinism()` on
  as `kzoo train` turns it on, and Keras's own compiled `model.train_function` called on

  - an in-memory batch (`from_tensors(...).repeat()`): the compute alone;
  - kzoo's real input pipeline (`kzoo.data.pipeline.from_arrays` over random uint8 arrays
    of the dataset's training size, shuffled, with the recipe's augmentation): the step
    `kzoo train` takes;

  and that input pipeline alone (batches pulled, nothing trained), so the results say
  whether the input is a bottleneck. Images per second, achieved FLOP/s
  (3 × forward FLOPs (`kzoo.models.count_flops`) × images/s: the backward pass is counted
  as twice the forward) and its fraction of the best matmul rate;
- a profile of one model's step (`--profile-models`, the recipe ResNet-9 by default): a few
  steps on the real pipeline under `tf.profiler`, TensorFlow's per-op self times
  (`framework_op_stats`) grouped into convolution, BatchNorm, pooling, elementwise and
  activations, optimizer update, loss and metrics, input pipeline and other, ms per step
  and share; beside them the wall time of a step and the step time at batch 1 (the fixed
  cost of a step: Python, dispatch, one launch per op). The self times of ops that run at
  once (TensorFlow's inter-op pool, the input pipeline's threads) add up, so their sum may
  exceed the wall time; the gap wall − sum is given when positive.

Settings to try (the later parts of issue 31): `--jit-compile` (XLA), `--batch-size`,
`--intra-op-threads` and `--inter-op-threads` (set before TensorFlow runs anything),
`--no-determinism`. Writes `benchmarks/results/roofline.json` and `.md` (`--output-dir`
elsewhere). A full run takes a few minutes on 2 cores.

    python -m benchmarks roofline [--models lenet,resnet20,resnet9,maxout_net,mobilenet_v2]
        [--rounds 5] [--steps 10] [--quick] [--jit-compile] [--batch-size N]
        [--intra-op-threads N] [--inter-op-threads N] [--no-determinism]
        [--profile-models resnet9] [--output-dir DIR] [--no-write]
"""

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import tempfile
import time

import numpy as np

from benchmarks.results_io import (RESULTS_DIR, for_docs, machine, machine_text, read_results,
                                   write_results)

NAME = "roofline"
#: The timed models: name → (registered model, builder arguments, input shape, the
#: `TrainConfig` fields of its run, training images of its dataset).
MODELS = {
    "lenet": ("lenet", {}, (28, 28, 1), "lenet", 55_000),
    "resnet20": ("resnet20", {}, (28, 28, 1), "resnet20", 55_000),
    "resnet9": ("resnet9", {"width": 16}, (28, 28, 1), "resnet9", 55_000),  # the recipe
    "maxout_net": ("maxout_net", {}, (32, 32, 3), None, 45_000),
    "mobilenet_v2": ("mobilenet_v2", {}, (32, 32, 3), None, 45_000),
}
#: Goals of issue 31: the recipe model's step at >= 0.6 of the matmul rate.
RECIPE_MODEL, GOAL_FRACTION = "resnet9", 0.6

#: Profile categories, in the report's order.
CATEGORIES = ("convolution", "batchnorm", "pooling", "elementwise", "optimizer", "loss",
              "input", "other")
CATEGORY_LABELS = {
    "convolution": "convolution and matmul (forward and backward)",
    "batchnorm": "BatchNorm (forward and backward)",
    "pooling": "pooling (forward and backward)",
    "elementwise": "activations, additions and other elementwise ops of the layers",
    "optimizer": "optimizer update",
    "loss": "loss and metrics",
    "input": "input pipeline (tf.data, augmentation)",
    "other": "other ops",
}
CONV_TYPES = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "_FusedConv2D",
              "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
              "DepthwiseConv2dNativeBackpropFilter", "MatMul", "_FusedMatMul", "BatchMatMul",
              "BatchMatMulV2", "BatchMatMulV3", "Einsum")
POOL_TYPES = ("MaxPool", "MaxPoolGrad", "MaxPoolV2", "MaxPoolGradV2", "AvgPool", "AvgPoolGrad")
INPUT_TYPES = ("Dataset", "IteratorGetNext", "IteratorGetNextAsOptional", "OptionalFromValue",
               "OptionalGetValue", "OptionalHasValue")
OPTIMIZER_NAMES = {"sgd", "adam", "adamw", "nesterov", "momentum", "rmsprop", "lamb", "lion",
                   "adagrad", "adadelta", "adamax", "nadam", "ftrl", "loss_scale_optimizer"}


# --------------------------------------------------------------------------- #
# The machine's limits
# --------------------------------------------------------------------------- #

def nominal_peak(cpuinfo_text=None, cpus=None):
    """`{"gflops", "cores", "mhz", "lanes", "fma", "assumed_fma_units"}`, the nominal float32
    peak from /proc/cpuinfo (None where it is not readable): cores × MHz × lanes (16 with
    AVX-512, 8 with AVX2, 4 else) × 2 with FMA × 2 FMA units (an assumption: most x86 server
    cores since Haswell and Zen 2 have two; a virtual CPU's MHz is the host's nominal clock)."""
    if cpuinfo_text is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo_text = f.read()
        except OSError:
            return None
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo_text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo_text, re.M)
    if not mhz or not flags:
        return None
    present = set(flags.group(1).split())
    lanes = 16 if "avx512f" in present else 8 if "avx2" in present or "avx" in present else 4
    fma = "fma" in present
    units = 2
    cores = cpus or os.cpu_count()
    gflops = cores * float(mhz.group(1)) / 1e3 * lanes * (2 if fma else 1) * units
    return {"gflops": round(gflops, 1), "cores": cores, "mhz": float(mhz.group(1)),
            "lanes": lanes, "fma": fma, "assumed_fma_units": units}


def matmul_timer(n, seed=0):
    """A callable timing one float32 n×n `tf.matmul` (seconds)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    a = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    b = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    fn = tf.function(lambda: tf.matmul(a, b))
    fn()  # trace

    def run():
        start = time.perf_counter()
        fn()  # CPU eager execution is synchronous: the call returns with the product made
        return time.perf_counter() - start

    return run


def stream_timer(elements, seed=0):
    """A callable timing `y = x * a + b` over `elements` float32 (seconds)."""
    import tensorflow as tf

    x = tf.random.stateless_uniform((elements,), seed=(seed, 1))
    fn = tf.function(lambda: x * 1.0001 + 0.5)
    fn()

    def run():
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


# --------------------------------------------------------------------------- #
# The training steps
# --------------------------------------------------------------------------- #

def run_config(name, batch_size=None, batch_norm_impl="fused"):
    """The `TrainConfig` of a model's run: its recipe's, or `kzoo train`'s defaults."""
    from benchmarks.fashion_mnist_accuracy import CONFIGS
    from kzoo.training.config import TrainConfig

    model, kwargs, _, recipe, _ = MODELS[name]
    fields = dict(CONFIGS[recipe]) if recipe else {"model": model}
    fields["model_kwargs"] = dict(kwargs)
    if batch_size:
        fields["batch_size"] = batch_size
    fields["batch_norm_impl"] = batch_norm_impl
    return TrainConfig(**fields)


def build(name, config, *, jit_compile=False, steps_per_epoch=100):
    """The model as `kzoo train` builds and compiles it (raw pixels in), at MODELS' shape,
    with `config.batch_norm_impl`."""
    import keras

    from kzoo.layers.batch_norm import set_batch_norm_impl
    from kzoo.models import registry

    model_name, kwargs, shape, _, _ = MODELS[name]
    pixels = keras.Input(shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(pixels)
    kwargs = {"conv_impl": config.conv_impl, **kwargs}
    model = registry.create_model(model_name, input_tensor=x, input_shape=shape, classes=10,
                                  weights=None, **kwargs)
    set_batch_norm_impl(model, config.batch_norm_impl)
    model.compile(optimizer=config.make_optimizer(steps_per_epoch), loss=config.make_loss(),
                  metrics=["accuracy"], jit_compile=bool(jit_compile))
    return model


class Subject:
    """One model's timed steps: compute on an in-memory batch, the step on the real input
    pipeline, and the pipeline alone."""

    #: Batches pulled from the pipeline alone per turn, at least (twice this, half timed).
    MIN_PULLS = 16

    def __init__(self, name, *, batch_size=None, jit_compile=False, batch_norm_impl="fused",
                 seed=0):
        import tensorflow as tf

        from kzoo.data import pipeline
        from kzoo.models import count_flops

        self.name = name
        self.config = run_config(name, batch_size, batch_norm_impl)
        self.batch = self.config.batch_size
        _, _, shape, _, images = MODELS[name]
        self.shape, self.images = shape, images
        self.model = build(name, self.config, jit_compile=jit_compile,
                           steps_per_epoch=images // self.batch)
        self.flops = count_flops(self.model)
        self.params = self.model.count_params()
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 256, size=(images, *shape), dtype=np.uint8)
        y = rng.integers(0, 10, size=(images,)).astype("int64")

        def real():
            return pipeline.from_arrays(x, y, self.batch, shuffle=True, normalize=None,
                                        augment=self.config.augment, seed=seed).repeat()

        # One batch held in memory, its batch dimension unknown as the pipeline's is: both
        # run the same traced train function, as in `kzoo train`.
        memory = tf.data.Dataset.from_tensor_slices(
            (x[:self.batch].astype("float32"), y[:self.batch])).batch(self.batch).cache()
        self.iterators = {"memory": iter(memory.repeat()), "pipeline": iter(real()),
                          "input": iter(real())}
        self.model.make_train_function()

    def step(self, kind="memory"):
        """Seconds of one training step on `kind`'s batches."""
        start = time.perf_counter()
        self.model.train_function(self.iterators[kind])
        return time.perf_counter() - start

    def batch_of_input(self):
        """Seconds to pull one batch from the pipeline alone."""
        start = time.perf_counter()
        next(self.iterators["input"])
        return time.perf_counter() - start

    def turn(self, steps):
        """`{"memory", "pipeline", "input"}`: seconds of each of `steps` steps (batches).
        Of the pipeline-fed kinds only the second half of the turn: the batches its
        prefetch buffer filled during the other turns come first, and come free."""
        out = {"memory": [self.step("memory") for _ in range(steps)]}
        fed = [self.step("pipeline") for _ in range(2 * steps)]
        pulls = max(steps, self.MIN_PULLS)  # a pull is quick: enough to empty the buffer
        pulled = [self.batch_of_input() for _ in range(2 * pulls)]
        out["pipeline"], out["input"] = fed[steps:], pulled[pulls:]
        return out


def model_row(subject, seconds, matmul_gflops):
    """A model's row from its step times (`{"memory", "pipeline", "input"}` → seconds)."""
    row = {"model": subject.name, "registered": MODELS[subject.name][0],
           "builder_kwargs": MODELS[subject.name][1], "input_shape": list(subject.shape),
           "batch": subject.batch, "params": subject.params, "forward_flops": subject.flops,
           "optimizer": subject.config.optimizer, "augment": subject.config.augment,
           "steps_timed": {k: len(v) for k, v in seconds.items()}}
    return {**row, **rates(subject.batch, subject.flops,
                           {k: statistics.median(v) for k, v in seconds.items()},
                           matmul_gflops)}


def rates(batch, flops, median_seconds, matmul_gflops):
    """Images/s, achieved GFLOP/s and fraction of the matmul rate of median step times."""
    out = {}
    for kind in ("memory", "pipeline"):
        s = median_seconds[kind]
        images = batch / s
        gflops = 3 * flops * images / 1e9
        out[kind] = {"step_ms": round(1e3 * s, 3), "images_per_s": round(images, 1),
                     "gflops": round(gflops, 3),
                     "fraction_of_matmul": round(gflops / matmul_gflops, 4)}
    s = median_seconds["input"]
    out["input"] = {"batch_ms": round(1e3 * s, 3), "images_per_s": round(batch / s, 1)}
    # The pipeline can feed this many steps per step the model takes on in-memory data.
    out["input_headroom"] = round(out["input"]["images_per_s"] / out["memory"]["images_per_s"],
                                  3)
    return out


# --------------------------------------------------------------------------- #
# The profile of one step
# --------------------------------------------------------------------------- #

def layer_classes(model):
    """`{layer name: class name}` of `model` and its nested models."""
    out = {}
    for layer in model.layers:
        out[layer.name] = type(layer).__name__
        if hasattr(layer, "layers"):
            out.update(layer_classes(layer))
    return out


def _layer_of(op_name, layers):
    for part in op_name.split("/"):
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layers:
                return layers[candidate]
    return None


def categorize(op_type, op_name, layers):
    """The profile category of one TensorFlow op (`CATEGORIES`), from its type, its name
    (the train step's ops are under `StatefulPartitionedCall/`, the layer's name scope inside)
    and `layers` (`layer_classes` of the model)."""
    parts = op_name.split("/")
    # oneDNN's rewrites of the same ops: `_MklNativeConv2DBackpropFilter`, `_MklMatMul`, ...
    op_type = re.sub(r"^_Mkl(Native)?", "", op_type)
    if op_type in INPUT_TYPES or op_name.startswith("Iterator::") or (
            parts[0] != "StatefulPartitionedCall" and op_type != "IDLE"):
        return "input"  # tf.data's own ops and the ops of its map function (augmentation)
    if op_type in CONV_TYPES:
        return "convolution"
    if op_type.startswith("FusedBatchNorm"):
        return "batchnorm"
    if op_type in POOL_TYPES:
        return "pooling"
    layer = _layer_of(op_name, layers)
    if layer and "BatchNorm" in layer:
        return "batchnorm"
    if layer and "Pool" in layer:
        return "pooling"
    if op_type.startswith("ResourceApply") or any(p.lower() in OPTIMIZER_NAMES for p in parts):
        return "optimizer"
    if any(p.startswith(("compile_loss", "compile_metrics", "loss", "accuracy")) for p in parts):
        return "loss"
    if layer or op_type.startswith("AddN"):  # AddN: the sums of a weight's gradients
        return "elementwise"
    return "other"


def parse_op_stats(data):
    """`[(type, name, occurrences, self µs)]` of `framework_op_stats` (a DataTable JSON, or a
    list of them: the first, host and device), the idle row left out."""
    tables = json.loads(data)
    table = tables[0] if isinstance(tables, list) else tables
    ids = [c["id"] for c in table["cols"]]
    i_type, i_name = ids.index("type"), ids.index("operation")
    i_n, i_self = ids.index("occurrences"), ids.index("total_self_time")
    out = []
    for row in table["rows"]:
        cells = [c.get("v") if c else None for c in row["c"]]
        if cells[i_type] == "IDLE":
            continue
        out.append((cells[i_type], cells[i_name], cells[i_n], cells[i_self]))
    return out


def breakdown(ops, layers, steps, wall_seconds):
    """The profile's summary: ms per step and share of each category, the wall ms per step
    and the gap wall − Σ self (None when the ops' self times add up to more)."""
    totals = dict.fromkeys(CATEGORIES, 0.0)
    top = {}
    for op_type, name, _, self_us in ops:
        category = categorize(op_type, name, layers)
        totals[category] += self_us
        top.setdefault(category, {}).setdefault(op_type, 0.0)
        top[category][op_type] += self_us
    total = sum(totals.values())
    wall_ms = 1e3 * wall_seconds / steps
    ops_ms = total / 1e3 / steps
    return {
        "steps": steps, "wall_ms_per_step": round(wall_ms, 3),
        "op_self_ms_per_step": round(ops_ms, 3),
        "unaccounted_ms_per_step": round(wall_ms - ops_ms, 3) if wall_ms > ops_ms else None,
        "categories": {c: {"ms_per_step": round(totals[c] / 1e3 / steps, 3),
                           "share": round(totals[c] / total, 4) if total else 0.0,
                           "top_op_types": [t for t, _ in sorted(
                               top.get(c, {}).items(), key=lambda kv: -kv[1])[:4]]}
                       for c in CATEGORIES},
    }


def profile(subject, steps, logdir):
    """Profiles `steps` steps of `subject` on its real pipeline: `breakdown`, plus the median
    step time at batch 1 (the fixed cost of a step)."""
    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    for _ in range(2):
        subject.step("pipeline")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(steps):
        subject.step("pipeline")
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    paths = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))
    data, ok = plugin.xspace_to_tools_data(paths[-1:], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"roofline: the profiler's op stats could not be read from {paths}")
    out = breakdown(parse_op_stats(data), layer_classes(subject.model), steps, wall)
    # The fixed cost of a step: the same train function on one image (retraced once).
    one = iter(tf.data.Dataset.from_tensors(
        (tf.zeros((1, *subject.shape)), tf.zeros((1,), tf.int64))).repeat())
    subject.iterators["one"] = one
    for _ in range(2):
        subject.step("one")
    out["batch1_step_ms"] = round(1e3 * statistics.median(
        subject.step("one") for _ in range(max(5, steps))), 3)
    out["model"], out["batch"] = subject.name, subject.batch
    return out


# --------------------------------------------------------------------------- #
# The run
# --------------------------------------------------------------------------- #

def configure(intra=None, inter=None, determinism=True):
    """TensorFlow's settings, before it runs anything (thread pools are fixed at first use).
    oneDNN is as the environment set it before TensorFlow loaded (`benchmarks/__main__.py`
    sets it as the training commands do)."""
    import tensorflow as tf

    from kzoo.utils import runtime

    if intra:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter:
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    if determinism:
        tf.config.experimental.enable_op_determinism()  # as kzoo train runs
    return {"onednn": runtime.onednn_enabled(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "op_determinism": determinism}


def run(*, models=tuple(MODELS), rounds=5, steps=10, matmul_sizes=(2048, 4096),
        stream_elements=2**26, batch_size=None, jit_compile=False, batch_norm_impl="fused",
        intra=None, inter=None, determinism=True, profile_models=(RECIPE_MODEL,),
        profile_steps=5, log=print):
    """Every measurement, interleaved in `rounds` rounds; the results dict."""
    settings = configure(intra, inter, determinism)
    import keras

    keras.utils.set_random_seed(0)
    started = time.time()
    matmuls = {n: matmul_timer(n) for n in matmul_sizes}
    stream = stream_timer(stream_elements)
    subjects = [Subject(m, batch_size=batch_size, jit_compile=jit_compile,
                        batch_norm_impl=batch_norm_impl) for m in models]
    for s in subjects:  # warm-up: trace, first allocations, the pipelines' buffers
        s.turn(2)
    times = {n: [] for n in matmul_sizes}
    stream_times, step_times = [], {s.name: {"memory": [], "pipeline": [], "input": []}
                                    for s in subjects}
    for r in range(rounds):
        order = list(subjects) if r % 2 == 0 else list(subjects)[::-1]
        for n in matmul_sizes:
            times[n] += [matmuls[n]() for _ in range(2)]
        stream_times += [stream() for _ in range(3)]
        for s in order:
            for kind, seconds in s.turn(steps).items():
                step_times[s.name][kind] += seconds
        log(f"roofline: round {r + 1}/{rounds} done ({time.time() - started:.0f} s)")
    matmul_rows = [{"n": n, "best_ms": round(1e3 * min(t), 3),
                    "median_ms": round(1e3 * statistics.median(t), 3),
                    "gflops": round(2 * n**3 / min(t) / 1e9, 2),
                    "median_gflops": round(2 * n**3 / statistics.median(t) / 1e9, 2),
                    "runs": len(t)} for n, t in times.items()]
    best = max(row["gflops"] for row in matmul_rows)
    moved = 8 * stream_elements
    stream_row = {"elements": stream_elements, "bytes": moved,
                  "best_ms": round(1e3 * min(stream_times), 3),
                  "gb_per_s": round(moved / min(stream_times) / 1e9, 2),
                  "median_gb_per_s": round(moved / statistics.median(stream_times) / 1e9, 2),
                  "runs": len(stream_times)}
    rows = [model_row(s, step_times[s.name], best) for s in subjects]
    for row in rows:
        log(f"roofline: {row['model']:13s} batch {row['batch']}: "
            f"{row['memory']['images_per_s']:8.1f} img/s in memory "
            f"({row['memory']['gflops']:.2f} GFLOP/s, {row['memory']['fraction_of_matmul']:.3f}"
            f" of matmul), {row['pipeline']['images_per_s']:8.1f} img/s on the pipeline, "
            f"pipeline alone {row['input']['images_per_s']:8.1f} img/s")
    profiles = []
    by_name = {s.name: s for s in subjects}
    for name in profile_models:
        if name not in by_name:
            continue
        logdir = tempfile.mkdtemp(prefix="kzoo-roofline-profile-")
        try:
            profiles.append(profile(by_name[name], profile_steps, logdir))
        finally:
            shutil.rmtree(logdir, ignore_errors=True)
    return {
        "benchmark": NAME,
        "settings": {"models": list(models), "rounds": rounds, "steps": steps,
                     "matmul_sizes": list(matmul_sizes), "stream_elements": stream_elements,
                     "batch_size": batch_size, "jit_compile": bool(jit_compile),
                     "batch_norm_impl": batch_norm_impl,
                     "profile_models": list(profile_models), "profile_steps": profile_steps,
                     **settings},
        "machine": machine(),
        "nominal_peak": nominal_peak(),
        "matmul": matmul_rows, "matmul_gflops": best,
        "stream": stream_row,
        "models": rows,
        "profiles": profiles,
        "verdict": verdict(rows, best),
        "seconds": round(time.time() - started, 1),
    }


def verdict(rows, matmul_gflops):
    """The recipe model's fraction of the matmul rate against GOAL_FRACTION (None without it)."""
    row = next((r for r in rows if r["model"] == RECIPE_MODEL), None)
    if row is None:
        return {"met": None, "text": f"{RECIPE_MODEL} was not timed"}
    fraction = row["memory"]["fraction_of_matmul"]
    met = fraction >= GOAL_FRACTION
    return {"met": met, "fraction": fraction, "goal": GOAL_FRACTION,
            "text": (f"the recipe {RECIPE_MODEL} (width 16) trains at {fraction:.3f} of the "
                     f"matmul rate ({row['memory']['gflops']:.2f} of {matmul_gflops:.2f} "
                     f"GFLOP/s): the goal of {GOAL_FRACTION} is "
                     f"{'met' if met else 'not met'}")}


# --------------------------------------------------------------------------- #
# The report
# --------------------------------------------------------------------------- #

def _settings_text(s):
    parts = [f"{s['rounds']} rounds of {s['steps']} steps",
             f"intra-op threads {s['intra_op_threads'] or 'default'}",
             f"inter-op threads {s['inter_op_threads'] or 'default'}",
             f"XLA {'on' if s['jit_compile'] else 'off'}",
             f"oneDNN {'on' if s.get('onednn') else 'off'}",
             f"BatchNorm {s.get('batch_norm_impl', 'formula')}",
             f"op determinism {'on' if s['op_determinism'] else 'off'}"]
    if s.get("batch_size"):
        parts.append(f"batch {s['batch_size']} for every model")
    return "; ".join(parts)


def to_markdown(results):
    """The report: the limits, the models against them, the profiles."""
    s, m = results["settings"], results["machine"]
    lines = [f"Roofline of the small zoo models ({machine_text(m)}, Python {m['python']}, "
             f"TF {m['tensorflow']}); {_settings_text(s)}; medians of interleaved steps.", "",
             *(["**A smoke run (`--quick`): these numbers are not for keeping.**", ""]
               if s.get("quick") else []),
             f"**Verdict:** {results['verdict']['text']}.", "",
             "#### The machine's limits (same process)", "",
             "| measurement | best | median | runs |", "|---|---|---|---|"]
    for row in results["matmul"]:
        lines.append(f"| float32 matmul {row['n']}×{row['n']} | {row['gflops']:.1f} GFLOP/s "
                     f"({row['best_ms']:.1f} ms) | {row['median_gflops']:.1f} GFLOP/s | "
                     f"{row['runs']} |")
    st = results["stream"]
    lines.append(f"| memory bandwidth, `x * a + b` over {st['elements']:,} float32 | "
                 f"{st['gb_per_s']:.1f} GB/s ({st['best_ms']:.1f} ms) | "
                 f"{st['median_gb_per_s']:.1f} GB/s | {st['runs']} |")
    peak = results.get("nominal_peak")
    if peak:
        lines += ["", f"Nominal float32 peak: {peak['gflops']:.1f} GFLOP/s ({peak['cores']} "
                  f"cores × {peak['mhz']:.0f} MHz × {peak['lanes']} lanes"
                  f"{' × 2 (FMA)' if peak['fma'] else ''} × {peak['assumed_fma_units']} FMA "
                  f"units, assumed); the best matmul reaches "
                  f"{results['matmul_gflops'] / peak['gflops']:.2f} of it."]
    lines += ["", "#### Training steps against the matmul rate", "",
              "Achieved GFLOP/s = 3 × forward FLOPs × images/s; fraction = of the best "
              "matmul rate. *In memory*: the step on one in-memory batch (compute only); "
              "*pipeline*: the step fed by kzoo's input pipeline, as `kzoo train` runs it; "
              "*pipeline alone*: batches the pipeline delivers with nothing training.", "",
              "| model | input | batch | forward MFLOPs | ms/step in memory | images/s in "
              "memory | GFLOP/s | fraction of matmul | images/s on pipeline | images/s "
              "pipeline alone (augment) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["models"]:
        mem, fed, inp = r["memory"], r["pipeline"], r["input"]
        lines.append(
            f"| `{r['model']}` | {'×'.join(map(str, r['input_shape']))} | {r['batch']} | "
            f"{r['forward_flops'] / 1e6:.1f} | {mem['step_ms']:.1f} | "
            f"{mem['images_per_s']:.0f} | {mem['gflops']:.2f} | "
            f"{mem['fraction_of_matmul']:.3f} | {fed['images_per_s']:.0f} | "
            f"{inp['images_per_s']:.0f} ({r['augment'] or 'none'}) |")
    slow = [r["model"] for r in results["models"] if r["input_headroom"] < 1.0]
    lines += ["", "Input a bottleneck (the pipeline alone delivers fewer images/s than the "
              "model trains on in memory): " + (", ".join(slow) if slow else "none") + "."]
    for p in results.get("profiles", []):
        lines += ["", f"#### Where the step time goes: `{p['model']}` (batch {p['batch']})", "",
                  f"A profile of {p['steps']} steps on the input pipeline (TensorFlow's "
                  f"per-op self times): wall {p['wall_ms_per_step']:.1f} ms per step, op "
                  f"self time {p['op_self_ms_per_step']:.1f} ms per step"
                  + (f" (wall − ops: {p['unaccounted_ms_per_step']:.1f} ms of Python, "
                     f"dispatch and waiting)" if p.get("unaccounted_ms_per_step") else
                     " (more than the wall time: ops ran at once on the inter-op and "
                     "tf.data threads)")
                  + f". A step at batch 1, the fixed cost of a step (Python, dispatch, "
                  f"one launch per op), takes {p['batch1_step_ms']:.1f} ms.", "",
                  "| category | ms per step | share of op time | main op types |",
                  "|---|---|---|---|"]
        for c in CATEGORIES:
            row = p["categories"][c]
            if not row["ms_per_step"]:
                continue
            lines.append(f"| {CATEGORY_LABELS[c]} | {row['ms_per_step']:.1f} | "
                         f"{100 * row['share']:.1f}% | "
                         f"{', '.join(row['top_op_types']) or '—'} |")
    lines += ["", f"The run took {results['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def docs_markdown(results_dir=RESULTS_DIR):
    """The docs page's tables: `results/roofline.json` through `to_markdown`, or a
    placeholder table while no run has been written."""
    if not os.path.exists(os.path.join(results_dir, f"{NAME}.json")):
        return ("No results yet: run `./scripts/run bench roofline` and build the docs.\n\n"
                "| measurement | result |\n|---|---|\n| float32 matmul rate | not measured |\n")
    return for_docs(to_markdown(read_results(NAME, results_dir)))


def _names(text, allowed, parser, flag):
    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        parser.error(f"{flag}: unknown model(s) {unknown}; expected some of {list(allowed)}")
    return names


def _ints(text, parser, flag):
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        parser.error(f"{flag}: expected comma-separated integers, got {text!r}")
    if not values or min(values) <= 0:
        parser.error(f"{flag}: expected positive integers, got {text!r}")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks roofline",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=", ".join(MODELS))
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model per round")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 round of 2 steps, 1024/2048 matmuls, 2^22 "
                             "floats streamed, 2 profiled steps (numbers not for keeping)")
    parser.add_argument("--matmul-sizes", default="2048,4096")
    parser.add_argument("--stream-elements", type=int, default=2**26)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="one batch for every model (default: each run's own)")
    parser.add_argument("--jit-compile", action="store_true", help="compile with XLA")
    parser.add_argument("--batch-norm-impl", choices=("fused", "formula"), default="fused",
                        help="kzoo train's --batch-norm-impl")
    parser.add_argument("--intra-op-threads", type=int, default=None)
    parser.add_argument("--inter-op-threads", type=int, default=None)
    parser.add_argument("--no-determinism", action="store_true",
                        help="leave op determinism off (kzoo train turns it on)")
    parser.add_argument("--profile-models", default=RECIPE_MODEL,
                        help="models whose step is profiled ('' for none)")
    parser.add_argument("--profile-steps", type=int, default=5)
    parser.add_argument("--output-dir", default=RESULTS_DIR,
                        help="where roofline.json and .md go (default benchmarks/results)")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args(argv)
    models = _names(args.models, MODELS, parser, "--models")
    profiled = _names(args.profile_models, MODELS, parser, "--profile-models")
    sizes = _ints(args.matmul_sizes, parser, "--matmul-sizes")
    rounds, steps, elements, profile_steps = (args.rounds, args.steps, args.stream_elements,
                                              args.profile_steps)
    if args.quick:
        rounds, steps, elements, profile_steps = 1, 2, 2**22, 2
        sizes = [min(n, 1024 * (i + 1)) for i, n in enumerate(sizes)]
    results = run(models=models, rounds=rounds, steps=steps, matmul_sizes=sizes,
                  stream_elements=elements, batch_size=args.batch_size,
                  jit_compile=args.jit_compile, batch_norm_impl=args.batch_norm_impl,
                  intra=args.intra_op_threads,
                  inter=args.inter_op_threads, determinism=not args.no_determinism,
                  profile_models=profiled, profile_steps=profile_steps)
    results["settings"]["quick"] = args.quick
    markdown = to_markdown(results)
    print(markdown)
    if not args.no_write:
        write_results(NAME, results, markdown, results_dir=args.output_dir)
    return results


if __name__ == "__main__":
    main()
