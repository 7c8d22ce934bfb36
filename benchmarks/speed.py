"""Inference and training speed of every zoo model, against keras.applications (timm's CSVs).

For every registered model at its default input size: samples per second of
inference (`model(x, training=False)` in a `tf.function`) and of training
(one SGD step: forward, loss, gradients, update, in a `tf.function`) at a
fixed batch, written in timm's benchmark CSV format (read it by header):
`model, infer_samples_per_sec, infer_step_time (ms per batch),
infer_batch_size, infer_img_size, param_count (millions), infer_gmacs`, and
the same with `train_` — one file per mode, named
`speed-{infer|train}-{precision}-nhwc-tf-{device}.csv`.

The batch follows the default input side: models at most `SMALL_SIDE` (64)
pixels wide run at `--small-batch` (256), models wider than `LARGE_SIDE`
(320: EfficientNet B4-B7 and V2-S/M/L, 380 to 600 pixels) at `--large-batch`
(2), so that a step of the biggest stays seconds, not minutes, on 2 cores,
and the others (224-300 pixels) at `--batch` (16).

Beside each zoo model that keras.applications also has (`APPLICATIONS`:
vgg16, vgg19, resnet50, resnet101, resnet152, inception_v3, the MobileNets
V1, V2, V3 Small and Large, EfficientNet B0-B7 and EfficientNetV2 B0-B3,
S, M, L, ResNet50/101/152 V2, DenseNet 121/169/201, Xception,
InceptionResNetV2, NASNet Mobile/Large, ConvNeXt T/S/B/L/XL: all 40), the
keras.applications model (`weights=None`, same input, its
other arguments at their defaults, as the zoo model's: both EfficientNets
MobileNetV3 and ConvNeXt include their preprocessing) is timed in the same process,
its steps interleaved with the zoo model's, and the ratio zoo /
keras.applications of samples per second is reported (goal: >= 0.98 for
each pair, inference and training). `--conv-impl im2col` rows are added for
the models small enough to time here (`--im2col-models`). On a GPU machine
the device is in the file names and `mixed_float16` rows are added. Rows
named `model.tag` (`VARIANTS`) time a registered model with other builder
arguments: the zoo's Fashion-MNIST networks at 28×28×1. Each row is kept as
soon as it is measured (`.speed-rows-{device}.json` in the output folder),
so a killed run resumes; `--fresh` re-times everything. A run of some
`--models` rewrites their rows and keeps the CSVs' rows of the other models.

    python -m benchmarks speed                         # every model (hours on 2 cores)
    python -m benchmarks speed --models lenet,resnet50 --steps 5
"""

import argparse
import os
import statistics
import time

import numpy as np

RESULTS = os.path.join(os.path.dirname(__file__), "results")
#: The zoo models keras.applications also has, with its constructor names.
APPLICATIONS = {"vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50",
                "resnet101": "ResNet101", "resnet152": "ResNet152",
                "inception_v3": "InceptionV3", "mobilenet": "MobileNet",
                "mobilenet_v2": "MobileNetV2", "mobilenet_v3_small": "MobileNetV3Small",
                "mobilenet_v3_large": "MobileNetV3Large",
                **{f"efficientnet_b{i}": f"EfficientNetB{i}" for i in range(8)},
                **{f"efficientnet_v2_b{i}": f"EfficientNetV2B{i}" for i in range(4)},
                **{f"efficientnet_v2_{s}": f"EfficientNetV2{s.upper()}" for s in "sml"},
                **{f"resnet{d}_v2": f"ResNet{d}V2" for d in (50, 101, 152)},
                **{f"densenet{d}": f"DenseNet{d}" for d in (121, 169, 201)},
                "xception": "Xception", "inception_resnet_v2": "InceptionResNetV2",
                "nasnet_mobile": "NASNetMobile", "nasnet_large": "NASNetLarge",
                **{f"convnext_{s.lower()}": f"ConvNeXt{s}"
                   for s in ("Tiny", "Small", "Base", "Large", "XLarge")}}
