"""The cost of 2-replica `MirroredStrategy` on a CPU: training steps per second of each
strategy configuration, each measured in a fresh process, cached in `replicas.jsonl`."""

import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.tuning.processes import (ROOT, append_json_line, log, read_json_lines,
                                         subprocess_env)

REPLICA_CONFIGS = ("default", "mirrored1", "mirrored2")
REPLICA_MARK = "KZOO_REPLICA_RESULT "
# The settings a cached measurement must match (`replica_repeats` only adds runs).
REPLICA_KEYS = ("replica_model", "replica_dataset", "replica_batch", "replica_steps",
                "replica_warmup")


def replica_worker(config, settings):
    """In a fresh process: steps/s of one strategy configuration; prints one JSON line."""
    from kzoo import distribute  # the CPU split must precede every TF op

    if config == "default":
        strategy = distribute.get_strategy("default")
    elif config.startswith("mirrored"):
        strategy = distribute.get_strategy("mirrored", cpu_replicas=int(config[len("mirrored"):]))
    else:
        raise ValueError(f"Argument `config` must be one of {list(REPLICA_CONFIGS)}. "
                         f"Received: config={config!r}")
    import keras
    import numpy as np
    import tensorflow as tf

    from kzoo.data import catalog
    from kzoo.training.config import TrainConfig
    from kzoo.training.trainer import build_zoo_model

    batch, warmup, steps = (settings["replica_batch"], settings["replica_warmup"],
                            settings["replica_steps"])
    train_config = TrainConfig(settings["replica_model"], settings["replica_dataset"],
                               batch_size=batch).resolved()
    spec = catalog.get_spec(train_config.dataset)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch * 8, *spec.shape)).astype("float32")
    labels = rng.integers(0, spec.num_classes, size=(batch * 8,)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(
        batch, drop_remainder=True).prefetch(2)
    with strategy.scope():
        model = build_zoo_model(train_config)
        model.compile(optimizer=train_config.make_optimizer(warmup + steps),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    marks = {}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            if batch_index + 1 in (warmup, warmup + steps):
                marks[batch_index + 1] = (time.perf_counter(), time.process_time())

    model.fit(data, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[Clock()])
    (w0, c0), (w1, c1) = marks[warmup], marks[warmup + steps]
    result = {"config": config, "replicas": strategy.num_replicas_in_sync,
              "devices": [d.name for d in tf.config.list_logical_devices("CPU")],
              "global_batch": batch, "steps": steps, "seconds": w1 - w0,
              "steps_per_second": steps / (w1 - w0), "cpu_seconds_per_step": (c1 - c0) / steps}
    print(REPLICA_MARK + json.dumps(result), flush=True)


def cached_replicas(settings, runs_dir):
    """The measurements in `replicas.jsonl` made with these settings."""
    wanted = {k: settings[k] for k in REPLICA_KEYS}
    return [r for r in read_json_lines(os.path.join(runs_dir, "replicas.jsonl"))
            if r.get("settings") == wanted]


def run_replicas(settings, runs_dir, configs=REPLICA_CONFIGS):
    """Each configuration in its own process, interleaved `replica_repeats` times (cached)."""
    cache = os.path.join(runs_dir, "replicas.jsonl")
    wanted = {k: settings[k] for k in REPLICA_KEYS}
    done = cached_replicas(settings, runs_dir)
    for repeat in range(settings["replica_repeats"]):
        for config in configs:
            if any(r["config"] == config and r["repeat"] == repeat for r in done):
                continue
            argv = [sys.executable, "-m", "benchmarks.tuning", "--replica-worker", config,
                    *[f"--{k.replace('_', '-')}={settings[k]}" for k in REPLICA_KEYS]]
            log(f"replicas: {config}, repeat {repeat}")
            proc = subprocess.run(argv, cwd=ROOT, env=subprocess_env(), capture_output=True,
                                  text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLICA_MARK)]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"The replica worker {config} failed (exit "
                                   f"{proc.returncode}): {proc.stderr[-2000:]}")
            record = {**json.loads(lines[-1][len(REPLICA_MARK):]), "repeat": repeat,
                      "settings": wanted}
            append_json_line(cache, record)
            done.append(record)
    return done


def replica_summary(records):
    """Median steps/s per configuration and the 2-replica ratios."""
    by = {}
    for r in records:
        by.setdefault(r["config"], []).append(r)
    rows = {c: {"runs": len(rs), "replicas": rs[0]["replicas"],
                "steps_per_second": [round(r["steps_per_second"], 3) for r in rs],
                "median_steps_per_second": statistics.median(r["steps_per_second"] for r in rs),
                "median_cpu_seconds_per_step": statistics.median(r["cpu_seconds_per_step"]
                                                                 for r in rs)}
            for c, rs in by.items()}

    def ratio(a, b):
        if a in rows and b in rows:
            return rows[a]["median_steps_per_second"] / rows[b]["median_steps_per_second"]
        return None

    def paired(a, b):
        """Median over repeats of a/b within the same repeat (measured back to back)."""
        runs = {(r["config"], r["repeat"]): r["steps_per_second"] for r in records}
        ratios = [runs[(a, k)] / runs[(b, k)] for (c, k) in runs if c == a and (b, k) in runs]
        return statistics.median(ratios) if ratios else None

    def cpu_ratio(a, b):
        if a in rows and b in rows:
            return (rows[a]["median_cpu_seconds_per_step"]
                    / rows[b]["median_cpu_seconds_per_step"])
        return None

    return {"configs": rows, "ratio_mirrored2_over_default": ratio("mirrored2", "default"),
            "ratio_mirrored2_over_mirrored1": ratio("mirrored2", "mirrored1"),
            "ratio_mirrored1_over_default": ratio("mirrored1", "default"),
            "paired_ratio_mirrored2_over_default": paired("mirrored2", "default"),
            "paired_ratio_mirrored2_over_mirrored1": paired("mirrored2", "mirrored1"),
            "cpu_per_step_ratio_mirrored2_over_default": cpu_ratio("mirrored2", "default")}
