"""Im2Col convolution and pooling against the native kernels, same process.

For each shape, times the forward pass and the forward+backward pass (gradient
with respect to the input and the kernel) of `kzoo.layers.Conv2D` /
`MaxPool2D` / `AvgPool2D` with `implementation="im2col"` and `"native"`, each
compiled with `tf.function`, and reports the ratio im2col / native: the median
of repeated runs after a warm-up, the two implementations timed alternately so
that other load on the machine weighs on both alike. Writes `benchmarks/results/im2col_speed.json`
and `.md`.

    python -m benchmarks im2col_speed [--repeats 20] [--quick]
"""

import argparse
import statistics
import time

import numpy as np
import tensorflow as tf

import kzoo
from benchmarks.results_io import (RESULTS_DIR, for_docs, machine, machine_note, machine_text,
                                   read_results, write_results)

# (label, batch, height, width, in channels, out channels, kernel)
CONV_SHAPES = [
    ("LeNet conv1 28x28x1->20 5x5", 256, 28, 28, 1, 20, 5),
    ("LeNet conv2 12x12x20->50 5x5", 256, 12, 12, 20, 50, 5),
    ("ResNet-20 32x32x16->16 3x3", 128, 32, 32, 16, 16, 3),
    ("ResNet-20 8x8x64->64 3x3", 128, 8, 8, 64, 64, 3),
]
# (label, layer class name, batch, height, width, channels, pool size)
POOL_SHAPES = [
    ("LeNet pool1 24x24x20 max 2", "MaxPool2D", 256, 24, 24, 20, 2),
    ("LeNet pool2 8x8x50 max 2", "MaxPool2D", 256, 8, 8, 50, 2),
    ("avg 32x32x16 3x3/2 same", "AvgPool2D", 128, 32, 32, 16, 3),
]


def _compiled(layer, x):
    """(forward, forward+backward) callables of `layer` on `x`, traced and warmed up."""
    layer.build(x.shape)

    @tf.function(jit_compile=False)
    def forward():
        return layer(x)

    @tf.function(jit_compile=False)
    def forward_backward():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x] + layer.trainable_variables)

    def run(fn):
        def call():
            for t in tf.nest.flatten(fn()):
                t.numpy()
        call()  # trace
        call()  # warm up
        return call

    return run(forward), run(forward_backward)


def _interleaved_medians(a, b, repeats):
    """Median seconds of `a` and `b`, timed alternately so load affects both alike."""
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((a, times_a), (b, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def _measure(label, make_layer, x, repeats):
    native_fwd, native_fb = _compiled(make_layer("native"), x)
    im2col_fwd, im2col_fb = _compiled(make_layer("im2col"), x)
    native_f, im2col_f = _interleaved_medians(native_fwd, im2col_fwd, repeats)
    native_b, im2col_b = _interleaved_medians(native_fb, im2col_fb, repeats)
    row = {
        "shape": label,
        "native_forward_ms": 1e3 * native_f,
        "im2col_forward_ms": 1e3 * im2col_f,
        "forward_ratio": im2col_f / native_f,
        "native_fwd_bwd_ms": 1e3 * native_b,
        "im2col_fwd_bwd_ms": 1e3 * im2col_b,
        "fwd_bwd_ratio": im2col_b / native_b,
    }
    print(f"{label:34s} forward {row['forward_ratio']:.2f}x   "
          f"forward+backward {row['fwd_bwd_ratio']:.2f}x", flush=True)
    return row


def run(repeats=20):
    rng = np.random.default_rng(0)
    conv_rows, pool_rows = [], []
    for label, batch, h, w, cin, cout, k in CONV_SHAPES:
        x = tf.constant(rng.normal(size=(batch, h, w, cin)).astype("float32"))
        conv_rows.append(_measure(
            label,
            lambda impl: kzoo.layers.Conv2D(cout, k, padding="same" if k == 3 else "valid",
                                            implementation=impl),
            x, repeats))
    for label, cls, batch, h, w, c, k in POOL_SHAPES:
        x = tf.constant(rng.normal(size=(batch, h, w, c)).astype("float32"))
        strides = 2
        padding = "same" if cls == "AvgPool2D" else "valid"
        pool_rows.append(_measure(
            label,
            lambda impl: getattr(kzoo.layers, cls)(k, strides, padding, implementation=impl),
            x, repeats))
    return {
        "benchmark": "im2col_speed",
        "what": "median time of im2col path / native kernel, same process, interleaved runs, tf.function, CPU",
        "target": "forward+backward within 2x of native",
        "machine": machine(),
        "repeats": repeats,
        "conv": conv_rows,
        "pool": pool_rows,
    }


def to_markdown(results):
    lines = [
        f"Im2Col vs native kernel ({machine_text(results['machine'])}, TF "
        f"{results['machine']['tensorflow']}, median of {results['repeats']} runs; ratio = "
        "im2col time / native time, lower is better; target: forward+backward ≤ 2×)",
        "",
        "| shape | native fwd ms | im2col fwd ms | fwd ratio | native fwd+bwd ms "
        "| im2col fwd+bwd ms | fwd+bwd ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["conv"] + results["pool"]:
        lines.append(
            f"| {row['shape']} | {row['native_forward_ms']:.2f} | {row['im2col_forward_ms']:.2f} "
            f"| {row['forward_ratio']:.2f}× | {row['native_fwd_bwd_ms']:.2f} "
            f"| {row['im2col_fwd_bwd_ms']:.2f} | {row['fwd_bwd_ratio']:.2f}× |"
        )
    return "\n".join(lines) + "\n"


def docs_markdown(results_dir=RESULTS_DIR):
    """The docs page's tables: `results/im2col_speed.json` through `to_markdown`."""
    results = read_results("im2col_speed", results_dir)
    note = machine_note(results["machine"])
    return for_docs(to_markdown(results)) + (f"\n{note}" if note else "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="print only")
    ns = parser.parse_args(argv)
    results = run(repeats=ns.repeats)
    if not ns.no_write:
        write_results("im2col_speed", results, to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()