SMALL_SIDE = 64  # models at most this wide run at the small-model batch
LARGE_SIDE = 320  # models wider than this run at the large-model batch
COLUMNS = ["model", "{m}_samples_per_sec", "{m}_step_time", "{m}_batch_size", "{m}_img_size",
           "param_count", "{m}_gmacs", "conv_impl", "precision", "device",
           "keras_applications_samples_per_sec", "ratio_vs_keras_applications"]
#: Timed steps per model (each model's steps interleaved with its pair's).
DEFAULT_STEPS = 7


def device_name():
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


#: Rows beyond the registry's defaults: a name (timm's `model.tag` form) -> the registered
#: model and its builder arguments. The zoo's Fashion-MNIST networks at their trained size.
VARIANTS = {
    "resnet9.w16_28": ("resnet9", {"width": 16, "input_shape": (28, 28, 1)}),
    "resnet20.28": ("resnet20", {"input_shape": (28, 28, 1)}),
}


def resolve(name):
    """(registered model, builder arguments) of a row name: a registry name or a VARIANTS key."""
    from kzoo.models import registry

    if name in VARIANTS:
        model, kwargs = VARIANTS[name]
        return model, dict(kwargs)
    return name, {"input_shape": registry.get_entry(name).default_input_shape}


def build(name, *, conv_impl="native", applications=False):
    import keras

    import kzoo

    model_name, kwargs = resolve(name)
    if applications:
        return getattr(keras.applications, APPLICATIONS[model_name])(
            weights=None, input_shape=kwargs["input_shape"])
    return kzoo.create_model(model_name, conv_impl=conv_impl, **kwargs)


def stepper(model, mode, batch, seed=0):
    """A callable running one inference batch or one training step of `model`, timed."""
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shape = (batch, *model.input_shape[1:])
    x = tf.constant(rng.uniform(0, 1, size=shape).astype("float32"))
    classes = model.output_shape[-1]
    y = tf.constant(rng.integers(0, classes, size=(batch,)))
    if mode == "infer":
        fn = tf.function(lambda: model(x, training=False), jit_compile=False)
    else:
        optimizer = keras.optimizers.SGD(1e-3)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        optimizer.build(model.trainable_variables)

        @tf.function(jit_compile=False)
        def fn():
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return loss

    def step():
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), fn())
        return time.perf_counter() - start

    return step


def time_models(models, mode, batch, steps, warmup):
    """Median seconds per step of each model; steps interleaved across the models, in an
    order that alternates from one step to the next."""
    steppers = [stepper(m, mode, batch) for m in models]
    for s in steppers:
        for _ in range(warmup):
            s()
    times = [[] for _ in models]
    for i in range(steps):
        # The order alternates, so that neither model always runs right after the other.
        order = list(zip(steppers, times))
        for s, t in (order if i % 2 == 0 else order[::-1]):
            t.append(s())
    return [statistics.median(t) for t in times]


