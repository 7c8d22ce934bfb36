"""Exported files (SavedModel, LiteRT float32/float16/int8, ONNX) against the Keras model.

For each shipped checkpoint (`--checkpoints`: the LeNet and the ResNet-9 (width 16)
of Fashion-MNIST by default) it exports with `kzoo.serving.export_version` into a
temporary base folder: `format="all"` (the float SavedModel, a float32 LiteRT
file and an ONNX file beside it), `format="tflite", quantize="float16"` and
`format="tflite", quantize="int8"` (full-integer, uint8 input, calibrated by the
export on 500 seeded training images), and measures, each file run through its
own runtime (TensorFlow for the SavedModel, `ai-edge-litert` for LiteRT through
`kzoo.serving.litert.Runner`, `onnxruntime` through `kzoo.serving.onnx.Runner`):

- agreement: on the first `--images` (1,000) Fashion-MNIST test images, each
  file's top-1 agreement with the Keras model (the checkpoint loaded with
  `kzoo.serving.load_source`, called with `training=False`), its accuracy, and
  the largest absolute difference of its probabilities from Keras's;
- the int8 file's accuracy on the whole test split (10,000 images), as the export
  measured it (`kzoo.json`) and again here, against the float Keras model's on the
  same images: the drop in points. The checkpoint's recorded accuracy is given
  beside it; for a checkpoint trained with `--tta` (the ResNet-9) that number is
  of the mean of each image's and its horizontal flip's probabilities, which no
  exported file computes, so the drop is also given with that TTA on both sides;
- file size: the `.keras` checkpoint, the SavedModel (`saved_model.pb` and
  `variables/`), `model.tflite` of each quantization, `model.onnx`;
- batch-1 latency, p50 and p99 of `--latency-calls` (300) calls after
  `--warmup` (30) calls each, of seven calls in one process: the Keras model
  eager (`model(x, training=False)`) and compiled (`tf.function(model)`), the
  SavedModel's `serving_default` (`tf.saved_model.load`), the three LiteRT files
  and the ONNX file; in turns of `--block` (20) calls per call, the turn order
  reversed every other round (A B … G, G … B A), so that other load weighs on all
  alike. Each p50 is also given as a ratio to the compiled Keras call (the
  baseline). Every runtime gets the same number of threads: TensorFlow's
  intra-op pool, LiteRT's `num_threads`, onnxruntime's `intra_op_num_threads`;
  one run per `--threads` value (by default the CPU count, TensorFlow's default,
  then 1), each in a process of its own (TensorFlow fixes its thread pools once
  per process). The calls take a NumPy/`tf.constant` image prepared beforehand
  and end with the probabilities as a NumPy array.

Goals (issue 29): the int8 file agrees with the float Keras model's top-1 on ≥ 99%
of the 1,000 test images, and its test accuracy is at most 0.5 points below the
float model's, for each checkpoint. Writes `benchmarks/results/export.json` and
`.md`. A run takes two to three minutes on 2 cores (`--threads 1` and fewer
`--latency-calls` shorten it).

    python -m benchmarks export [--checkpoints lenet_fashion_mnist,resnet9_fashion_mnist]
        [--images 1000] [--latency-calls 300] [--warmup 30] [--block 20]
        [--threads N,1] [--no-write]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.results_io import (RESULTS_DIR, for_docs, machine, machine_note, machine_text,
                                   read_results, write_results)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINTS = ("lenet_fashion_mnist", "resnet9_fashion_mnist")
GOAL_AGREEMENT, GOAL_DROP_POINTS = 0.99, 0.5
BATCH = 250  # images per call when measuring accuracy

#: The exported files, in the report's order: key → (label, export quantization).
FILES = {
    "saved_model": "SavedModel (TensorFlow)",
    "litert_float32": "LiteRT float32",
    "litert_float16": "LiteRT float16 weights",
    "litert_int8": "LiteRT int8",
    "onnx": "ONNX (onnxruntime)",
}
#: The timed batch-1 calls, in the report's (and the first round's) order.
CALLS = {
    "keras_eager": "Keras `model(x, training=False)`, eager",
    "keras_compiled": "Keras `tf.function(model)` (baseline)",
    "saved_model": "SavedModel `serving_default` (`tf.saved_model.load`)",
    "litert_float32": "LiteRT float32 (`ai-edge-litert`)",
    "litert_float16": "LiteRT float16 weights (`ai-edge-litert`)",
    "litert_int8": "LiteRT int8 (`ai-edge-litert`)",
    "onnx": "ONNX (`onnxruntime`)",
}
BASELINE = "keras_compiled"


# --------------------------------------------------------------------------- #
# Measurements
# --------------------------------------------------------------------------- #


def summary(seconds):
    """p50, p99 and mean in ms of a list of durations in seconds."""
    ms = np.asarray(seconds, dtype="float64") * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "n": int(ms.size)}


def compare(probabilities, reference, labels):
    """Top-1 agreement of `probabilities` with `reference` (both (N, C)), their accuracy
    on `labels` and the largest absolute difference of the two."""
    probabilities, reference = np.asarray(probabilities), np.asarray(reference)
    top1 = probabilities.argmax(-1)
    return {"top1_agreement": float(np.mean(top1 == reference.argmax(-1))),
            "accuracy": float(np.mean(top1 == np.asarray(labels))),
            "max_abs_diff": float(np.abs(probabilities - reference).max()),
            "images": int(len(labels))}


def _batched(call, images):
    return np.concatenate([np.asarray(call(images[i:i + BATCH]), dtype=np.float32)
                           for i in range(0, len(images), BATCH)])


def _keras_probabilities(model, images):
    import tensorflow as tf

    return _batched(lambda x: model(tf.constant(x), training=False).numpy(), images)


def _tree_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def saved_model_bytes(directory):
    """The SavedModel's own bytes: `saved_model.pb` and `variables/` (not the assets,
    nor the LiteRT and ONNX files `format="all"` writes beside it)."""
    return (os.path.getsize(os.path.join(directory, "saved_model.pb"))
            + _tree_bytes(os.path.join(directory, "variables")))


def _checkpoint_file(checkpoint):
    from kzoo.models import pretrained

    entries = {entry["name"]: entry for entry in pretrained.read_manifest()}
    return pretrained.locate(entries[checkpoint]), entries[checkpoint]


def _export_all(checkpoint, name, base):
    """The three exports of `checkpoint`: `({file key: path}, {file key: its entry of
    kzoo.json's "formats"}, {export: seconds})`."""
    from kzoo.serving import export_version

    paths, entries, seconds = {}, {}, {}
    for label, kwargs in (("all", {"format": "all"}),
                          ("float16", {"format": "tflite", "quantize": "float16"}),
                          ("int8", {"format": "tflite", "quantize": "int8"})):
        print(f"  export {label} ...", flush=True)
        start = time.perf_counter()
        path, info = export_version(checkpoint, name, base=base, **kwargs)
        seconds[label] = time.perf_counter() - start
        formats = info["formats"]
        if label == "all":
            paths.update(saved_model=path, litert_float32=os.path.join(path, "model.tflite"),
                         onnx=os.path.join(path, "model.onnx"))
            entries.update(saved_model={**formats["saved_model"],
                                        "bytes": saved_model_bytes(path)},
                           litert_float32=formats["tflite"], onnx=formats["onnx"])
        else:
            paths[f"litert_{label}"] = os.path.join(path, formats["tflite"]["file"])
            entries[f"litert_{label}"] = formats["tflite"]
    return paths, entries, seconds


def _file_runners(paths, num_threads=None):
    """{file key: batch call answering probabilities} of the LiteRT and ONNX files, each
    through its own runtime with `num_threads` (None: the runtime's default)."""
    from kzoo.serving import litert
    from kzoo.serving import onnx as onnx_runtime

    runners = {}
    for key in ("litert_float32", "litert_float16", "litert_int8"):
        runner = litert.Runner(paths[key], num_threads=num_threads)
        runners[key] = lambda x, r=runner: r(x)["probabilities"]
    onnx_runner = onnx_runtime.Runner(paths["onnx"], num_threads=num_threads)
    runners["onnx"] = lambda x: onnx_runner(x)["probabilities"]
    return runners


def _signature(paths):
    import tensorflow as tf

    return tf.saved_model.load(paths["saved_model"]).signatures["serving_default"]


def measure_checkpoint(checkpoint, base, images, labels, test_images, test_labels):
    """Everything but the latency of one checkpoint: its exports, sizes, agreement and
    accuracies; also returns the exported files' paths."""
    import tensorflow as tf

    from kzoo.models import count_flops
    from kzoo.serving import load_source
    from kzoo.serving.export import CALIBRATION_IMAGES

    model, info = load_source(checkpoint)
    name = info.get("architecture") or "model"
    keras_file, entry = _checkpoint_file(checkpoint)
    paths, entries, export_seconds = _export_all(checkpoint, name, base)
    print("  agreement and accuracy ...", flush=True)
    reference = _keras_probabilities(model, images)
    signature = _signature(paths)
    runners = {"saved_model": lambda x: signature(images=tf.constant(x))["probabilities"]
               .numpy(), **_file_runners(paths)}
    files = {"keras": {"bytes": os.path.getsize(keras_file), "runtime": None,
                       **compare(reference, reference, labels)}}
    for key in FILES:
        got = _batched(runners[key], images)
        files[key] = {"bytes": int(entries[key]["bytes"]), "runtime": entries[key]["runtime"],
                      **compare(got, reference, labels)}
    int8 = entries["litert_int8"]
    # The whole test split: the float model against the int8 file (and, for a checkpoint
    # recorded with flip TTA, both with it).
    tta = bool(entry.get("tta") or (entry.get("config") or {}).get("tta"))
    float_test = _keras_probabilities(model, test_images)
    int8_test = _batched(runners["litert_int8"], test_images)
    test = {"images": int(len(test_labels)),
            "float": float(np.mean(float_test.argmax(-1) == test_labels)),
            "int8": float(np.mean(int8_test.argmax(-1) == test_labels)),
            "int8_export": int8.get("test_accuracy"),
            "int8_export_images": int8.get("test_images"),
            "recorded": info.get("test_accuracy"), "tta": tta}
    if tta:
        flipped = np.ascontiguousarray(test_images[:, :, ::-1])
        test["float_tta"] = float(np.mean(
            ((float_test + _keras_probabilities(model, flipped)) / 2).argmax(-1) == test_labels))
        test["int8_tta"] = float(np.mean(
            ((int8_test + _batched(runners["litert_int8"], flipped)) / 2).argmax(-1)
            == test_labels))
    return {
        "checkpoint": checkpoint, "architecture": info.get("architecture"),
        "params": info.get("params"), "mult_adds": int(count_flops(model) // 2),
        "model_kwargs": (entry.get("config") or {}).get("model_kwargs") or {},
        "input": "x".join(str(d) for d in model.input_shape[1:]) + " float32 pixels 0-255",
        "export_seconds": export_seconds,
        "int8": {key: int8.get(key) for key in ("input_type", "input_scale",
                                                "input_zero_point", "top1_agreement",
                                                "check_images")},
        "calibration_images": CALIBRATION_IMAGES, "onnx_opset": entries["onnx"].get("opset"),
        "files": files, "test": test,
    }, paths


# The latency of one checkpoint at one thread count runs in a process of its own:
# TensorFlow fixes its intra-op pool once per process.
def latency(spec):
    """Batch-1 latency of the seven calls (`CALLS`) of one checkpoint, in one process.

    `spec`: {"checkpoint", "paths" ({file key: path}), "threads", "calls", "warmup",
    "block", "images"}. The calls take turns of `block` calls each, the order of the
    turns reversed every other round. Returns {call: summary, ..., "max_abs_diff":
    {call: largest difference from the Keras model's batch of the same images}}.
    """
    import tensorflow as tf

    threads = int(spec["threads"])
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    from kzoo.data.sources import load_arrays
    from kzoo.serving import load_source

    model, _ = load_source(spec["checkpoint"])
    pixels = load_arrays("fashion_mnist", "test")[0][:spec["images"]].astype(np.float32)
    expected = _keras_probabilities(model, pixels)
    arrays = [image[None] for image in pixels]
    tensors = [tf.constant(image) for image in arrays]
    compiled = tf.function(model, reduce_retracing=True)
    signature = _signature(spec["paths"])
    runners = _file_runners(spec["paths"], num_threads=threads)
    calls = {  # TensorFlow's calls take a tf.constant, the others a NumPy array
        "keras_eager": lambda i: model(tensors[i], training=False).numpy(),
        "keras_compiled": lambda i: compiled(tensors[i]).numpy(),
        "saved_model": lambda i: signature(images=tensors[i])["probabilities"].numpy(),
        **{key: (lambda i, r=runner: r(arrays[i])) for key, runner in runners.items()},
    }
    calls = {key: calls[key] for key in CALLS}
    n = len(arrays)
    worst = {key: 0.0 for key in calls}
    for key, call in calls.items():
        for i in range(spec["warmup"]):
            call(i % n)
    times = {key: [] for key in calls}
    order, block, total = list(calls), spec["block"], spec["calls"]
    for turn in range(-(-total // block)):
        first, count = turn * block, min(block, total - turn * block)
        for key in (order if turn % 2 == 0 else order[::-1]):
            call = calls[key]
            for k in range(first, first + count):
                start = time.perf_counter()
                got = call(k % n)
                times[key].append(time.perf_counter() - start)
                worst[key] = max(worst[key], float(np.abs(got[0] - expected[k % n]).max()))
    result = {key: summary(value) for key, value in times.items()}
    result["max_abs_diff"] = worst
    result["threads"] = threads
    return result


def _latency_process(spec):
    """`latency(spec)` in a child process (`python -c`), its answer read back."""
    with tempfile.TemporaryDirectory(prefix="kzoo-bench-export-lat-") as tmp:
        spec_path, out_path = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        code = ("import json, sys; from benchmarks.export import latency; "
                "json.dump(latency(json.load(open(sys.argv[1]))), open(sys.argv[2], 'w'))")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run([sys.executable, "-c", code, spec_path, out_path], check=True,
                       cwd=REPO, env=env)
        with open(out_path) as f:
            return json.load(f)


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("keras", "ai-edge-litert", "onnxruntime", "tf2onnx", "onnx"):
        try:
            found[package.replace("-", "_")] = version(package)
        except PackageNotFoundError:
            found[package.replace("-", "_")] = None
    return found


def run(*, checkpoints=CHECKPOINTS, images=1000, latency_calls=300, warmup=30, block=20,
        threads=None):
    from kzoo.data.sources import load_arrays

    began = time.monotonic()
    threads = list(threads or default_threads())
    load_before = os.getloadavg()
    test_images, test_labels, _ = load_arrays("fashion_mnist", "test")
    test_images = test_images.astype(np.float32)
    test_labels = np.asarray(test_labels)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kzoo-bench-export-") as tmp:
        for checkpoint in checkpoints:
            print(f"{checkpoint}:", flush=True)
            row, paths = measure_checkpoint(checkpoint, os.path.join(tmp, checkpoint),
                                            test_images[:images], test_labels[:images],
                                            test_images, test_labels)
            print(f"  int8: top-1 agreement {row['files']['litert_int8']['top1_agreement']:.2%}"
                  f" on {images} images; test accuracy float {row['test']['float']:.2%}, "
                  f"int8 {row['test']['int8']:.2%}", flush=True)
            row["latency"] = {}
            for n in threads:
                print(f"  latency, {n} thread(s), {latency_calls} batch-1 calls per call ...",
                      flush=True)
                lat = _latency_process({"checkpoint": checkpoint, "paths": paths,
                                        "threads": n, "calls": latency_calls,
                                        "warmup": warmup, "block": block,
                                        "images": min(images, 100)})
                row["latency"][str(n)] = lat
                print("   " + ", ".join(f"{key} {lat[key]['p50_ms']:.3f}" for key in CALLS)
                      + " ms (p50)", flush=True)
            rows.append(row)
    results = {
        "benchmark": "export",
        "what": "exported files (SavedModel, LiteRT float32/float16/int8, ONNX) run in their "
                "own runtimes against the Keras model: agreement, accuracy, size, batch-1 "
                "latency",
        "goals": {"int8_top1_agreement": GOAL_AGREEMENT,
                  "int8_test_accuracy_drop_points": GOAL_DROP_POINTS},
        "machine": machine(**_versions(), platform=platform.platform(),
                           load_average_before=[round(v, 2) for v in load_before],
                           load_average_after=[round(v, 2) for v in os.getloadavg()]),
        "settings": {"images": images, "latency_calls": latency_calls, "warmup": warmup,
                     "block": block, "threads": threads, "latency_images": min(images, 100),
                     "turn_order": "A B … G, G … B A"},
        "checkpoints": rows,
        "wall_seconds": time.monotonic() - began,
    }
    results["verdicts"] = verdicts(results)
    return results


def default_threads():
    """The CPU count (TensorFlow's default intra-op pool), then 1."""
    return list(dict.fromkeys([os.cpu_count() or 1, 1]))


# --------------------------------------------------------------------------- #
# Verdicts and the report
# --------------------------------------------------------------------------- #


def verdicts(results):
    """Per checkpoint: the int8 file's top-1 agreement (≥ `GOAL_AGREEMENT`) and its test
    accuracy drop against the float Keras model on the same images (≤
    `GOAL_DROP_POINTS`); the drop against the recorded accuracy and, for a TTA
    checkpoint, with TTA on both sides, beside them (not judged)."""
    out = []
    for row in results["checkpoints"]:
        agreement = row["files"]["litert_int8"]["top1_agreement"]
        t = row["test"]
        drop = 100 * (t["float"] - t["int8"])
        verdict = {
            "checkpoint": row["checkpoint"],
            "agreement": {"value": agreement, "images": row["files"]["litert_int8"]["images"],
                          "met": agreement >= GOAL_AGREEMENT},
            "drop": {"float": t["float"], "int8": t["int8"], "points": drop,
                     "met": drop <= GOAL_DROP_POINTS + 1e-9},
        }
        if t.get("recorded") is not None:
            verdict["drop_vs_recorded"] = {"recorded": t["recorded"], "tta": t["tta"],
                                           "points": 100 * (t["recorded"] - t["int8"])}
        if t.get("float_tta") is not None:
            verdict["drop_tta"] = {"float": t["float_tta"], "int8": t["int8_tta"],
                                   "points": 100 * (t["float_tta"] - t["int8_tta"])}
        verdict["met"] = verdict["agreement"]["met"] and verdict["drop"]["met"]
        out.append(verdict)
    return out


def _yes(met):
    return "**met**" if met else "**not met**"


def _size(n):
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _pct(x):
    return f"{100 * x:.2f}%"


def _model_text(row):
    width = row.get("model_kwargs", {}).get("width")
    parts = [f"`{row['checkpoint']}`"]
    if row.get("params"):
        parts.append(f"{row['params']:,} parameters")
    if row.get("mult_adds"):
        parts.append(f"{row['mult_adds'] / 1e6:.1f} M multiply-adds per image")
    return (f"{row['architecture']}" + (f", width {width}" if width else "")
            + f" ({', '.join(parts)})")


def _threads_label(n, cpus):
    return (f"{n} thread{'s' if n != 1 else ''}"
            + (" (the CPU count, TensorFlow's default)" if n == cpus and n != 1 else ""))


def summary_markdown(results):
    """One table over the checkpoints: the goals, the int8 file's size and speed."""
    threads = [str(n) for n in results["settings"]["threads"]]
    lines = ["| model | int8 top-1 agreement (goal ≥ 99%) | int8 test accuracy drop "
             "(goal ≤ 0.5 points) | int8 / float32 LiteRT size | "
             + " | ".join(f"int8 LiteRT p50 / compiled Keras, {n} thread{'s' * (n != '1')}"
                          for n in threads) + " |",
             "|---|---|---|---|" + "---|" * len(threads)]
    for row, v in zip(results["checkpoints"], verdicts(results)):
        a, d, files = v["agreement"], v["drop"], row["files"]
        ratios = []
        for n in threads:
            lat = row["latency"].get(n)
            ratios.append(f"{lat['litert_int8']['p50_ms'] / lat[BASELINE]['p50_ms']:.2f}×"
                          if lat else "—")
        lines.append(
            f"| `{row['architecture']}` | {_pct(a['value'])} — {_yes(a['met'])} | "
            f"{d['points']:.2f} ({_pct(d['float'])} → {_pct(d['int8'])}) — {_yes(d['met'])} | "
            f"{files['litert_int8']['bytes'] / files['litert_float32']['bytes']:.2f}× | "
            + " | ".join(ratios) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(results):
    m, s = results["machine"], results["settings"]
    cpus = m.get("cpus")
    lines = [
        f"Exported files against the Keras model, {machine_text(m)}, TF {m['tensorflow']}, "
        f"Keras {m.get('keras')}, ai-edge-litert {m.get('ai_edge_litert')}, onnxruntime "
        f"{m.get('onnxruntime')} (tf2onnx {m.get('tf2onnx')}, onnx {m.get('onnx')}), Python "
        f"{m['python']}; load average {m['load_average_before'][0]:.2f} before, "
        f"{m['load_average_after'][0]:.2f} after"
        + (f"; the run took {results['wall_seconds'] / 60:.1f} min."
           if "wall_seconds" in results else "."),
        "",
        summary_markdown(results).rstrip("\n"),
    ]
    for row, v in zip(results["checkpoints"], verdicts(results)):
        files, t, q = row["files"], row["test"], row["int8"]
        lines += [
            "",
            f"### {_model_text(row)}",
            "",
            f"On the first {files['keras']['images']:,} Fashion-MNIST test images, each file "
            "through its own runtime against the Keras model (sizes: the `.keras` checkpoint; "
            "the SavedModel's `saved_model.pb` and `variables/`):",
            "",
            "| file | runtime | size | size / `.keras` | top-1 agreement with Keras | "
            "accuracy | max \\|Δ probability\\| |",
            "|---|---|---|---|---|---|---|",
        ]
        keras_bytes = files["keras"]["bytes"]
        labels = {"keras": "Keras model (`.keras` checkpoint)", **FILES}
        for key, label in labels.items():
            f = files[key]
            if key == "litert_int8":
                label += (f" ({q['input_type']} input, scale {q['input_scale']:g}, zero point "
                          f"{q['input_zero_point']})")
            elif key == "onnx" and row.get("onnx_opset"):
                label += f", opset {row['onnx_opset']}"
            runtime = f["runtime"] or f"keras {m.get('keras')}"
            lines.append(f"| {label} | {runtime} | {_size(f['bytes'])} | "
                         f"{f['bytes'] / keras_bytes:.2f}× | {_pct(f['top1_agreement'])} | "
                         f"{_pct(f['accuracy'])} | {f['max_abs_diff']:.2g} |")
        e = row["export_seconds"]
        lines += [
            "",
            f"The whole test split ({t['images']:,} images): the float Keras model "
            f"{_pct(t['float'])}, the int8 file {_pct(t['int8'])}"
            + (f" (the export's own measurement, in `kzoo.json`: {_pct(t['int8_export'])})"
               if t.get("int8_export") is not None else "")
            + f"; the checkpoint's recorded accuracy {_pct(t['recorded'])}"
            + (" (with flip TTA: the mean of each image's and its horizontal flip's "
               f"probabilities; with TTA on both sides: float {_pct(t['float_tta'])}, int8 "
               f"{_pct(t['int8_tta'])})" if t.get("float_tta") is not None else "")
            + f". Export times: `format=\"all\"` {e['all']:.1f} s, float16 {e['float16']:.1f} s, "
            f"int8 {e['int8']:.1f} s (calibration on {row['calibration_images']} training "
            "images and the export's own check on the test split included).",
            "",
            f"Batch-1 latency, {s['latency_calls']} calls each after {s['warmup']} warm-up "
            f"calls, in turns of {s['block']} calls per call, the order reversed every other "
            f"round; the same thread count for every runtime (TensorFlow's intra-op pool, "
            f"LiteRT's `num_threads`, onnxruntime's `intra_op_num_threads`); ratio = p50 / "
            f"the compiled Keras call's p50:",
            "",
        ]
        threads = [str(n) for n in s["threads"] if str(n) in row["latency"]]
        header = "| call |" + "".join(
            f" {_threads_label(int(n), cpus)}: p50 ms | p99 ms | ratio |" for n in threads)
        lines += [header, "|---|" + "---|---|---|" * len(threads)]
        for key, label in CALLS.items():
            cells = []
            for n in threads:
                lat = row["latency"][n]
                cells.append(f" {lat[key]['p50_ms']:.3f} | {lat[key]['p99_ms']:.3f} | "
                             f"{lat[key]['p50_ms'] / lat[BASELINE]['p50_ms']:.2f}× |")
            lines.append(f"| {label} |" + "".join(cells))
        a, d = v["agreement"], v["drop"]
        lines += [
            "",
            f"Goal: int8 top-1 agreement with the float Keras model ≥ {GOAL_AGREEMENT:.0%} on "
            f"{a['images']:,} test images: {_pct(a['value'])} — {_yes(a['met'])}.",
            f"Goal: int8 test accuracy ≤ {GOAL_DROP_POINTS:g} points below the float model's "
            f"(the Keras model on the same {t['images']:,} images): {_pct(d['float'])} → "
            f"{_pct(d['int8'])}, {d['points']:.2f} points — {_yes(d['met'])}.",
        ]
        extra = []
        if "drop_vs_recorded" in v:
            r = v["drop_vs_recorded"]
            extra.append(f"against the recorded {_pct(r['recorded'])}"
                         + (" (with TTA)" if r["tta"] else "") + f": {r['points']:.2f} points")
        if "drop_tta" in v:
            extra.append(f"with TTA on both sides: {v['drop_tta']['points']:.2f} points")
        if extra:
            lines.append("The drop " + "; ".join(extra) + " (not judged).")
    return "\n".join(lines) + "\n"


def docs_markdown(results_dir=RESULTS_DIR):
    """The docs page's tables: `results/export.json` through `to_markdown`."""
    results = read_results("export", results_dir)
    note = machine_note(results["machine"])
    return for_docs(to_markdown(results)) + (f"\n{note}" if note else "")


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def _ints(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(
            f"expected distinct comma-separated integers >= 1 (e.g. 2,1), got {text!r}")
    return values


def _names(text):
    return [v.strip() for v in text.split(",") if v.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=_names, default=list(CHECKPOINTS),
                        help=f"zoo checkpoints to export [default: {','.join(CHECKPOINTS)}]")
    parser.add_argument("--images", type=int, default=1000,
                        help="test images of the agreement and accuracy columns")
    parser.add_argument("--latency-calls", type=int, default=300,
                        help="timed batch-1 calls per call and thread count")
    parser.add_argument("--warmup", type=int, default=30, help="calls before timing")
    parser.add_argument("--block", type=int, default=20, help="calls per turn")
    parser.add_argument("--threads", type=_ints, default=default_threads(),
                        help="thread counts of the latency runs, one process each "
                        "[default: the CPU count, then 1]")
    parser.add_argument("--no-write", action="store_true", help="print only")
    ns = parser.parse_args(argv)
    results = run(checkpoints=ns.checkpoints, images=ns.images,
                  latency_calls=ns.latency_calls, warmup=ns.warmup, block=ns.block,
                  threads=ns.threads)
    markdown = to_markdown(results)
    if not ns.no_write:
        write_results("export", results, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