def measure(name, mode, *, batch, steps, warmup, conv_impl="native", precision="float32",
            pair=True, log=print):
    import keras

    from kzoo.models import count_flops

    keras.mixed_precision.set_global_policy(precision)
    keras.backend.clear_session()
    model = build(name, conv_impl=conv_impl)
    models = [model]
    if pair and conv_impl == "native" and name in APPLICATIONS:  # a registry name, not a variant
        models.append(build(name, applications=True))
    seconds = time_models(models, mode, batch, steps, warmup)
    img = model.input_shape[1]
    row = {"model": name if conv_impl == "native" else f"{name}.im2col",
           f"{mode}_samples_per_sec": round(batch / seconds[0], 2),
           f"{mode}_step_time": round(1e3 * seconds[0], 2), f"{mode}_batch_size": batch,
           f"{mode}_img_size": img, "param_count": round(model.count_params() / 1e6, 4),
           f"{mode}_gmacs": round(count_flops(model) / 2e9, 4), "conv_impl": conv_impl,
           "precision": precision, "device": device_name(),
           "keras_applications_samples_per_sec": "", "ratio_vs_keras_applications": "",
           "steps": steps}  # not a CSV column: the Markdown notes it
    if len(seconds) > 1:
        row["keras_applications_samples_per_sec"] = round(batch / seconds[1], 2)
        row["ratio_vs_keras_applications"] = round(seconds[1] / seconds[0], 3)
    log(f"speed: {row['model']:24s} {mode} {precision}: {row[f'{mode}_samples_per_sec']:9.2f}"
        f" samples/s (batch {batch}, {row[f'{mode}_step_time']:.1f} ms)"
        + (f", keras.applications {row['keras_applications_samples_per_sec']:.2f}: ratio "
           f"{row['ratio_vs_keras_applications']:.3f}" if len(seconds) > 1 else ""))
    keras.mixed_precision.set_global_policy("float32")
    return row


def write_csv(path, rows, mode):
    import csv

    from kzoo.utils import io

    header = [c.format(m=mode) for c in COLUMNS]
    with io.atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, header, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


def markdown(rows_by_mode, device, machine):
    lines = [f"Speed of the zoo's models ({device}, {machine}); samples per second, median "
             "of interleaved steps; ratio = zoo / keras.applications (goal >= 0.98).", ""]
    for mode, rows in rows_by_mode.items():
        lines += [f"#### {mode}", "", "| model | precision | batch | img | params (M) | GMACs | "
                  "samples/s | ms/batch | keras.applications samples/s | ratio |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| `{r['model']}` | {r['precision']} | {r[f'{mode}_batch_size']} | "
                f"{r[f'{mode}_img_size']} | {r['param_count']} | {r[f'{mode}_gmacs']} | "
                f"{r[f'{mode}_samples_per_sec']} | {r[f'{mode}_step_time']} | "
                f"{r['keras_applications_samples_per_sec']} | "
                f"{r['ratio_vs_keras_applications']} |")
        pairs = [r for r in rows if r["ratio_vs_keras_applications"] != ""]
        short = [r["model"] for r in pairs if r["ratio_vs_keras_applications"] < 0.98]
        if pairs:
            lines += ["", f"Pairs at >= 0.98: {len(pairs) - len(short)} of {len(pairs)}"
                      + (f"; short: {', '.join(short)}" if short else "") + "."]
        steps = {}  # rows kept from before the step count was recorded have none
        for r in rows:
            if r.get("steps"):
                steps.setdefault(r["steps"], []).append(r["model"])
        if steps:
            lines += ["", "Timed steps, where recorded: " + "; ".join(
                f"{n} for {', '.join(names)}" for n, names in sorted(steps.items())) + "."]
        lines.append("")
        table = throughput_table(rows) if mode == "train" else ""
        if table:
            lines += ["Training throughput of the Fashion-MNIST networks (28×28×1):", "",
                      table, ""]
    return "\n".join(lines)


#: The training-throughput table under the train table: the zoo's Fashion-MNIST networks at 28×28×1.
THROUGHPUT_MODELS = ("lenet", "resnet20.28", "resnet9.w16_28")


def throughput_table(rows):
    """Training images per second of THROUGHPUT_MODELS, native against im2col (Markdown)."""
    by_name = {r["model"]: r for r in rows}
    lines = ["| model | batch | native images/s | im2col images/s | im2col / native |",
             "|---|---|---|---|---|"]
    for name in THROUGHPUT_MODELS:
        native, im2col = by_name.get(name), by_name.get(f"{name}.im2col")
        if native is None:
            continue
        fast = native["train_samples_per_sec"]
        slow = im2col["train_samples_per_sec"] if im2col else None
        lines.append(f"| `{name}` | {native['train_batch_size']} | {fast:.0f} | "
                     + (f"{slow:.0f} | {slow / fast:.2f}× |" if slow else "— | — |"))
    return "\n".join(lines) if len(lines) > 2 else ""


def batch_of(name, args):
    """The batch of a row: by the default input side, `SMALL_SIDE` and `LARGE_SIDE`."""
    shape = resolve(name)[1]["input_shape"]
    if len(shape) < 3 or shape[0] <= SMALL_SIDE:  # the MLP's flat input is small
        return args.small_batch
    return args.large_batch if shape[0] > LARGE_SIDE else args.batch


def base_name(row):
    """The row name without `.im2col`: a registry name or a VARIANTS key."""
    return row["model"][:-len(".im2col")] if row["conv_impl"] == "im2col" else row["model"]


def row_key(name, mode, precision, conv_impl, batch, device):
    return f"{name}|{mode}|{precision}|{conv_impl}|{batch}|{device}"


def read_cache(path):
    import json

    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _number(text):
    """A CSV cell as `write_csv` had it: an int or a float when it reads as one, else the
    text (the empty keras.applications cells of unpaired models stay "")."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path):
    """The rows of one of `write_csv`'s files, numbers as numbers (read by header)."""
    import csv

    with open(path, newline="") as f:
        return [{key: _number(value) for key, value in row.items()}
                for row in csv.DictReader(f)]


def read_rows(results_dir=RESULTS, device="cpu", precisions=("float32", "mixed_float16")):
    """`(rows_by_mode, machine line)` of the results written for `device`, as `markdown`
    takes them: the rows from the CSVs, each with its timed steps from the rows file where
    that recorded them, and the machine line from the summary's first line (the CSVs,
    timm's columns, have none)."""
    import re

    cache = read_cache(os.path.join(results_dir, f".speed-rows-{device}.json"))
    rows_by_mode = {}
    for mode in ("infer", "train"):
        rows = []
        for precision in precisions:
            path = os.path.join(results_dir, f"speed-{mode}-{precision}-nhwc-tf-{device}.csv")
            if os.path.exists(path):
                rows += read_csv(path)
        for r in rows:
            kept = cache.get(row_key(base_name(r), mode, r["precision"], r["conv_impl"],
                                     r[f"{mode}_batch_size"], device), {})
            # The rows file's steps, if its row is the one the CSV holds.
            if kept.get(f"{mode}_samples_per_sec") == r[f"{mode}_samples_per_sec"]:
                r["steps"] = kept.get("steps")
        if rows:
            rows_by_mode[mode] = rows
    with open(os.path.join(results_dir, f"speed-{device}.md"), encoding="utf-8") as f:
        first = f.readline()
    found = re.match(rf"Speed of the zoo's models \({device}, (.*)\); samples per second", first)
    return rows_by_mode, found.group(1) if found else "machine not recorded"


def docs_markdown(results_dir=RESULTS, device="cpu"):
    """The docs page's tables: the CSVs of `device` through `markdown`."""
    import re

    from benchmarks.results_io import for_docs, machine_note

    rows_by_mode, machine_line = read_rows(results_dir, device)
    text = for_docs(markdown(rows_by_mode, device, machine_line))
    cpus = re.match(r"(\d+) CPUs( \()?", machine_line)
    if cpus and not cpus.group(2):  # the CPU's model is not in the line
        text += "\n" + machine_note({"cpus": int(cpus.group(1))})
    return text


def merge_rows(rows, mode, precisions, results_dir, cache, device):
    """`rows` and the rows of the other models in the CSVs of `mode` (with their timed steps
    from the rows file, as `read_rows` takes them), in the registry's order then VARIANTS',
    each `.im2col` row after its model's; rows of names no longer registered are dropped."""
    import kzoo

    order = {name: i for i, name in enumerate(kzoo.list_models() + list(VARIANTS))}
    measured = {r["model"] for r in rows}
    kept = []
    for precision in precisions:
        path = os.path.join(results_dir, f"speed-{mode}-{precision}-nhwc-tf-{device}.csv")
        if os.path.exists(path):
            kept += [r for r in read_csv(path)
                     if r["model"] not in measured and base_name(r) in order]
    for r in kept:
        row = cache.get(row_key(base_name(r), mode, r["precision"], r["conv_impl"],
                                r[f"{mode}_batch_size"], device), {})
        if row.get(f"{mode}_samples_per_sec") == r[f"{mode}_samples_per_sec"]:
            r["steps"] = row.get("steps")
    return sorted(kept + rows, key=lambda r: (order[base_name(r)], r["conv_impl"] != "native",
                                              r["precision"]))


def main(argv=None):
    import kzoo

    parser = argparse.ArgumentParser(prog="python -m benchmarks speed")
    parser.add_argument("--models", default=",".join(kzoo.list_models() + list(VARIANTS)),
                        help="registry names and/or " + ", ".join(VARIANTS))
    parser.add_argument("--modes", default="infer,train")
    parser.add_argument("--batch", type=int, default=16, help="batch of the ImageNet-size models")
    parser.add_argument("--large-batch", type=int, default=2,
                        help=f"batch of the models more than {LARGE_SIDE} pixels wide")
    parser.add_argument("--small-batch", type=int, default=256,
                        help=f"batch of the models at most {SMALL_SIDE} pixels wide")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--im2col-models",
                        default="lenet,lenet5,resnet20.28,maxout_net,resnet9.w16_28",
                        help="models also timed with conv_impl='im2col'")
    parser.add_argument("--output", default=RESULTS, help="folder of the CSV/Markdown files")
    parser.add_argument("--fresh", action="store_true",
                        help="re-time every row (default: reuse the rows a killed or earlier "
                             "run of the same settings measured)")
    args = parser.parse_args(argv)

    from benchmarks.results_io import machine, machine_text
    from kzoo.utils import io

    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in VARIANTS and m not in kzoo.list_models()]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; expected registry names or {list(VARIANTS)}")
    device = device_name()
    precisions = ["float32"] + (["mixed_float16"] if device == "gpu" else [])
    host = machine()
    machine_line = f"{machine_text(host)}, Python {host['python']}, TF {host['tensorflow']}"
    os.makedirs(args.output, exist_ok=True)
    # Every measured row is kept at once, so a killed run resumes where it stopped.
    cache_path = os.path.join(args.output, f".speed-rows-{device}.json")
    cache = {} if args.fresh else read_cache(cache_path)
    rows_by_mode = {}
    for mode in args.modes.split(","):
        rows = []
        for name in models:
            batch = batch_of(name, args)
            impls = ["native"] + (["im2col"] if name in args.im2col_models.split(",") else [])
            for precision in precisions:
                for impl in impls:
                    key = row_key(name, mode, precision, impl, batch, device)
                    if key not in cache:
                        cache[key] = measure(name, mode, batch=batch, steps=args.steps,
                                             warmup=args.warmup, conv_impl=impl,
                                             precision=precision)
                        io.write_json(cache_path, cache)
                    rows.append(cache[key])
        rows = merge_rows(rows, mode, precisions, args.output, cache, device)
        for precision in precisions:
            write_csv(os.path.join(args.output, f"speed-{mode}-{precision}-nhwc-tf-{device}.csv"),
                      [r for r in rows if r["precision"] == precision], mode)
        rows_by_mode[mode] = rows
    # The summary has every mode the CSVs hold, whichever modes this run timed.
    shown = {}
    for mode in ("infer", "train"):
        rows = rows_by_mode.get(mode) or merge_rows([], mode, precisions, args.output, cache,
                                                    device)
        if rows:
            shown[mode] = rows
    io.write_text(os.path.join(args.output, f"speed-{device}.md"),
                  markdown(shown, device, machine_line))
    return rows_by_mode


if __name__ == "__main__":
    main()
